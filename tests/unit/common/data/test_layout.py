"""A federation folder as hospitals have it: any genotype format, phenotype files named their own
way, a label column not called `label`, no test cohort; and the errors when it cannot be read."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest
from helpers import require_tool
from helpers.mixed_federation import LAYOUT, write_mixed_federation

from genofed.common.data.layout import (
    find_test_cohort,
    genotype_file,
    hospital_folders,
    load_federation,
    site_files,
    table_columns,
)
from genofed.common.errors import DataError


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Five hospitals: plain .vcf, .vcf.gz, .bcf (bcftools), PLINK and a CSV table (read only)."""
    require_tool("bcftools")
    root = tmp_path_factory.mktemp("mixed") / "federation"
    return root, write_mixed_federation(root)


def test_every_format_and_phenotype_name_is_found(mixed):
    root, written = mixed
    found = {f.name: (f.genotypes, f.phenotypes) for f in hospital_folders(root)}
    assert found == written
    assert {g.name for g, _ in found.values()} == {g for g, _ in LAYOUT.values()}


def test_the_federation_loads_with_its_label_column_and_no_test_cohort(mixed):
    root, _ = mixed
    assert find_test_cohort(root) is None
    sites = load_federation(root, label_column="disease")
    assert sorted(sites) == sorted(LAYOUT)
    for data in sites.values():
        assert data.summary()["samples"] == 40
        np.testing.assert_array_equal(data.cohort.labels, np.arange(40) % 2)  # case/control read too
        assert data.alignment.coverage == 1.0


def test_a_missing_label_column_names_the_binary_columns_and_the_flag(mixed):
    root, _ = mixed
    with pytest.raises(DataError) as raised:
        load_federation(root)  # looks for `label`
    error = raised.value
    assert error.location == "line 1"
    assert error.problem == "no 'label' column; columns that look like a binary label: 'disease'"
    assert error.hint == "pass --label-column disease (node config: label-column=disease)"


def test_sex_and_numeric_columns_are_not_offered_as_labels(tmp_path):
    from genofed.common.data.readers import read_phenotypes

    path = tmp_path / "p.csv"
    path.write_text("sample_id,sex,age,status,smoker\nA,1,40,Case,0\nB,0,50,control,\nC,1,61,CASE,1\n")
    with pytest.raises(DataError, match="binary label: 'status', 'smoker'"):
        read_phenotypes(path)


def _copy(mixed, tmp_path, name):
    folder = tmp_path / name
    shutil.copytree(mixed[0] / name, folder)
    return folder


def test_two_genotype_files_is_an_error_naming_both(mixed, tmp_path):
    folder = _copy(mixed, tmp_path, "kazan")
    shutil.copy(folder / "calls.vcf", folder / "calls_v2.vcf")
    with pytest.raises(DataError) as raised:
        site_files(folder)
    assert raised.value.file == str(folder)
    assert "2 genotype files (calls.vcf, calls_v2.vcf)" in raised.value.problem


def test_a_hidden_copy_is_ignored(mixed, tmp_path):
    folder = _copy(mixed, tmp_path, "kazan")
    shutil.copy(folder / "calls.vcf", folder / ".calls_backup.vcf")
    assert site_files(folder).genotypes == folder / "calls.vcf"


def test_two_phenotype_candidates_is_an_error_naming_both(mixed, tmp_path):
    folder = _copy(mixed, tmp_path, "omsk")
    shutil.copy(folder / "pheno_2024.tsv", folder / "phenotypes_old.tsv")
    with pytest.raises(
        DataError, match=r"2 files could be the phenotypes \(pheno_2024.tsv, phenotypes_old.tsv\)"
    ):
        site_files(folder)


def test_an_unnamed_phenotype_table_must_be_the_only_one(mixed, tmp_path):
    folder = _copy(mixed, tmp_path, "orel")
    shutil.copy(folder / "clinical.csv", folder / "visits.csv")
    with pytest.raises(DataError, match=r"2 files could be the phenotypes \(clinical.csv, visits.csv\)"):
        site_files(folder)


def test_genotypes_without_phenotypes_is_an_error_naming_the_folder(mixed, tmp_path):
    folder = _copy(mixed, tmp_path, "tomsk")
    (folder / "phenotypes.csv").unlink()
    with pytest.raises(DataError) as raised:
        hospital_folders(tmp_path)
    assert raised.value.file == str(folder)
    assert "genotypes plink_out.bed but no phenotype file" in raised.value.problem


