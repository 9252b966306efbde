"""Readers: correct dosages on good files, and a DataError that names file, place and fix on bad ones."""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bed_reader import to_bed
from cyvcf2 import VCF, Writer
from helpers import require_tool

from genofed.common.data.cohort import MISSING
from genofed.common.data.readers import (
    read_genotype_table,
    read_genotypes,
    read_phenotypes,
    read_plink,
    read_vcf,
)
from genofed.common.errors import DataError

GOOD_ROWS = [
    "1\t100\trs1\tA\tG\t.\tPASS\t.\tGT\t0/0\t0|1\t1/1",
    "chr1\t200\t.\tC\tT\t.\t.\t.\tGT:DP\t./.:3\t.:0\t1|0:9",
    "1\t300\t.\tG\tA,C\t.\t.\t.\tGT\t0/1\t1/2\t2/2",
    "1\t400\t.\tT\tA\t.\t.\t.\tGT\t./1\t1/1\t0|0",
]


def error(call, *args, **kwargs) -> DataError:
    with pytest.raises(DataError) as info:
        call(*args, **kwargs)
    assert info.value.hint, "every DataError tells the user what to do"
    return info.value


# --- VCF --------------------------------------------------------------------------------------


def test_vcf_dosages_phased_unphased_missing_and_split(write_vcf):
    m = read_vcf(write_vcf(GOOD_ROWS))
    assert m.sample_ids == ["S1", "S2", "S3"]
    assert m.variant_ids == ["1:100:A:G", "1:200:C:T", "1:300:G:A", "1:300:G:C", "1:400:T:A"]
    expected = np.array([[0, 1, 2], [MISSING, MISSING, 1], [1, 1, 0], [0, 1, 2], [MISSING, 2, 0]]).T
    assert m.dosages.dtype == np.int8
    np.testing.assert_array_equal(m.dosages, expected)
    assert any("1 multi-allelic" in note for note in m.notes)


def _bgzip(source: Path, target: Path) -> Path:
    reader = VCF(str(source))
    writer = Writer(str(target), reader, mode="wz")
    for record in reader:
        writer.write_record(record)
    writer.close()
    return target


def test_vcf_bgzipped_and_plain_gzip_read_the_same(write_vcf, tmp_path):
    plain = write_vcf([GOOD_ROWS[0], GOOD_ROWS[2], GOOD_ROWS[3]])
    bgzipped = _bgzip(plain, tmp_path / "g.bgz.vcf.gz")
    assert bgzipped.read_bytes()[12:14] == b"BC"
    gzipped = tmp_path / "g.gz.vcf.gz"
    gzipped.write_bytes(gzip.compress(plain.read_bytes()))
    for path in (bgzipped, gzipped):
        np.testing.assert_array_equal(read_vcf(path).dosages, read_vcf(plain).dosages)


def test_vcf_multiallelic_refuse_names_line_and_bcftools(write_vcf):
    e = error(read_vcf, write_vcf(GOOD_ROWS), multiallelic="refuse")
    assert e.location.startswith("line 7 (variant 1:300:G:A,C)")
    assert "bcftools norm -m -any" in e.hint


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        ("0/x", "'0/x' is not a valid call"),
        ("A/B", "'A/B' is not a valid call"),
        ("0/3", "'0/3' refers to allele 3"),
        ("1", "haploid genotype '1'"),
        ("0/1/1", "more than two alleles"),
    ],
)
def test_vcf_bad_genotype_names_line_variant_and_sample(write_vcf, call, problem):
    rows = ["1\t100\t.\tA\tG\t.\t.\t.\tGT\t0/0\t0/1\t1/1", f"1\t57\t.\tA\tG\t.\t.\t.\tGT\t0/0\t{call}\t1/1"]
    e = error(read_vcf, write_vcf(rows))
    assert e.file.endswith("g.vcf")
    assert e.location == "line 6 (variant 1:57:A:G), sample S2"
    assert problem in e.problem


def test_vcf_haploid_missing_is_missing(write_vcf):
    m = read_vcf(write_vcf(["1\t100\t.\tA\tG\t.\t.\t.\tGT\t.\t.\t."]))
    assert (m.dosages == MISSING).all()


