"""Defects an outside audit found in the genotype-table and phenotype readers and the id check:
four alleles at one diploid site, Parquet true/false columns read as dosages, '.' missing in CSV
but refused in Parquet, float32 rounding of near-integer dosages, whitespace in sample ids,
`sex` and `Sex` both in one file, and labels refused without saying what to map."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genofed.common.data.checks import join_cohort
from genofed.common.data.cohort import Cohort, GenotypeMatrix, Phenotypes
from genofed.common.data.features import FeatureSpec, encode
from genofed.common.data.loading import load_site
from genofed.common.data.readers import read_genotype_table
from genofed.common.data.readers.phenotypes import read_covariates, read_phenotypes
from genofed.common.errors import DataError

VARIANTS = ["1:100:C:A", "1:200:T:G", "1:100:C:G"]  # two ALT alleles at 1:100


def _table(path: Path, rows: list[list[str]], columns: list[str] = VARIANTS) -> Path:
    path.write_text("\n".join(",".join(row) for row in [["sample_id", *columns], *rows]) + "\n")
    return path


def _refused(read, *args, **kwargs) -> DataError:
    with pytest.raises(DataError) as refused:
        read(*args, **kwargs)
    return refused.value


# 1. at most two alleles per person at one site


def test_split_alt_columns_adding_up_to_more_than_two_are_refused(tmp_path: Path):
    path = _table(tmp_path / "g.csv", [["S1", "0", "1", "1"], ["S2", "2", "0", "2"]])
    e = _refused(read_genotype_table, path)
    assert e.file == str(path) and e.location == "line 3, sample S2"
    assert "4 ALT alleles at 1:100 (REF C): 2 of 1:100:C:A, 2 of 1:100:C:G" in e.problem
    assert "add up to 0, 1 or 2" in e.hint
    # within two alleles, missing calls counting for none; another REF at a position is another site
    path = _table(tmp_path / "ok.csv", [["S1", "1", "2", "1"], ["S2", "2", "0", ""], ["S3", "", "1", "2"]])
    assert read_genotype_table(path).dosages.tolist() == [[1, 2, 1], [2, 0, -1], [-1, 1, 2]]
    path = _table(tmp_path / "indel.csv", [["S1", "2", "2"]], columns=["1:100:C:A", "1:100:CT:C"])
    assert read_genotype_table(path).dosages.tolist() == [[2, 2]]


# 2. Parquet: true/false refused, '.' missing as in CSV


def _parquet(path: Path, **columns) -> Path:
    pd.DataFrame({"sample_id": ["S1", "S2", "S3"], **columns}).to_parquet(path, index=False)
    return path


def test_a_bool_parquet_column_is_refused_by_name(tmp_path: Path):
    path = _parquet(tmp_path / "g.parquet", **{"1:100:C:A": [0, 1, 2], "1:200:T:G": [False, True, True]})
    e = _refused(read_genotype_table, path)
    assert "column 1:200:T:G holds bool values, not genotypes" in e.problem
    assert e.location == "column 1:200:T:G" and "true/false" in e.hint


def test_other_non_numeric_parquet_columns_are_refused(tmp_path: Path):
    stamps = pd.to_datetime(["2020-01-01"] * 3)
    e = _refused(read_genotype_table, _parquet(tmp_path / "g.parquet", **{"1:100:C:A": stamps}))
    assert "holds datetime64" in e.problem
    mixed = _parquet(tmp_path / "m.parquet", **{"1:100:C:A": pd.Series([b"1", None, b"2"], dtype=object)})
    assert "holds bytes values" in _refused(read_genotype_table, mixed).problem


def test_dot_is_a_missing_call_in_parquet_text_as_in_csv(tmp_path: Path):
    parquet = read_genotype_table(_parquet(tmp_path / "g.parquet", **{"1:100:C:A": ["0", ".", "NA"]}))
    csv = read_genotype_table(
        _table(tmp_path / "g.csv", [["S1", "0"], ["S2", "."], ["S3", "NA"]], ["1:100:C:A"])
    )
    assert parquet.dosages.tolist() == csv.dosages.tolist() == [[0], [-1], [-1]]
    e = _refused(read_genotype_table, _parquet(tmp_path / "bad.parquet", **{"1:100:C:A": ["0", "0/1", "1"]}))
    assert "value '0/1' in column 1:100:C:A is not a genotype" in e.problem
    assert e.location == "row 2, sample S2"


# 3. float64: near-integers refused, shown as written


@pytest.mark.parametrize("value", ["1.00000001", "1.99999999", "0.99999997", "2.0000001"])
def test_near_integer_dosages_are_refused_and_shown_as_written(tmp_path: Path, value: str):
    path = _table(tmp_path / "g.csv", [["S1", "0"], ["S2", value]], ["1:100:C:A"])
    e = _refused(read_genotype_table, path)
    assert f"value {value!r} in column 1:100:C:A is not a genotype" in e.problem
    assert e.location == "line 3, sample S2"
    exact = _table(tmp_path / "exact.csv", [["S1", "1.0"], ["S2", "2.00"], ["S3", "0e0"]], ["1:100:C:A"])
    assert read_genotype_table(exact).dosages.tolist() == [[1], [2], [0]]


def test_a_near_integer_parquet_number_is_shown_as_stored(tmp_path: Path):
    path = _parquet(tmp_path / "g.parquet", **{"1:100:C:A": [0.0, 0.99999997, 2.0]})
    assert "value '0.99999997' in column" in _refused(read_genotype_table, path).problem


# 4. sample ids compared exactly as written


def _site(tmp_path: Path, vcf_ids: list[str], pheno_ids: list[str]) -> tuple[Path, Path]:
    vcf = tmp_path / "g.vcf"
    calls = ["0/0", "0/1", "1/1", "0/1"]
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=1>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(vcf_ids) + "\n"
        "1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t" + "\t".join(calls[i % 4] for i in range(len(vcf_ids))) + "\n",
        encoding="utf-8",
    )
    pheno = tmp_path / "ph.csv"
    rows = [f"{sample},{i % 2}" for i, sample in enumerate(pheno_ids)]
    pheno.write_text("sample_id,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return vcf, pheno


IDS = [f"S{i}" for i in range(19)]


def test_the_same_id_with_a_trailing_space_in_both_files_matches(tmp_path: Path):
    vcf, pheno = _site(tmp_path, [*IDS, "HG00099 "], [*IDS, "HG00099 "])
    assert "HG00099 " in load_site(vcf, pheno).cohort.sample_ids


def test_a_trailing_space_in_one_file_only_is_refused_and_explained(tmp_path: Path):
    vcf, pheno = _site(tmp_path, [*IDS, "HG00099"], [*IDS, "HG00099 "])
    e = _refused(load_site, vcf, pheno)
    assert "only in surrounding whitespace, e.g. 'HG00099' in" in e.problem and "'HG00099 ' here" in e.problem
    assert "Unicode" not in e.problem and "NFC" not in e.hint


def test_phenotype_ids_are_kept_as_written_and_blank_ones_refused(tmp_path: Path):
    path = tmp_path / "ph.csv"
    path.write_text("sample_id,label\n P1,1\nP1,0\n")
    assert read_phenotypes(path).sample_ids == [" P1", "P1"]
    path.write_text("sample_id,label\nP1,1\n  ,0\n")
    assert _refused(read_phenotypes, path).problem == "empty sample_id"


def test_whitespace_pairs_are_not_counted_as_unicode_form_differences():
    composed, decomposed = unicodedata.normalize("NFC", "José"), unicodedata.normalize("NFD", "José")
    genotypes = GenotypeMatrix(
        np.zeros((3, 1), dtype=np.int8), ["P1", composed, " P2"], ["1:1:A:G"], source="g.vcf"
    )
    ids = ["P1", decomposed, "P2"]
    phenotypes = Phenotypes(
        ids, np.zeros(3, dtype=np.int8), pd.DataFrame(index=pd.Index(ids)), source="ph.csv"
    )
    e = _refused(join_cohort, genotypes, phenotypes)
    assert "1 of them differ from an id here only in Unicode form (NFC vs NFD" in e.problem
    assert "1 of them differ from an id here only in surrounding whitespace, e.g. ' P2' in g.vcf" in e.problem
    assert "2 of them" not in e.problem and "NFC" in e.hint


# 5. one column per covariate and label, whatever the case


@pytest.mark.parametrize(
    ("header", "first", "second", "name"),
    [
        ("sample_id,label,sex,Sex,age", "sex", "Sex", "sex"),
        ("sample_id,label,AGE,sex,age", "AGE", "age", "age"),
        ("sample_id,label,Label,age", "label", "Label", "label"),
    ],
)
def test_two_columns_naming_one_covariate_or_the_label_are_refused(
    tmp_path: Path, header, first, second, name
):
    path = tmp_path / "ph.csv"
    fields = len(header.split(","))
    path.write_text(header + "\n" + "P1,1" + ",1" * (fields - 3) + ",40\n")
    e = _refused(read_phenotypes, path)
    assert f"columns {first!r} and {second!r}" in e.problem and f"both name {name!r}" in e.problem
    assert e.location == "line 1"


def test_read_covariates_refuses_sex_twice_too(tmp_path: Path):
    path = tmp_path / "ph.csv"
    path.write_text("sample_id,sex,SEX\nP1,M,F\n")
    assert "both name 'sex'" in _refused(read_covariates, path).problem


def test_encode_refuses_two_columns_for_one_covariate():
    covariates = pd.DataFrame({"sex": [0.0], "Sex": [1.0]}, index=pd.Index(["P1"]))
    cohort = Cohort(np.zeros((1, 0), dtype=np.int8), ["P1"], [], np.zeros(1, dtype=np.int8), covariates)
    with pytest.raises(ValueError, match="'sex', 'Sex' all name 'sex'"):
        encode(FeatureSpec(alt_freq=()), cohort)


# 6. labels: say what the cell holds and what to map


@pytest.mark.parametrize(
    ("cases", "control", "shown", "mapping"),
    [
        ("yes", "no", "'yes'", "map yes->1 (case), no->0 (control)"),
        ("TRUE", "FALSE", "'FALSE'", "map TRUE->1 (case), FALSE->0 (control)"),
        ("Y", "N", "'N'", "map Y->1 (case), N->0 (control)"),
    ],
)
def test_yes_no_labels_are_refused_with_the_mapping_to_make(tmp_path: Path, cases, control, shown, mapping):
    path = tmp_path / "ph.csv"
    first, second = (cases, control) if shown == f"{cases!r}" else (control, cases)
    path.write_text(f"sample_id,label\nP1,{first}\nP2,{second}\n")
    e = _refused(read_phenotypes, path)
    assert f"label {shown} in column label is not binary" in e.problem
    assert mapping in e.hint


def test_a_minus_nine_label_is_named_as_plinks_missing_code(tmp_path: Path):
    path = tmp_path / "ph.csv"
    path.write_text("sample_id,label\nP1,1\nP2,-9\n")
    e = _refused(read_phenotypes, path)
    assert "label -9 in column label: -9 is PLINK's code for a missing phenotype" in e.problem
    assert e.location == "line 3, sample P2" and "remove its row" in e.hint