def test_an_unnamed_semicolon_table_with_a_comma_in_a_column_name_is_named_not_missed(mixed, tmp_path):
    """A registry export separated by ';' with a `Вес, kg` column reads as two columns by commas:
    the folder rule names it as separated by semicolons, as the phenotype reader does."""
    folder = _copy(mixed, tmp_path, "orel")
    table = folder / "clinical.csv"
    lines = table.read_text().splitlines()
    table.write_text(
        "\n".join(line.replace(",", ";") + (";Вес, kg" if not n else ";70") for n, line in enumerate(lines))
        + "\n"
    )
    with pytest.raises(DataError) as raised:
        site_files(folder)
    assert raised.value.file == str(table)
    assert "separated by semicolons (';')" in raised.value.problem


def test_an_unnamed_phenotype_table_with_the_wrong_separator_is_named_not_missed(mixed, tmp_path):
    """orel's clinical.csv saved with tabs: not "no phenotype file", but which file and what to do."""
    folder = _copy(mixed, tmp_path, "orel")
    table = folder / "clinical.csv"
    table.write_text(table.read_text().replace(",", "\t"))
    (folder / "notes.txt").write_text("collected 2024, by the genetics lab\n")  # prose: still ignored
    with pytest.raises(DataError) as raised:
        site_files(folder)
    assert raised.value.file == str(table)
    assert "separated by tabs" in raised.value.problem and "rename it to clinical.tsv" in raised.value.hint
    table.rename(folder / "clinical.tsv")
    assert site_files(folder).phenotypes == folder / "clinical.tsv"
    dosages = folder / "dosages.csv"  # the genotype table too: the folder is a hospital, not skipped
    dosages.write_text(dosages.read_text().replace(",", "\t"))
    with pytest.raises(DataError, match="separated by tabs") as raised:
        hospital_folders(tmp_path)
    assert raised.value.file == str(dosages)
    (tmp_path / "notes").mkdir()  # a folder without genotypes is still skipped, whatever its tables
    (tmp_path / "notes" / "visits.csv").write_text("sample_id\tvisit\nS1\t2024\n")
    assert site_files(tmp_path / "notes") is None


def test_folders_without_genotypes_are_skipped_and_a_gene_list_is_not_plink(mixed, tmp_path):
    _copy(mixed, tmp_path, "kazan")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not a hospital\n")
    (tmp_path / "notes" / "genes.bed").write_text("1\t100\t200\tBRCA1\n")
    assert [f.name for f in hospital_folders(tmp_path)] == ["kazan"]
    assert genotype_file(tmp_path / "notes") is None