def test_vcf_truncated_bgzip_and_gzip(chr1_vcf, tmp_path):
    data = chr1_vcf.read_bytes()
    cut = tmp_path / "cut.vcf.gz"
    cut.write_bytes(data[: len(data) // 2])
    assert "truncated" in error(read_vcf, cut).problem
    bgz_bytes = _bgzip(chr1_vcf, tmp_path / "bgz.vcf.gz").read_bytes()
    cut.write_bytes(bgz_bytes[: len(bgz_bytes) // 2])
    assert "truncated" in error(read_vcf, cut).problem


def test_vcf_cut_mid_line(write_vcf):
    path = write_vcf(GOOD_ROWS)
    path.write_text(path.read_text()[:-6])
    e = error(read_vcf, path)
    assert e.location.startswith("line 8") and "columns" in e.problem


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "empty"),
        ("hello,world\n1,2\n", "not a VCF"),
        (
            "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n1\t1\t.\tA\tG\t.\t.\t.\n",
            "no samples",
        ),
    ],
)
def test_vcf_not_a_vcf(tmp_path, content, problem):
    path = tmp_path / "x.vcf"
    path.write_text(content)
    assert problem in error(read_vcf, path).problem


def test_vcf_missing_file(tmp_path):
    assert "not found" in error(read_vcf, tmp_path / "nope.vcf").problem


def test_vcf_duplicated_samples_and_no_gt(write_vcf):
    e = error(read_vcf, write_vcf(["1\t1\t.\tA\tG\t.\t.\t.\tGT\t0/0\t0/1"], samples=["P1", "P1"]))
    assert "'P1' appears twice" in e.problem and e.location == "line 4"
    rows = ["1\t1\t.\tA\tG\t.\t.\t.\tDP\t3\t4"]
    e = error(read_vcf, write_vcf(rows))
    assert "no GT" in e.problem and e.location == "line 5 (variant 1:1:A:G)"


def test_vcf_real_1000g_counts_and_order(chr1_vcf):
    m = read_vcf(chr1_vcf)
    assert (m.n_samples, m.n_variants) == (2504, 162)
    assert m.sample_ids == list(VCF(str(chr1_vcf)).samples)
    assert m.sample_ids[:3] == ["HG00096", "HG00097", "HG00099"]


def test_vcf_matches_bcftools(chr1_vcf):
    bcftools = require_tool("bcftools")
    out = subprocess.run(
        [bcftools, "query", "-f", "[%GT\t]\n", str(chr1_vcf)], check=True, capture_output=True, text=True
    ).stdout
    rows = [line.rstrip("\t").split("\t") for line in out.splitlines()]
    oracle = np.array([[_dosage(gt) for gt in row] for row in rows], dtype=np.int8).T
    np.testing.assert_array_equal(read_vcf(chr1_vcf).dosages, oracle)


def _dosage(gt: str) -> int:
    alleles = gt.replace("|", "/").split("/")
    return MISSING if "." in alleles else sum(a != "0" for a in alleles)


# --- PLINK ------------------------------------------------------------------------------------


def _plink(tmp_path: Path) -> Path:
    values = np.array([[0, 1, 2, np.nan], [2, 1, 0, 0], [1, 1, 1, 2]], dtype=np.float32)
    properties = {
        "iid": ["a", "b", "c"],
        "sid": ["v1", "v2", "v3", "v4"],
        "chromosome": ["1", "1", "2", "2"],
        "bp_position": [10, 20, 30, 40],
        "allele_1": ["G", "T", "C", "A"],
        "allele_2": ["A", "C", "G", "T"],
    }
    to_bed(tmp_path / "p.bed", values, properties=properties, count_A1=True)
    return tmp_path / "p"


@pytest.mark.parametrize("suffix", ["", ".bed", ".bim", ".fam"])
def test_plink_round_trip_counts_a1_as_alt(tmp_path, suffix):
    prefix = _plink(tmp_path)
    m = read_plink(str(prefix) + suffix)
    assert m.sample_ids == ["a", "b", "c"]
    assert m.variant_ids == ["1:10:A:G", "1:20:C:T", "2:30:G:C", "2:40:T:A"]
    np.testing.assert_array_equal(m.dosages, [[0, 1, 2, MISSING], [2, 1, 0, 0], [1, 1, 1, 2]])


def test_plink_errors(tmp_path):
    prefix = _plink(tmp_path)
    bed = prefix.with_suffix(".bed")
    good = bed.read_bytes()
    bed.write_bytes(good[:-1])
    e = error(read_plink, prefix)
    assert "4 variants (.bim) x 3 samples (.fam) need 7" in e.problem
    bed.write_bytes(b"abc" + good[3:])
    assert "magic" in error(read_plink, prefix).problem
    bed.write_bytes(good)
    prefix.with_suffix(".bim").write_text("1 v1 0 10 G A\n1 v2 0 20 T\n")
    e = error(read_plink, prefix)
    assert e.file.endswith("p.bim") and e.location == "line 2"
    prefix.with_suffix(".fam").unlink()
    assert error(read_plink, prefix).file.endswith("p.fam")


def test_plink2_conversion_matches_vcf(chr1_vcf, tmp_path):
    plink2 = require_tool("plink2")
    out = tmp_path / "chr1"
    subprocess.run(
        [
            plink2,
            "--vcf",
            str(chr1_vcf),
            "--make-bed",
            "--out",
            str(out),
            "--set-all-var-ids",
            "@:#:$r:$a",
            "--new-id-max-allele-len",
            "1000",
        ],
        check=True,
        capture_output=True,
    )
    from_vcf, from_plink = read_vcf(chr1_vcf), read_plink(out)
    assert from_plink.sample_ids == from_vcf.sample_ids
    assert from_plink.variant_ids == from_vcf.variant_ids
    np.testing.assert_array_equal(from_plink.dosages, from_vcf.dosages)


# --- tables -----------------------------------------------------------------------------------


def test_csv_tsv_gz_and_parquet(tmp_path):
    text = "sample_id,1:100:A:G,chr2:5:c:t\nP1,0,2\nP2,,1\nP3,NA,.\n"
    csv = tmp_path / "g.csv"
    csv.write_text(text)
    tsv = tmp_path / "g.tsv.gz"
    tsv.write_bytes(gzip.compress(text.replace(",", "\t").encode()))
    parquet = tmp_path / "g.parquet"
    pd.DataFrame(
        {
            "sample_id": ["P1", "P2", "P3"],
            "1:100:A:G": pd.array([0, None, None], dtype="Int8"),
            "chr2:5:c:t": [2.0, 1.0, np.nan],
        }
    ).to_parquet(parquet)
    for path in (csv, tsv, parquet):
        m = read_genotypes(path)
        assert m.sample_ids == ["P1", "P2", "P3"]
        assert m.variant_ids == ["1:100:A:G", "2:5:C:T"]
        np.testing.assert_array_equal(m.dosages, [[0, 2], [MISSING, 1], [MISSING, MISSING]])


@pytest.mark.parametrize(
    ("text", "location", "problem"),
    [
        ("sample_id,1:100:A:G\nP1,0\n\nP2,3\n", "line 4, sample P2", "value '3' in column 1:100:A:G"),
        ("sample_id,1:100:A:G\nP1,0\nP2,x\n", "line 3, sample P2", "value 'x' in column 1:100:A:G"),
        ("sample_id,rs123\nP1,0\n", "line 1", "column 'rs123' is not a variant id"),
        ("id,1:100:A:G\nP1,0\n", "line 1", "no 'sample_id' column"),
        ("sample_id,1:100:A:G,1:200:A:G\nP1,0,1\nP2,1\n", "line 3", "2 fields but the header has 3"),
    ],
)
def test_table_errors(tmp_path, text, location, problem):
    path = tmp_path / "g.csv"
    path.write_text(text)
    e = error(read_genotype_table, path)
    assert e.location == location and problem in e.problem


def test_parquet_bad_value(tmp_path):
    path = tmp_path / "g.parquet"
    pd.DataFrame({"sample_id": ["P1", "P2"], "1:1:A:G": [0, 5]}).to_parquet(path)
    e = error(read_genotype_table, path)
    assert e.location == "row 2, sample P2" and "'5'" in e.problem


def test_dispatch_unknown_suffix(tmp_path):
    path = tmp_path / "g.xlsx"
    path.write_text("x")
    assert "VCF" in error(read_genotypes, path).hint


# --- phenotypes -------------------------------------------------------------------------------


def test_phenotypes_codings(tmp_path):
    path = tmp_path / "ph.csv"
    path.write_text(
        "sample_id,label,sex,age,pc1\nA,case,F,30,0.1\nB,0,male,,-0.2\nC,Control,1,41,NA\nD,1,,50,1e-3\n"
    )
    ph = read_phenotypes(path)
    assert ph.sample_ids == ["A", "B", "C", "D"]
    np.testing.assert_array_equal(ph.labels, [1, 0, 0, 1])
    assert ph.labels.dtype == np.int8
    np.testing.assert_array_equal(ph.covariates["sex"], [1, 0, 1, np.nan])
    np.testing.assert_array_equal(ph.covariates["age"], [30, np.nan, 41, 50])
    assert list(ph.covariates.index) == ["A", "B", "C", "D"]


@pytest.mark.parametrize(
    ("text", "location", "problem"),
    [
        ("sample_id,label\nA,1\nB,2\n", "line 3", "PLINK coding"),
        ("sample_id,label\nA,1\nB,yes\n", "line 3, sample B", "'yes' in column label is not binary"),
        ("sample_id,label\nA,1\nB,\n", "line 3, sample B", "label is missing"),
        ("sample_id,label\nA,1\n\nA,0\n", "line 4", "appears twice (lines 2 and 4)"),
        (
            "sample_id,status\nA,1\n",
            "line 1",
            "no 'label' column; columns that look like a binary label: 'status'",
        ),
        ("sample_id,age\nA,41\n", "line 1", "no column that looks like a binary label"),
        ("sample_id,label,sex\nA,1,X\n", "line 2, sample A, column sex", "sex 'X' is not recognised"),
        ("sample_id,label,age\nA,1,old\n", "line 2, sample A, column age", "'old' in covariate column age"),
    ],
)
def test_phenotype_errors(tmp_path, text, location, problem):
    path = tmp_path / "ph.csv"
    path.write_text(text)
    e = error(read_phenotypes, path)
    assert e.file.endswith("ph.csv") and e.location == location and problem in e.problem


def test_phenotypes_missing_file(tmp_path):
    assert "not found" in error(read_phenotypes, tmp_path / "ph.csv").problem


def test_read_vcf_keeps_ordered_alleles_and_counts_unphased_heterozygotes(write_vcf):
    """Haplotype-aware synthetic data needs the two alleles in order; a '/' heterozygote has none."""
    from genofed.common.data.readers.vcf import read_vcf

    path = write_vcf(
        ["1\t100\t.\tA\tG\t.\t.\t.\tGT\t0|1\t1|0\t1/1", "1\t200\t.\tC\tT\t.\t.\t.\tGT\t1|1\t0/1\t./."]
    )
    matrix = read_vcf(path, haplotypes=True)
    assert matrix.haplotypes.shape == (3, 2, 2)
    assert matrix.haplotypes[0].tolist() == [[0, 1], [1, 1]] and matrix.haplotypes[1, 0].tolist() == [1, 0]
    assert matrix.haplotypes[2, 1].tolist() == [-1, -1]
    assert matrix.unphased_heterozygous == 1  # s2's 0/1; 1/1 has no phase to lose
    called = matrix.dosages >= 0
    assert (matrix.haplotypes.sum(2)[called] == matrix.dosages[called]).all()
    assert read_vcf(path).haplotypes is None


@pytest.mark.parametrize("chunk", [None, 2])
def test_read_vcf_marks_which_calls_are_unphased(write_vcf, monkeypatch, chunk):
    """`unphased`: True exactly where a call's GT is written unphased ('/'; a missing call holds no
    phase), in the reader's sample and variant order; a split multi-allelic record's two variants
    share its flags. `chunk` 2: the mask is assembled across the reader's chunks in order."""
    from genofed.common.data.readers import vcf

    if chunk is not None:
        monkeypatch.setattr(vcf, "CHUNK", chunk)
    path = write_vcf(
        [
            "1\t100\t.\tA\tG\t.\t.\t.\tGT\t0|1\t0/1\t1/1",  # phased het, unphased het, unphased hom
            "1\t200\t.\tC\tT\t.\t.\t.\tGT\t./.\t1|1\t0|0",  # missing, phased homs
            "1\t300\t.\tG\tA,C\t.\t.\t.\tGT\t1|2\t0/2\t1/1",  # split into 1:300:G:A and 1:300:G:C
        ]
    )
    matrix = vcf.read_vcf(path, haplotypes=True)
    assert matrix.sample_ids == ["S1", "S2", "S3"]
    assert matrix.variant_ids == ["1:100:A:G", "1:200:C:T", "1:300:G:A", "1:300:G:C"]
    expected = np.array(
        [
            [False, True, False, False],  # S1: 0|1, ./., 1|2
            [True, False, True, True],  # S2: 0/1, 1|1, 0/2
            [True, False, True, True],  # S3: 1/1, 0|0, 1/1
        ]
    )
    assert matrix.unphased.dtype == bool
    np.testing.assert_array_equal(matrix.unphased, expected)
    # the count it keeps is of the unphased calls that are heterozygous: S2's 0/1, and 0/2 at G:C
    assert matrix.unphased_heterozygous == int(((matrix.dosages == 1) & matrix.unphased).sum()) == 2
    # the record each variant came from: the split record's two variants share one
    assert matrix.variant_records[2] == matrix.variant_records[3] != matrix.variant_records[1]
    assert len(set(matrix.variant_records[:3].tolist())) == 3
    assert vcf.read_vcf(path).unphased is None
