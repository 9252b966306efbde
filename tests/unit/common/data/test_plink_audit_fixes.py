"""PLINK reader and variant ids: the defects an outside audit found (haploid X/Y/MT, PLINK's numeric
chromosome codes, monomorphic sites, non-base alleles, unplaced SNPs, ':' in contig names, PLINK 2
filesets and FIFOs given as genotypes)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from bed_reader import to_bed
from helpers import require_tool

from genofed.common.data.cohort import MISSING
from genofed.common.data.readers import read_genotypes, read_plink, read_vcf
from genofed.common.data.variants import make_variant_id, normalize_chrom, parse_variant_id
from genofed.common.errors import DataError


def error(call, *args, **kwargs) -> DataError:
    with pytest.raises(DataError) as info:
        call(*args, **kwargs)
    assert info.value.hint, "every DataError tells the user what to do"
    return info.value


def _plink(
    tmp_path: Path,
    values: list[list[float]],
    chromosomes: list[str],
    a1: list[str],
    a2: list[str],
    *,
    positions: list[int] | None = None,
    sex: list[int] | None = None,
    name: str = "p",
) -> Path:
    """A fileset of len(values) samples x len(chromosomes) variants; values count A1 (nan = missing)."""
    n_samples, n_variants = len(values), len(chromosomes)
    properties = {
        "iid": [f"s{i}" for i in range(n_samples)],
        "sid": [f"v{j}" for j in range(n_variants)],
        "chromosome": chromosomes,
        "bp_position": positions or [10 * (j + 1) for j in range(n_variants)],
        "allele_1": a1,
        "allele_2": a2,
        "sex": sex or [2] * n_samples,
    }
    to_bed(tmp_path / f"{name}.bed", np.array(values, dtype=np.float32), properties=properties, count_A1=True)
    return tmp_path / name


# --- 1. haploid calls -------------------------------------------------------------------------


@pytest.mark.parametrize(("sex", "what"), [(1, "male"), (0, "unknown sex")])
def test_chrx_refused_when_a_sample_is_male_or_of_unknown_sex(tmp_path, sex, what):
    prefix = _plink(tmp_path, [[0, 2], [1, 2], [2, 0]], ["1", "X"], ["G", "T"], ["A", "C"], sex=[2, sex, 1])
    e = error(read_plink, prefix)
    assert e.file.endswith("p.bim") and e.location == "line 2, variant v1"
    assert "sample s1" in e.problem and what in e.problem and "2 copies" in e.problem
    assert "--chr 1-22 --make-bed" in e.hint and "--chr 1-22,X" in e.hint


@pytest.mark.parametrize("chrom", ["Y", "24", "MT", "26", "chrM"])
def test_y_and_mt_refused_even_in_females(tmp_path, chrom):
    prefix = _plink(tmp_path, [[0, 2], [1, 0]], ["1", chrom], ["G", "T"], ["A", "C"], sex=[2, 2])
    e = error(read_plink, prefix)
    assert e.location == "line 2, variant v1" and "haploid in every sample" in e.problem
    assert "--chr 1-22" in e.hint


def test_a_haploid_variant_without_an_id_is_named_by_its_position(tmp_path):
    """An array export's .bim often has '.' for ids: the refusal said "variant .: variant . is on
    chromosome X" (an array-scale walkthrough)."""
    prefix = _plink(tmp_path, [[0, 2], [1, 0]], ["1", "X"], ["G", "T"], ["A", "C"], sex=[2, 1])
    bim = prefix.with_suffix(".bim")
    bim.write_text(bim.read_text().replace("\tv1\t", "\t.\t"))
    e = error(read_plink, prefix)
    assert e.location == "line 2, variant X:20" and "variant X:20 is on chromosome X" in e.problem


