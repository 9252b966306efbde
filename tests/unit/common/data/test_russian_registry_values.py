"""A Russian registry export's values (an outside walkthrough, a Rostov hospital): да/нет labels
(and yes/no, their English words) are read as 1/0, `муж.`/`жен.` as sex codes, and an age with a
decimal comma or a unit is still refused, with what to write instead."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genofed.common.data.readers import read_phenotypes
from genofed.common.errors import DataError


def _write(tmp_path: Path, rows: list[str], header: str = "sample_id,disease,sex,age") -> Path:
    path = tmp_path / "ph.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("case", "control"), [("да", "нет"), ("Да", "НЕТ"), ("yes", "no"), ("YES", "No")])
def test_yes_no_words_in_russian_and_english_are_read_as_1_and_0(tmp_path, case, control):
    path = _write(tmp_path, [f"P1,{case},М,40", f"P2,{control},Ж,41"])
    np.testing.assert_array_equal(read_phenotypes(path, label_column="disease").labels, [1, 0])


def test_a_da_net_column_is_suggested_as_the_label(tmp_path):
    path = _write(tmp_path, ["P1,да,М,40", "P2,нет,Ж,41"])
    with pytest.raises(DataError) as raised:
        read_phenotypes(path)
    assert "columns that look like a binary label: 'disease'" in raised.value.problem


@pytest.mark.parametrize("flag", ["TRUE", "Y"])
def test_flags_and_letters_are_still_refused_with_the_mapping(tmp_path, flag):
    path = _write(tmp_path, [f"P1,{flag},М,40", "P2,1,Ж,41"])
    with pytest.raises(DataError) as raised:
        read_phenotypes(path, label_column="disease")
    assert f"label {flag!r} in column disease is not binary" in raised.value.problem


def test_sex_written_with_a_full_stop_is_read(tmp_path):
    path = _write(tmp_path, ["P1,1,муж.,40", "P2,0,Жен.,41", "P3,0,жен,42"])
    assert read_phenotypes(path, label_column="disease").covariates["sex"].tolist() == [0.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("age", "problem", "hint"),
    [
        ("14,5", "is not a number: it has a decimal comma", "write 14.5, not 14,5"),
        (
            "14 лет",
            "is not a number: it carries a unit",
            "write the number of years only, without units: 14,",
        ),
        ("14 years", "is not a number: it carries a unit", "without units: 14, not '14 years'"),
        ("6 мес", "is not a number: it carries a unit", "convert '6 мес' to years (6 months is 0.5)"),
    ],
)
def test_an_age_with_a_decimal_comma_or_a_unit_is_refused_with_what_to_write(tmp_path, age, problem, hint):
    path = _write(tmp_path, ["P1,1,М,40", f'P2,0,Ж,"{age}"'])
    with pytest.raises(DataError) as raised:
        read_phenotypes(path, label_column="disease")
    assert raised.value.location == "line 3, sample P2, column age"
    assert problem in raised.value.problem and hint in raised.value.hint