def test_a_folder_without_hospitals_says_what_one_holds(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no hospital folders") as raised:
        hospital_folders(tmp_path)
    assert "pheno" in raised.value.hint and "PLINK" in raised.value.hint


def test_a_test_cohort_is_found_by_the_same_rule(mixed, tmp_path):
    root = tmp_path / "fed"
    shutil.copytree(mixed[0], root)
    shutil.copytree(root / "omsk", root / "test")
    assert find_test_cohort(root).phenotypes == root / "test" / "pheno_2024.tsv"
    assert "test" in load_federation(root, label_column="disease")


def test_a_damaged_gzip_table_is_left_to_its_reader_not_a_traceback(tmp_path):
    """A .csv.gz whose deflate stream is broken: the discovery rule treats it as unreadable
    (`table_columns` gives []), so the folder's genotype file is still found."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "genotypes.vcf").write_text("##fileformat=VCFv4.2\n")
    (site / "phenotypes.csv").write_text("sample_id,label\nP1,0\n")
    payload = bytearray(gzip.compress(b"".join(b"sample_id,x%d\n" % i for i in range(2000))))
    payload[20:28] = b"\x00\xff" * 4  # corrupt the deflate data (zlib.error), keep the gzip header
    (site / "notes.csv.gz").write_bytes(bytes(payload))
    assert table_columns(site / "notes.csv.gz") == []
    assert site_files(site).genotypes.name == "genotypes.vcf"


def _rs_columns(text: str) -> str:
    header, rest = text.split("\n", 1)
    names = header.split(",")
    return ",".join([names[0], *(f"rs{1000 + i}_A" for i in range(len(names) - 1))]) + "\n" + rest


UNREADABLE_TABLES = {
    "iid": ("dosages.csv", lambda text: text.replace("sample_id", "IID", 1).encode()),
    "rs-ids": ("dosages.csv", lambda text: _rs_columns(text).encode()),
    "blank-first-line": ("dosages.csv", lambda text: ("\n" + text).encode()),
    "empty-gzip": ("dosages.csv.gz", lambda text: gzip.compress(b"")),
}


@pytest.mark.parametrize("phenotypes", ["clinical.csv", "phenotypes.csv"])
@pytest.mark.parametrize("case", sorted(UNREADABLE_TABLES))
def test_a_hospital_whose_genotype_table_is_unreadable_stops_the_run(mixed, tmp_path, case, phenotypes):
    """Such a hospital used to be left out of `simulate --data` silently (exit 0, named nowhere):
    now the run stops with the error `data check` gives for the table, naming it."""
    from genofed.common.data.readers import read_genotypes

    folder = _copy(mixed, tmp_path, "orel")
    _copy(mixed, tmp_path, "kazan")
    (folder / "clinical.csv").rename(folder / phenotypes)
    name, damage = UNREADABLE_TABLES[case]
    text = (folder / "dosages.csv").read_text()
    (folder / "dosages.csv").unlink()
    table = folder / name
    table.write_bytes(damage(text))
    with pytest.raises(DataError) as expected:
        read_genotypes(table)  # what `genofed data check` says of it
    with pytest.raises(DataError) as raised:
        hospital_folders(tmp_path)
    error = raised.value
    assert (error.file, error.location, error.problem) == (
        str(table),
        expected.value.location,
        expected.value.problem,
    )
    assert expected.value.hint in error.hint and f"{folder} has {phenotypes}" in error.hint


def test_a_plink_fileset_without_its_bed_stops_the_run(mixed, tmp_path):
    folder = _copy(mixed, tmp_path, "tomsk")
    (folder / "plink_out.bed").unlink()
    with pytest.raises(DataError) as raised:
        hospital_folders(tmp_path)
    assert raised.value.file == str(folder / "plink_out.bed") and "not found" in raised.value.problem


def test_a_folder_with_a_phenotype_file_but_no_genotypes_stops_the_run(mixed, tmp_path):
    """A pheno* file makes a hospital: with only notes, a gene list or a visit list beside it, it is
    refused naming the folder (skipped, the hospital would be left out without a word). A sample_id
    table not named pheno* beside notes is still no hospital."""
    _copy(mixed, tmp_path, "kazan")
    folder = tmp_path / "ufa"
    folder.mkdir()
    (folder / "readme.txt").write_text("collected 2024, by the genetics lab\n")
    (folder / "genes.bed").write_text("1\t100\t200\tBRCA1\n")
    (folder / "visits.csv").write_text("sample_id,visit\nP1,2024\n")
    assert [f.name for f in hospital_folders(tmp_path)] == ["kazan"]  # no pheno* file: not a hospital
    (folder / "phenotypes.csv").write_text("sample_id,label\nP1,0\n")
    (folder / "visits.csv").unlink()
    assert site_files(folder) is None  # the rule itself finds no hospital here ...
    with pytest.raises(DataError) as raised:  # ... but a federation's sub-folder is refused
        hospital_folders(tmp_path)
    assert raised.value.file == str(folder)
    assert raised.value.problem == "phenotypes.csv but no genotype file genofed reads"
    assert "if ufa is no hospital, move phenotypes.csv out of it" in raised.value.hint


@pytest.mark.parametrize(
    "genotypes, found, advice",
    [
        (
            ("calls.pgen", "calls.pvar", "calls.psam"),
            "calls.pgen, calls.psam, calls.pvar, which genofed does not read",
            "plink2 --pfile",
        ),
        (("calls.vcf.zip",), "calls.vcf.zip, which genofed does not read", "unpack an archive"),
        (
            ("vcf/calls.vcf.gz",),
            "vcf/calls.vcf.gz in a sub-folder, where the rule does not look",
            "move the genotype file up into omsk/",
        ),
    ],
)
def test_genotypes_genofed_cannot_find_stop_the_run_with_what_to_do(
    mixed, tmp_path, genotypes, found, advice
):
    """An outside walkthrough's three hospitals that `simulate` had dropped without a word; the
    phenotype table is not named pheno*, so the genotype-like files alone make it a hospital."""
    _copy(mixed, tmp_path, "kazan")
    folder = tmp_path / "omsk"
    folder.mkdir()
    (folder / "clinical.csv").write_text("sample_id,label\nP1,0\n")
    for name in genotypes:
        (folder / name).parent.mkdir(exist_ok=True)
        shutil.copy(mixed[0] / "kazan" / "calls.vcf", folder / name)
    with pytest.raises(DataError) as raised:
        hospital_folders(tmp_path)
    assert raised.value.file == str(folder)
    assert raised.value.problem == f"clinical.csv but no genotype file genofed reads ({found})"
    assert advice in raised.value.hint


def test_a_test_cohort_with_phenotypes_but_no_genotypes_is_refused(mixed, tmp_path):
    _copy(mixed, tmp_path, "kazan")
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "phenotypes.csv").write_text("sample_id,label\nP1,0\n")
    with pytest.raises(DataError, match="phenotypes.csv but no genotype file genofed reads"):
        find_test_cohort(tmp_path)