def test_female_x_and_pseudoautosomal_xy_are_read_with_vcf_names(tmp_path):
    prefix = _plink(tmp_path, [[0, 1, 2], [2, 1, 0]], ["23", "23", "25"], ["G", "T", "C"], ["A", "C", "G"])
    m = read_plink(prefix)
    assert m.variant_ids == ["X:10:A:G", "X:20:C:T", "XY:30:G:C"]
    np.testing.assert_array_equal(m.dosages, [[0, 1, 2], [2, 1, 0]])


def test_plink2_male_chrx_from_vcf_is_refused_like_the_vcf(write_vcf, tmp_path):
    plink2 = require_tool("plink2")
    vcf = write_vcf(["1\t100\t.\tA\tG\t.\t.\t.\tGT\t0/1\t1/1", "X\t5000000\t.\tC\tT\t.\t.\t.\tGT\t1\t0/1"])
    assert "haploid" in error(read_vcf, vcf).problem
    (tmp_path / "sex.txt").write_text("#IID\tSEX\nS1\tM\nS2\tF\n")
    out = tmp_path / "x"
    subprocess.run(
        [
            plink2,
            "--vcf",
            str(vcf),
            "--update-sex",
            str(tmp_path / "sex.txt"),
            "--make-bed",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    e = error(read_plink, out)
    assert "chromosome X" in e.problem and "male" in e.problem


# --- 2. chromosome names ----------------------------------------------------------------------


def test_normalize_chrom_maps_plink_codes_and_m_and_keeps_other_names():
    mapped = {"23": "X", "24": "Y", "25": "XY", "26": "MT", "M": "MT", "chrM": "MT", "chr23": "X", "m": "MT"}
    assert {given: normalize_chrom(given) for given in mapped} == mapped
    assert parse_variant_id("23:5:A:G").id == "X:5:A:G"
    kept = {"chr1": "1", "1": "1", "X": "X", "chrX": "X", "22": "22", "GL000192.1": "GL000192.1"}
    assert {given: normalize_chrom(given) for given in kept} == kept


# --- 3. monomorphic sites ---------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["0", "."])
def test_monomorphic_site_is_ref_only_with_dosage_zero(tmp_path, missing):
    # v0: A1 missing (PLINK 1.9 / plink2 layout), all hom A2; v1: A2 missing, all hom A1; v2 normal
    values = [[0, 2, 1], [np.nan, 2, 0], [0, np.nan, 2]]
    prefix = _plink(tmp_path, values, ["1", "1", "1"], [missing, "G", "T"], ["A", missing, "C"])
    m = read_plink(prefix)
    assert m.variant_ids == ["1:10:A:.", "1:20:G:.", "1:30:C:T"]
    np.testing.assert_array_equal(m.dosages, [[0, 0, 1], [MISSING, 0, 0], [0, MISSING, 2]])


def test_site_with_both_alleles_missing_is_skipped_with_a_note(tmp_path):
    prefix = _plink(tmp_path, [[0, 1], [0, 2]], ["1", "1"], ["0", "G"], [".", "A"])
    m = read_plink(prefix)
    assert m.variant_ids == ["1:20:A:G"]
    np.testing.assert_array_equal(m.dosages, [[1], [2]])
    assert any("both alleles missing" in note for note in m.notes)


def test_call_carrying_the_missing_allele_is_refused(tmp_path):
    prefix = _plink(tmp_path, [[0], [1]], ["1"], ["0"], ["A"])
    e = error(read_plink, prefix)
    assert e.location == "line 1, variant v0" and "sample s1 carries it" in e.problem


def test_plink2_monomorphic_site_from_vcf_and_its_plink19_spelling(write_vcf, tmp_path):
    """plink2 writes the missing allele as '.', PLINK 1.9 (emulated by editing the .bim) as '0'."""
    plink2 = require_tool("plink2")
    vcf = write_vcf(["1\t100\t.\tA\t.\t.\t.\t.\tGT\t0/0\t./.", "1\t200\t.\tC\tT\t.\t.\t.\tGT\t0/1\t1/1"])
    out = tmp_path / "mono"
    subprocess.run(
        [plink2, "--vcf", str(vcf), "--make-bed", "--out", str(out)], check=True, capture_output=True
    )
    bim = out.with_suffix(".bim")
    assert bim.read_text().split("\n")[0].split("\t")[4] == "."
    for spelling in (".", "0"):
        rows = [line.split("\t") for line in bim.read_text().splitlines()]
        rows[0][4] = spelling
        bim.write_text("".join("\t".join(row) + "\n" for row in rows))
        m = read_plink(out)
        assert m.variant_ids == ["1:100:A:.", "1:200:C:T"]
        np.testing.assert_array_equal(m.dosages, [[0, 1], [MISSING, 2]])


# --- 4. alleles that are not bases ------------------------------------------------------------


def test_alleles_coded_1_2_are_refused_and_indels_accepted(tmp_path):
    good = _plink(tmp_path, [[0, 1]], ["1", "1"], ["AT", "G"], ["A", "GCC"], name="indel")
    assert read_plink(good).variant_ids == ["1:10:A:AT", "1:20:GCC:G"]
    prefix = _plink(tmp_path, [[0, 1]], ["1", "1"], ["G", "1"], ["A", "2"])
    e = error(read_plink, prefix)
    assert e.location == "line 2, variant v1" and "'1'" in e.problem and "A/C/G/T" in e.hint


# --- 5. unplaced variants ---------------------------------------------------------------------


def test_unplaced_variants_are_skipped_with_a_note_not_called_duplicates(tmp_path):
    prefix = _plink(
        tmp_path,
        [[0, 1, 2], [1, 1, 0]],
        ["1", "0", "0"],
        ["G", "A", "A"],
        ["A", "G", "G"],
        positions=[10, 0, 0],
    )
    m = read_plink(prefix)
    assert m.variant_ids == ["1:10:A:G"]
    np.testing.assert_array_equal(m.dosages, [[0], [1]])
    assert any("2 unplaced variant(s)" in note and "--not-chr 0" in note for note in m.notes)


def test_only_unplaced_variants_is_refused(tmp_path):
    prefix = _plink(tmp_path, [[0, 1]], ["0", "0"], ["G", "A"], ["A", "G"], positions=[0, 0])
    e = error(read_plink, prefix)
    assert "no variant left" in e.problem and "appears twice" not in e.problem


# --- 6. ':' in a chromosome name --------------------------------------------------------------


def test_make_variant_id_refuses_a_colon_in_the_chromosome():
    with pytest.raises(ValueError, match="HLA-A\\*01:01:01:01"):
        make_variant_id("HLA-A*01:01:01:01", 5, "A", "G")
    assert make_variant_id("chr1", 5, "a", "g") == "1:5:A:G"


def test_plink_skips_variants_on_a_contig_with_a_colon(tmp_path):
    prefix = _plink(tmp_path, [[0, 1], [2, 1]], ["1", "HLA-A*01:01:01:01"], ["G", "T"], ["A", "C"])
    m = read_plink(prefix)
    assert m.variant_ids == ["1:10:A:G"]
    np.testing.assert_array_equal(m.dosages, [[0], [2]])
    assert any("HLA-A*01:01:01:01" in note for note in m.notes)


# --- 7. PLINK 2 filesets and FIFOs ------------------------------------------------------------


@pytest.mark.parametrize("given", ["g.pgen", "g.pvar", "g.psam", "g"])
def test_plink2_fileset_gets_the_conversion_hint(tmp_path, given):
    for suffix in (".pgen", ".pvar", ".psam"):
        (tmp_path / f"g{suffix}").write_text("x")
    e = error(read_genotypes, tmp_path / given)
    assert "PLINK 2" in e.problem and f"plink2 --pfile {tmp_path / 'g'} --make-bed" in e.hint


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_fifo_is_not_called_a_directory(tmp_path):
    fifo = tmp_path / "calls.vcf"
    os.mkfifo(fifo)
    e = error(read_genotypes, fifo)
    assert "not a regular file" in e.problem and "directory" not in e.problem
