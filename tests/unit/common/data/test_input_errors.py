"""Damaged and unusual input files: each gets a clear DataError (file, place, what to do) or is read
correctly.

One test per class of problem a fuzzing of the readers found; `test_fuzz_inputs.py` keeps hunting
for more. Files are built in each test, so every case shows the bytes it is about.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import bgzip

from genofed.common.data.checks import check_cohort, join_cohort
from genofed.common.data.cohort import Phenotypes
from genofed.common.data.loading import load_site
from genofed.common.data.readers import (
    read_genotype_table,
    read_genotypes,
    read_phenotypes,
    read_plink,
    read_vcf,
)
from genofed.common.errors import DataError

N = 24  # above the default minimum of 20 samples, so load_site reaches every check
SAMPLES = [f"P{i:02d}" for i in range(N)]
BOM = b"\xef\xbb\xbf"


def _calls(row: int) -> list[str]:
    return [("0/0", "0/1", "1|1", "1/0")[(row + i) % 4] for i in range(N)]


def vcf_text(rows: int = 6, samples: list[str] = SAMPLES) -> str:
    header = (
        "##fileformat=VCFv4.2\n##contig=<ID=1>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n"
    )
    return header + "".join(
        f"1\t{100 * (r + 1)}\t.\tA\tG\t.\t.\t.\tGT\t" + "\t".join(_calls(r)) + "\n" for r in range(rows)
    )


def table_text(columns: int = 4) -> str:
    header = "sample_id," + ",".join(f"1:{100 * (c + 1)}:A:G" for c in range(columns)) + "\n"
    return header + "".join(
        f"{s}," + ",".join(str((i + c) % 3) for c in range(columns)) + "\n" for i, s in enumerate(SAMPLES)
    )


def phenotype_text() -> str:
    return "sample_id,label,sex,age,pc1\n" + "".join(
        f"{s},{i % 2},{'MF'[i % 2]},{20 + i},{i / 100:.2f}\n" for i, s in enumerate(SAMPLES)
    )


def write(path: Path, data: str | bytes) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def error(call, *args, **kwargs) -> DataError:
    with pytest.raises(DataError) as info:
        call(*args, **kwargs)
    assert info.value.hint, "every DataError says what to do"
    return info.value


def flip(data: bytes, at: int) -> bytes:
    damaged = bytearray(data)
    damaged[at] ^= 0x5A
    return bytes(damaged)


# --- compression ------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [lambda d: gzip.compress(d, mtime=0), bgzip], ids=["gzip", "bgzip"])
def test_corrupt_compressed_vcf_is_a_data_error(tmp_path, compress):
    """Every damaged spot gives a DataError, never a zlib traceback, or (a block header's time stamp
    or OS byte, which no reader uses) reads exactly as the undamaged file."""
    data = compress(vcf_text(rows=40).encode())
    intact = read_vcf(write(tmp_path / "intact.vcf.gz", data))
    errors, spots = 0, range(40, len(data) - 40, 37)
    for at in spots:
        path = write(tmp_path / "g.vcf.gz", flip(data, at))
        try:
            np.testing.assert_array_equal(read_vcf(path).dosages, intact.dosages)
        except DataError as e:
            assert e.file == str(path) and e.hint
            errors += 1
    assert errors >= len(spots) // 2


def test_corrupt_gzip_table_is_a_data_error_not_a_zlib_traceback(tmp_path):
    data = gzip.compress(table_text(columns=40).encode(), mtime=0)
    problems = set()
    for at in range(30, len(data) - 10, 41):
        problems.add(
            error(read_genotype_table, write(tmp_path / "g.csv.gz", flip(data, at))).problem.split(" (")[0]
        )
    assert problems <= {"the gzip-compressed file is corrupt", "the gzip-compressed file is truncated"}


@pytest.mark.parametrize("cut", [-1, -4, -8, -9, 0.5, 0.9])
def test_truncated_plain_gzip_vcf_says_truncated(tmp_path, cut):
    data = gzip.compress(vcf_text(rows=30).encode(), mtime=0)
    end = cut if isinstance(cut, int) else int(len(data) * cut)
    e = error(read_vcf, write(tmp_path / "g.vcf.gz", data[:end]))
    assert "truncated" in e.problem and "gzip -t" in e.hint


def test_bgzip_cut_at_a_block_boundary_or_with_a_damaged_block_header(tmp_path):
    data = bgzip(vcf_text(rows=30).encode(), block=200)
    assert "truncated" in error(read_vcf, write(tmp_path / "g.vcf.gz", data[:-28])).problem
    damaged = bytearray(data)
    damaged[16] ^= 0x01  # the first block's size field: Python's gzip would not notice, htslib would misread
    e = error(read_vcf, write(tmp_path / "g.vcf.gz", bytes(damaged)))
    assert "bgzip file is corrupt" in e.problem and "is damaged" in e.problem


@pytest.mark.parametrize("name", ["g.vcf.gz", "g.vcf.bgz"])
def test_plain_vcf_named_gz_is_read_by_content(tmp_path, name):
    plain = read_vcf(write(tmp_path / "g.vcf", vcf_text()))
    named = read_vcf(write(tmp_path / name, vcf_text()))
    assert named.sample_ids == plain.sample_ids and named.variant_ids == plain.variant_ids
    np.testing.assert_array_equal(named.dosages, plain.dosages)


def test_plain_table_named_gz_is_read_by_content(tmp_path):
    plain = read_genotype_table(write(tmp_path / "g.csv", table_text()))
    named = read_genotype_table(write(tmp_path / "g.csv.gz", table_text()))
    np.testing.assert_array_equal(named.dosages, plain.dosages)


# --- encoding ---------------------------------------------------------------------------------


def test_non_utf8_in_a_table_names_the_line(tmp_path):
    text = table_text().replace("P03,", "P\xe903,").encode("latin-1")
    e = error(read_genotype_table, write(tmp_path / "g.csv", text))
    assert e.location == "line 5" and "0xE9" in e.problem and "not UTF-8" in e.problem and "iconv" in e.hint


def test_non_utf8_in_a_gzipped_table_header(tmp_path):
    data = gzip.compress(table_text().replace("1:100:A:G", "1:100:A:G\xff").encode("latin-1"))
    e = error(read_genotype_table, write(tmp_path / "g.tsv.gz", data.replace(b",", b"\t")))
    assert e.location == "line 1" and "not UTF-8" in e.problem


@pytest.mark.parametrize("column", [0, 3, 4, 7, 9])
def test_non_utf8_anywhere_in_a_vcf_line(tmp_path, column):
    lines = vcf_text().splitlines(keepends=True)
    fields = lines[5].split("\t")
    fields[column] += "\udcff"  # a lone 0xFF byte once encoded with surrogateescape
    lines[5] = "\t".join(fields)
    e = error(read_vcf, write(tmp_path / "g.vcf", "".join(lines).encode("utf-8", "surrogateescape")))
    assert e.location == "line 6" and "not UTF-8" in e.problem


def test_non_utf8_phenotypes_name_the_line(tmp_path):
    text = phenotype_text().replace("P05,", "Пациент,").encode("cp1251")
    e = error(read_phenotypes, write(tmp_path / "ph.csv", text))
    assert e.location == "line 7" and "CP1251" in e.hint


def test_control_characters_are_refused(tmp_path):
    e = error(read_genotype_table, write(tmp_path / "g.csv", table_text().replace("P02,2", "P02,\x002")))
    assert e.location == "line 4" and "0x00" in e.problem
    e = error(read_vcf, write(tmp_path / "g.vcf", vcf_text().replace("0/1\t", "0/1\r\t", 1)))
    assert "carriage return" in e.problem


@pytest.mark.parametrize("compress", [lambda d: d, gzip.compress, bgzip], ids=["plain", "gzip", "bgzip"])
def test_bom_at_the_start_of_a_vcf_is_read(tmp_path, compress):
    plain = read_vcf(write(tmp_path / "g.vcf", vcf_text()))
    with_bom = read_vcf(write(tmp_path / "b.vcf.gz", compress(BOM + vcf_text().encode())))
    assert with_bom.sample_ids == plain.sample_ids and with_bom.variant_ids == plain.variant_ids
    np.testing.assert_array_equal(with_bom.dosages, plain.dosages)


@pytest.mark.parametrize("name", ["g.csv", "g.csv.gz"])
def test_bom_at_the_start_of_a_table_is_read(tmp_path, name):
    plain = read_genotype_table(write(tmp_path / "plain.csv", table_text()))
    data = BOM + table_text().encode()
    with_bom = read_genotype_table(
        write(tmp_path / name, gzip.compress(data) if name.endswith(".gz") else data)
    )
    assert with_bom.sample_ids == plain.sample_ids
    np.testing.assert_array_equal(with_bom.dosages, plain.dosages)


def test_bom_in_a_plink_fam_is_dropped(tmp_path):
    from bed_reader import to_bed

    to_bed(
        tmp_path / "p.bed",
        np.array([[0, 1], [2, 0]], dtype=np.float32),
        properties={
            "iid": ["a", "b"],
            "sid": ["v1", "v2"],
            "chromosome": ["1", "1"],
            "bp_position": [1, 2],
            "allele_1": ["G", "T"],
            "allele_2": ["A", "C"],
        },
    )
    fam = tmp_path / "p.fam"
    fam.write_bytes(BOM + fam.read_bytes())
    assert read_plink(tmp_path / "p").sample_ids == ["a", "b"]


# --- VCF structure ----------------------------------------------------------------------------


def test_vcf_with_a_header_and_no_variants_is_refused(tmp_path):
    e = error(read_vcf, write(tmp_path / "g.vcf", vcf_text(rows=0)))
    assert "no variant records" in e.problem


def test_vcf_whose_only_sites_have_no_alt_is_refused(tmp_path):
    text = vcf_text(rows=2).replace("\tA\tG\t", "\tA\t.\t")
    assert "2 site(s) with no ALT allele" in error(read_vcf, write(tmp_path / "g.vcf", text)).problem


def test_extra_genotype_column_is_refused(tmp_path):
    lines = vcf_text().splitlines(keepends=True)
    lines[6] = lines[6].rstrip("\n") + "\t0/1\n"
    e = error(read_vcf, write(tmp_path / "g.vcf", "".join(lines)))
    assert e.location.startswith("line 7") and "34 tab-separated columns but the header has 33" in e.problem


def test_header_lines_inside_the_records_are_refused(tmp_path):
    """`cat a.vcf b.vcf`: htslib skips b's header and reads its records under a's sample names."""
    text = vcf_text(rows=2) + vcf_text(rows=2, samples=list(reversed(SAMPLES)))
    e = error(read_vcf, write(tmp_path / "g.vcf", text))
    assert e.location == "line 7" and "bcftools concat" in e.hint


def test_duplicated_record_is_refused(tmp_path):
    lines = vcf_text().splitlines(keepends=True)
    e = error(read_vcf, write(tmp_path / "g.vcf", "".join(lines[:6] + lines[5:])))
    assert "1:200:A:G appears twice (line 6 and line 7)" in e.problem and "bcftools norm -d" in e.hint


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("\t200\t", "\t99999999999\t", "POS '99999999999' is not a position"),
        ("\t200\t.\tA\t", "\t200\t.\t\t", "REF '' is not a sequence of bases"),
        ("\t200\t.\tA\tG\t", "\t200\t.\tA\t\t", "ALT '' is empty"),
    ],
)
def test_vcf_fixed_columns_htslib_would_misread(tmp_path, old, new, problem):
    e = error(read_vcf, write(tmp_path / "g.vcf", vcf_text().replace(old, new)))
    assert e.location.startswith("line 6") and problem in e.problem


@pytest.mark.parametrize("blank", ["\n", "\r\n", " \n"])
def test_empty_line_among_the_records_is_refused(tmp_path, blank):
    """htslib reads one empty line as a bogus record at POS 1 (and cyvcf2 crashed on its CHROM)."""
    lines = vcf_text(rows=2).splitlines(keepends=True)
    e = error(read_vcf, write(tmp_path / "g.vcf", "".join(lines[:5] + [blank] + lines[5:])))
    assert e.location == "line 6" and "empty line" in e.problem


def test_empty_sample_id_in_the_header(tmp_path):
    text = vcf_text().replace("\tP23\n", "\tP23\t\n")
    assert "empty sample id" in error(read_vcf, write(tmp_path / "g.vcf", text)).problem


# --- tables -----------------------------------------------------------------------------------


def test_table_quote_that_swallows_lines_is_refused(tmp_path):
    e = error(read_genotype_table, write(tmp_path / "g.csv", table_text().replace("P03,", '"P03,', 1)))
    assert e.location == "line 5" and "quoted value" in e.problem


def test_table_without_variant_columns_or_with_empty_or_repeated_ids(tmp_path):
    assert (
        "no variant columns"
        in error(read_genotype_table, write(tmp_path / "g.csv", "sample_id\nP1\n")).problem
    )
    e = error(read_genotype_table, write(tmp_path / "g.csv", table_text().replace("P04,", ",")))
    assert e.location == "line 6" and "empty sample_id" in e.problem
    e = error(read_genotype_table, write(tmp_path / "g.csv", table_text().replace("P04,", "P03,")))
    assert "P03 appears twice (line 5 and line 6)" in e.problem


# --- phenotypes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("age", "inf", "value 'inf' in covariate column age is not a finite number"),
        ("age", "1e400", "value '1e400' in covariate column age is not a finite number"),
        ("age", "-3", "age '-3' is outside 0-120 years"),
        ("age", "999", "age '999' is outside 0-120 years"),
        ("pc1", "-inf", "value '-inf' in covariate column pc1 is not a finite number"),
        ("pc1", "1e300", "value '1e300' in covariate column pc1 is beyond +/-1e+06"),
    ],
)
def test_non_finite_or_absurd_covariates_are_refused(tmp_path, column, value, problem):
    frame = pd.read_csv(pd.io.common.StringIO(phenotype_text()), dtype=str)
    frame.loc[3, column] = value
    path = tmp_path / "ph.csv"
    frame.to_csv(path, index=False)
    # pc1 is range-checked only for a model that reads it (genofed's own read sex and age alone)
    e = error(read_phenotypes, path, covariates=("sex", "age", "pc1"))
    assert e.location == f"line 5, sample P03, column {column}" and problem in e.problem


def test_covariates_at_the_range_edges_are_kept(tmp_path):
    text = phenotype_text().replace("P00,0,M,20,", "P00,0,M,0,").replace("P01,1,F,21,", "P01,1,F,120,")
    ages = read_phenotypes(write(tmp_path / "ph.csv", text)).covariates["age"]
    assert ages.iloc[0] == 0 and ages.iloc[1] == 120


def test_phenotype_row_with_a_field_missing_or_extra(tmp_path):
    e = error(
        read_phenotypes, write(tmp_path / "ph.csv", phenotype_text().replace("P04,0,M,24,0.04", "P04,0,M,24"))
    )
    assert e.location == "line 6, sample P04" and "4 fields but the header has 5" in e.problem
    e = error(
        read_phenotypes, write(tmp_path / "ph.csv", phenotype_text().replace("P04,0,M,24,", "P04,0,M,24,,"))
    )
    assert e.location == "line 6, sample P04" and "6 fields" in e.problem


def test_phenotype_header_with_a_nameless_or_repeated_column(tmp_path):
    text = phenotype_text().replace("age,pc1", "age,age")
    assert "'age' appears twice" in error(read_phenotypes, write(tmp_path / "ph.csv", text)).problem
    text = "".join(line + ",\n" for line in phenotype_text().splitlines())
    assert (
        "column 6 of the header has no name"
        in error(read_phenotypes, write(tmp_path / "ph.csv", text)).problem
    )


def test_check_cohort_refuses_infinite_covariates_built_in_code():
    """Cohorts assembled without the reader (simulations, tests) get the same covariate ranges."""
    from genofed.common.data.cohort import GenotypeMatrix

    dosages = np.tile(np.array([[0], [2]], dtype=np.int8), (N // 2, 3))
    genotypes = GenotypeMatrix(dosages, SAMPLES, ["1:1:A:G", "1:2:A:G", "1:3:A:G"], source="g.vcf")
    ages = [40.0] * N
    ages[7] = float("inf")
    covariates = pd.DataFrame({"sex": [0.0, 1.0] * (N // 2), "age": ages}, index=SAMPLES)
    phenotypes = Phenotypes(SAMPLES, np.array([0, 1] * (N // 2), dtype=np.int8), covariates, source="ph.csv")
    e = error(check_cohort, join_cohort(genotypes, phenotypes))
    assert e.file == "ph.csv" and e.location == "sample P07" and "covariate age is inf" in e.problem


# --- containers, folders, separators and decimal codes (a user audit) -------------------------


def _printable(text: str) -> bool:
    """No raw binary in a message: printable ASCII/Unicode and newlines only."""
    return all(ch == "\n" or ch.isprintable() for ch in text)


def _zip(member: str, data: bytes) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(member, data)
    return buffer.getvalue()


@pytest.mark.parametrize("inner", [lambda d: gzip.compress(d, mtime=0), bgzip], ids=["gzip", "bgzip"])
def test_vcf_compressed_twice_says_so(tmp_path, inner):
    path = write(tmp_path / "calls.vcf.gz", gzip.compress(inner(vcf_text().encode()), mtime=0))
    e = error(read_vcf, path)
    assert "compressed twice" in e.problem and "gunzip -c calls.vcf.gz > once_calls.vcf.gz" in e.hint
    assert _printable(e.message)


def test_name_ending_gz_gz_is_decompressed_to_one_gz(tmp_path):
    path = write(tmp_path / "calls.vcf.gz.gz", gzip.compress(gzip.compress(vcf_text().encode())))
    assert "gunzip -c calls.vcf.gz.gz > calls.vcf.gz" in error(read_genotypes, path).hint


@pytest.mark.parametrize(
    ("name", "reader", "text"),
    [
        ("g.vcf.gz", read_vcf, vcf_text),
        ("ph.csv", read_phenotypes, phenotype_text),
        ("g.csv", read_genotype_table, table_text),
    ],
)
def test_zip_archive_is_named_with_its_member(tmp_path, name, reader, text):
    path = write(tmp_path / name, _zip("inside.txt", text().encode()))
    e = error(reader, path)
    assert "zip archive" in e.problem and f"unzip {name}" in e.hint
    assert "inside.txt" in e.hint and _printable(e.message)


def test_zip_inside_gzip_and_bzip2_are_named(tmp_path):
    import bz2

    e = error(read_vcf, write(tmp_path / "g.vcf.gz", gzip.compress(_zip("g.vcf", vcf_text().encode()))))
    assert "zip archive inside its gzip compression" in e.problem
    e = error(read_phenotypes, write(tmp_path / "ph.csv", bz2.compress(phenotype_text().encode())))
    assert "bzip2" in e.problem and "bunzip2" in e.hint


def test_a_binary_file_named_vcf_is_not_quoted_raw(tmp_path):
    e = error(read_vcf, write(tmp_path / "g.vcf", b"\x08\x08\xff\xfe\x00binary\x1b[2J" + bytes(range(200))))
    assert "not a VCF file: it starts with binary data (first bytes 08 08 ff fe 00" in e.problem
    assert _printable(e.message)
    e = error(read_vcf, write(tmp_path / "g.vcf", "sample_id,1:1:A:G\nP1,0\n"))
    assert "it starts with 'sample_id,1:1:A:G'" in e.problem


def test_a_folder_given_as_genotypes_names_the_file_inside(tmp_path):
    site = tmp_path / "kazan"
    site.mkdir()
    write(site / "calls.vcf.gz", gzip.compress(vcf_text().encode()))
    write(site / "phenotypes.csv", phenotype_text())
    e = error(read_genotypes, site)
    assert e.problem == "this is a folder, not a genotype file"
    assert e.hint == f"give the file inside it: {site / 'calls.vcf.gz'}"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "holds none that genofed reads" in error(read_genotypes, empty).hint


@pytest.mark.parametrize(
    ("name", "text", "problem", "hint"),
    [
        ("ph.csv", phenotype_text().replace(",", ";"), "separated by semicolons (';')", "save it as a .csv"),
        (
            "ph.csv",
            phenotype_text().replace(",", "\t"),
            "separated by tabs, but a .csv",
            "rename it to ph.tsv",
        ),
        ("ph.tsv", phenotype_text(), "separated by commas, but a .tsv/.txt", "rename it to ph.csv"),
    ],
)
def test_phenotypes_separated_otherwise_than_their_suffix_says(tmp_path, name, text, problem, hint):
    e = error(read_phenotypes, write(tmp_path / name, text))
    assert e.location == "line 1" and "the header is one column" in e.problem
    assert problem in e.problem and hint in e.hint


def test_a_semicolon_export_whose_column_name_holds_a_comma_is_named_semicolon_separated(tmp_path):
    """European Excel's `;` export with a `Вес, кг` column reads as two columns by commas: refused on
    line 1 as semicolon-separated, not on the first short row as "1 fields but the header has 2"."""
    rows = [f"{s};{i % 2};{'МЖ'[i % 2]};{20 + i};{60 + i},5" for i, s in enumerate(SAMPLES)]
    text = "sample_id;label;sex;age;Вес, кг\n" + "\n".join(rows) + "\n;;;;\n"
    e = error(read_phenotypes, write(tmp_path / "ph.csv", text))
    assert e.location == "line 1"
    assert e.problem == (
        "the header holds 4 semicolons (';') but 1 comma: the file is separated by semicolons (';'), "
        "but a .csv file must be separated by commas (the ',' in the column name 'Вес, кг' is not a "
        "separator)"
    )
    assert "save it as a .csv with commas" in e.hint and '("Вес, кг")' in e.hint
    table = "sample_id;1:100:A:G;Вес, кг\n" + "".join(f"{s};{i % 3};{i}\n" for i, s in enumerate(SAMPLES))
    e = error(read_genotype_table, write(tmp_path / "g.csv", table))
    assert e.location == "line 1" and "separated by semicolons (';')" in e.problem


def test_semicolons_inside_quoted_column_names_are_not_taken_for_separators(tmp_path):
    text = phenotype_text().replace("pc1", '"dose; mg; per day"')
    assert read_phenotypes(write(tmp_path / "ph.csv", text)).sample_ids == SAMPLES


def test_tab_separated_tables_named_csv_are_refused_but_read_as_tsv(tmp_path):
    """The separator follows the suffix (one rule for every reader and for folder discovery):
    the same bytes are read under a .tsv name, refused with the rename under a .csv name."""
    text = phenotype_text().replace(",", "\t")
    assert read_phenotypes(write(tmp_path / "ph.tsv", text)).sample_ids == SAMPLES
    e = error(
        read_genotype_table,
        write(tmp_path / "g.csv.gz", gzip.compress(table_text().replace(",", "\t").encode())),
    )
    assert "separated by tabs" in e.problem and "rename it to g.tsv.gz" in e.hint


def test_decimal_zero_and_one_labels_and_sex_are_read_as_0_and_1(tmp_path):
    """pandas and Excel write a 0/1 column that held a missing value as 0.0/1.0."""
    lines = phenotype_text().splitlines()
    decimal = [lines[0]] + [
        line.replace(",0,M,", ",0.0,0.0,").replace(",1,F,", ",1.00,1.0,") for line in lines[1:]
    ]
    got = read_phenotypes(write(tmp_path / "ph.csv", "\n".join(decimal) + "\n"))
    want = read_phenotypes(write(tmp_path / "ref.csv", phenotype_text()))
    assert np.array_equal(got.labels, want.labels)
    assert got.covariates["sex"].tolist() == want.covariates["sex"].tolist()


@pytest.mark.parametrize("value", ["0.5", "2.0", "1.", "1e0", "01", "-0.0", "1.01"])
def test_labels_that_are_not_exactly_0_or_1_are_still_refused(tmp_path, value):
    e = error(
        read_phenotypes, write(tmp_path / "ph.csv", phenotype_text().replace("P03,1,", f"P03,{value},"))
    )
    assert e.problem == f"label {value!r} in column label is not binary"
    assert e.location == "line 5, sample P03"


def test_a_decimal_0_1_column_is_suggested_as_the_label(tmp_path):
    text = phenotype_text().replace("sample_id,label,", "sample_id,disease,").replace(",0,", ",0.0,")
    e = error(read_phenotypes, write(tmp_path / "ph.csv", text))
    assert "columns that look like a binary label: 'disease'" in e.problem


def test_empty_lines_in_phenotypes_are_skipped_but_refused_in_a_vcf(tmp_path):
    """As docs/data-formats.md says: a phenotype or table file may hold empty lines (in the middle
    or at the end, e.g. left by an editor); a VCF may not, anywhere after its header."""
    lines = phenotype_text().splitlines(keepends=True)
    text = "".join(lines[:4] + ["\n", ",,,,\n"] + lines[4:]) + "\n\n"
    assert read_phenotypes(write(tmp_path / "ph.csv", text)).sample_ids == SAMPLES
    e = error(read_vcf, write(tmp_path / "g.vcf", vcf_text() + "\n"))
    assert "empty line" in e.problem and e.location == "line 11"  # 4 header lines, 6 records


# --- through the loader and the command line ------------------------------------------------


def test_load_site_reads_bom_crlf_files(tmp_path):
    vcf = write(tmp_path / "g.vcf", BOM + vcf_text().replace("\n", "\r\n").encode())
    phenotypes = write(tmp_path / "ph.csv", BOM + phenotype_text().replace("\n", "\r\n").encode())
    site = load_site(vcf, phenotypes)
    assert site.cohort.sample_ids == SAMPLES and site.cohort.n_variants == 6


def _data_check(genotypes: Path, phenotypes: Path) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "genofed.cli.main",
        "data",
        "check",
        "--genotypes",
        str(genotypes),
        "--phenotypes",
        str(phenotypes),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_cli_prints_one_error_for_corrupt_gzip_and_non_utf8(tmp_path):
    phenotypes = write(tmp_path / "ph.csv", phenotype_text())
    corrupt = write(tmp_path / "g.vcf.gz", flip(gzip.compress(vcf_text(rows=40).encode(), mtime=0), 300))
    latin1 = write(tmp_path / "g.csv", table_text().replace("P03,", "P\xe903,").encode("latin-1"))
    for genotypes, problem in ((corrupt, "corrupt"), (latin1, "not UTF-8")):
        result = _data_check(genotypes, phenotypes)
        assert result.returncode == 2, result
        assert "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert lines[0].startswith(f"error: {genotypes}") and problem in lines[0], lines
        assert len(lines) == 2 and lines[1].startswith("  what to do: "), lines


def test_cli_turns_an_unexpected_failure_into_one_line(tmp_path, monkeypatch, capsys):
    """A bug in genofed (not a DataError) still reaches the person at the hospital as one line."""
    from genofed.cli import main as cli
    from genofed.common.data import loading

    def broken(*args, **kwargs):
        raise RuntimeError("reader bug")

    monkeypatch.setattr(loading, "load_site", broken)
    # the phenotype file exists: `data check` checks that before reading the genotypes
    phenotypes = write(tmp_path / "p.csv", phenotype_text())
    code = cli.main(
        ["data", "check", "--genotypes", str(tmp_path / "g.vcf"), "--phenotypes", str(phenotypes)]
    )
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.startswith("error: genofed failed while reading") and "RuntimeError: reader bug" in err
    assert len(err.strip().splitlines()) == 1


# --- empty files, leading empty lines, workbooks and Parquet given as text (a second audit) -----


@pytest.mark.parametrize(
    ("reader", "what"), [(read_phenotypes, "phenotype"), (read_genotype_table, "genotype table")]
)
@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (gzip.compress(b""), "file is empty after decompressing"),
        (gzip.compress(b"\n\n"), "file is empty after decompressing (it holds only empty lines)"),
        (b"\n\r\n", "file is empty (it holds only empty lines)"),
    ],
    ids=["empty-gzip", "gzip-of-empty-lines", "empty-lines"],
)
def test_an_empty_gzip_table_says_empty_not_a_bug(tmp_path, reader, what, data, problem):
    """`: | gzip > x.csv.gz` used to end in StopIteration, reported as a bug in genofed."""
    e = error(reader, write(tmp_path / "x.csv.gz", data))
    assert e.problem == f"{what} {problem}" and "re-export" in e.hint


@pytest.mark.parametrize("reader", [read_phenotypes, read_genotype_table])
def test_a_table_starting_with_an_empty_line_names_the_header_line(tmp_path, reader):
    """The folder rule reads a table's columns from its first line: an empty one is named, not read
    as a header of no columns ("no 'sample_id' column; found columns ['']")."""
    text = phenotype_text() if reader is read_phenotypes else table_text()
    e = error(reader, write(tmp_path / "x.csv", "\n" + text))
    assert e.location == "line 1" and "starts with an empty line" in e.problem
    assert "is on line 2" in e.problem and "first line must be the header" in e.hint


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (gzip.compress(b"", mtime=0), "the VCF file is empty after decompressing"),
        (bgzip(b""), "the VCF file is empty after decompressing"),
        (BOM, "the VCF file is empty: it holds only a byte-order mark"),
    ],
    ids=["gzip", "bgzip", "bom-only"],
)
def test_an_empty_vcf_says_empty_not_binary_data(tmp_path, data, problem):
    e = error(read_vcf, write(tmp_path / "g.vcf.gz", data))
    assert e.problem == problem and "binary" not in e.message


def test_a_vcf_starting_with_an_empty_line_says_so_not_binary_data(tmp_path):
    e = error(read_vcf, write(tmp_path / "g.vcf", "\n" + vcf_text()))
    assert e.problem == "the VCF file starts with an empty line" and e.location == "line 1"
    assert "##fileformat" in e.hint


def _xlsx() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", "<worksheet/>")
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["clinical.xlsx", "phenotypes.csv"])
def test_an_excel_workbook_is_told_to_save_as_csv_not_to_unzip(tmp_path, name):
    e = error(read_phenotypes, write(tmp_path / name, _xlsx()))
    assert "an Excel workbook" in e.problem and "CSV UTF-8" in e.hint and "unzip" not in e.hint


@pytest.mark.parametrize("name", ["pheno.parquet", "phenotypes.csv", "phenotypes.csv.gz"])
def test_a_parquet_file_as_phenotypes_is_named_not_a_control_character(tmp_path, name):
    data = b"PAR1\x15\x04\x15\x00\x15\x00" + bytes(40) + b"PAR1"
    e = error(read_phenotypes, write(tmp_path / name, gzip.compress(data) if name.endswith(".gz") else data))
    assert "a Parquet table" in e.problem and "control character" not in e.problem
    assert "phenotypes must be CSV/TSV text" in e.hint


def test_a_parquet_genotype_table_is_still_read(tmp_path):
    path = tmp_path / "g.parquet"
    pd.DataFrame({"sample_id": ["P1", "P2"], "1:100:A:G": [0, 2]}).to_parquet(path)
    assert read_genotype_table(path).dosages.tolist() == [[0], [2]]
