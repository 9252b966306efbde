"""Phenotype columns no model reads: every model encodes sex and age only (`FeatureSpec`), so any other
column (ancestry PCs, BMI, a `population` text column) is left unread, never refused, and named in
one note, so no hospital believes its PCs adjust the risk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genofed.cli.main import main
from genofed.common.data.features import FeatureSpec, encode
from genofed.common.data.loading import load_site
from genofed.common.data.readers.phenotypes import MODEL_COVARIATES, read_covariates, read_phenotypes
from genofed.common.errors import DataError

SAMPLES = [f"S{i:02d}" for i in range(24)]
EXTRA_HEADER = "sample_id,label,sex,age,pc1,bmi,smoker,population"


def _plain(i: int) -> str:
    return f"S{i:02d},{i % 2},{'MF'[i % 2]},{30 + i}"


def _extra(i: int) -> str:
    return f"{_plain(i)},{i / 100:.2f},{20 + i},{i % 2},{'EUR' if i % 3 else 'AFR'}"


def _phenotypes(path: Path, header: str, row) -> Path:
    path.write_text(header + "\n" + "".join(row(i) + "\n" for i in range(len(SAMPLES))))
    return path


@pytest.fixture
def site(tmp_path: Path) -> dict[str, Path]:
    """A 24-person VCF with two phenotype files: sex and age only, and the same plus unused columns."""
    calls = ["0/0", "0/1", "1/1"]
    rows = "".join(
        f"1\t{100 * (v + 1)}\t.\tA\tG\t.\tPASS\t.\tGT\t"
        + "\t".join(calls[(i + v) % 3] for i in range(len(SAMPLES)))
        + "\n"
        for v in range(3)
    )
    vcf = tmp_path / "g.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=1>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(SAMPLES) + "\n" + rows
    )
    return {
        "genotypes": vcf,
        "plain": _phenotypes(tmp_path / "plain.csv", "sample_id,label,sex,age", _plain),
        "extra": _phenotypes(tmp_path / "extra.csv", EXTRA_HEADER, _extra),
    }


def test_only_sex_and_age_are_model_covariates():
    assert MODEL_COVARIATES == FeatureSpec(alt_freq=()).covariates == ("sex", "age")


def test_a_text_column_is_not_refused_and_unused_columns_are_named_once(site):
    read = read_phenotypes(site["extra"])
    assert list(read.covariates.columns) == ["sex", "age"]
    assert read.unused_columns == ["pc1", "bmi", "smoker", "population"]
    assert len(read.notes) == 1
    note = read.notes[0]
    assert note.startswith("phenotype columns pc1, bmi, smoker, population are not used")
    assert "reads only sex and age as covariates" in note and "rename" not in note


def test_new_patients_covariates_skip_unused_columns_too(site, tmp_path):
    unlabelled = tmp_path / "new.csv"
    unlabelled.write_text("sample_id,age,population\nN1,40,EUR\nN2,,SAS\n")
    read = read_covariates(unlabelled)
    assert list(read.covariates.columns) == ["age"] and read.unused_columns == ["population"]
    assert read.notes[0].startswith("phenotype column population is not used")
    # a label column present is the label, not an unused column
    assert "label" not in read_covariates(site["extra"]).unused_columns


def test_a_file_with_only_model_columns_has_no_note(site):
    read = read_phenotypes(site["plain"])
    assert read.unused_columns == [] and read.notes == []


def test_unused_columns_change_nothing_the_model_sees(site):
    with_extra = load_site(site["genotypes"], site["extra"])
    without = load_site(site["genotypes"], site["plain"])
    spec = FeatureSpec(alt_freq=np.full(with_extra.cohort.n_variants, 0.3))
    np.testing.assert_array_equal(encode(spec, with_extra.cohort), encode(spec, without.cohort))
    notes = [w for w in with_extra.warnings if "not used" in w.message]
    assert len(notes) == 1 and "pc1, bmi, smoker, population" in notes[0].message
    assert not any("not used" in w.message for w in without.warnings)
    assert with_extra.summary()["covariates"] == ["sex", "age"]


def test_the_columns_the_model_reads_are_still_checked(site, tmp_path):
    bad_age = tmp_path / "bad_age.csv"
    bad_age.write_text(site["extra"].read_text().replace("S03,1,F,33,", "S03,1,F,abc,"))
    with pytest.raises(DataError, match="value 'abc' in covariate column age is not a number") as refused:
        read_phenotypes(bad_age)
    assert refused.value.location == "line 5, sample S03, column age"
    assert "encode categories" not in refused.value.hint  # a 0/1 column would not be read either
    bad_sex = tmp_path / "bad_sex.csv"
    bad_sex.write_text(site["extra"].read_text().replace("S03,1,F,", "S03,1,2,"))
    with pytest.raises(DataError, match="sex '2' is not recognised"):
        read_phenotypes(bad_sex)


def test_model_columns_match_case_insensitively(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("sample_id,label,Sex,AGE,PC1\nP1,1,F,40,0.1\nP2,0,M,50,0.2\n")
    read = read_phenotypes(path)
    assert list(read.covariates.columns) == ["Sex", "AGE"] and read.unused_columns == ["PC1"]


@pytest.mark.parametrize(
    ("header", "value", "rename"),
    [
        ("age_years", "40", "has age_years: if that is it, rename it to 'age'"),
        ("gender", "M", "has gender: if that is it, rename it to 'sex'"),
        # a Russian clinic's headers (an outside walkthrough: only "not used" was said)
        ("Возраст", "40", "has Возраст: if that is it, rename it to 'age'"),
        ("Пол", "М", "has Пол: if that is it, rename it to 'sex'"),
    ],
)
def test_a_look_alike_of_a_missing_covariate_gets_a_rename_hint(tmp_path, header, value, rename):
    other = "sex" if header not in ("gender", "Пол") else "age"
    other_value = "F" if other == "sex" else "50"
    path = tmp_path / "p.csv"
    path.write_text(
        f"sample_id,label,{other},{header}\nP1,1,{other_value},{value}\nP2,0,{other_value},{value}\n"
    )
    read = read_phenotypes(path)
    assert read.unused_columns == [header] and rename in read.notes[0]


def test_a_date_of_birth_and_direct_identifiers_are_named_with_what_to_do(tmp_path):
    """A walkthrough's Russian registry export carried `Дата рождения` instead of an age (every
    patient's age then imputed, said only as "not used") and `ФИО`, the patients' names."""
    path = tmp_path / "p.csv"
    path.write_text(
        "sample_id,label,sex,ФИО,Дата рождения,СНИЛС\n"
        "P1,1,М,Иванов Иван Иванович,1980-01-02,123-456-789 00\nP2,0,Ж,Петрова Анна,1975-05-06,\n",
        encoding="utf-8",
    )
    note = read_phenotypes(path).notes[0]
    assert "has Дата рождения: write each patient's age in years (at sampling) into an 'age' column" in note
    assert "ФИО, СНИЛС look like direct identifiers" in note and "prefer an export without them" in note
    with_age = tmp_path / "q.csv"
    with_age.write_text("sample_id,label,age,birth_year\nP1,1,40,1985\nP2,0,50,1975\n")
    assert "write each patient's age" not in read_phenotypes(with_age).notes[0]  # it has an age


def test_a_custom_covariate_list_reads_and_checks_those_columns(site):
    read = read_phenotypes(site["extra"], covariates=("sex", "age", "pc1"))
    assert list(read.covariates.columns) == ["sex", "age", "pc1"]
    assert read.unused_columns == ["bmi", "smoker", "population"]


def test_data_check_prints_the_note_and_passes(site, capsys):
    args = ["data", "check", "--genotypes", str(site["genotypes"]), "--phenotypes", str(site["extra"])]
    assert main(args) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "phenotype columns pc1, bmi, smoker, population are not used" in out
    assert "OK: the data can be used for training." in out


def test_russian_sex_codes_are_read_and_numeric_codes_are_said_to_be_read_as_0_male(tmp_path):
    """М/Ж (мужской / женский), which the federation's clinics write, are read as M/F; a 0/1 sex
    column is read by genofed's coding, 0 = male, and says so, since other exports (UK Biobank)
    code 1 = male: an outside walkthrough's 1 = male file was read backwards without a word."""
    path = tmp_path / "p.csv"
    path.write_text("sample_id,label,sex\nP1,1,М\nP2,0,ж\nP3,0,Мужской\nP4,1,женский\nP5,0,M\n")
    read = read_phenotypes(path)
    assert read.covariates["sex"].tolist() == [0.0, 1.0, 0.0, 1.0, 0.0] and read.notes == []
    path.write_text("sample_id,label,Sex\nP1,1,1\nP2,0,0\nP3,0,F\n")
    read = read_phenotypes(path)
    assert read.covariates["Sex"].tolist() == [1.0, 0.0, 1.0]
    assert read.notes == [
        "sex column Sex holds 0/1 codes, read as 0 = male, 1 = female (genofed's coding); if this file "
        "codes 1 = male (as UK Biobank does), recode it or write M/F"
    ]
