"""A Russian registry export's values (an outside walkthrough, a Rostov hospital): да/нет labels
are refused with the mapping to make, as yes/no are, `муж.`/`жен.` are sex codes, and an age with a
decimal comma or a unit is still refused, with what to write instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from genofed.common.data.readers import read_phenotypes
from genofed.common.errors import DataError


def _write(tmp_path: Path, rows: list[str], header: str = "sample_id,disease,sex,age") -> Path:
    path = tmp_path / "ph.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("case", "control", "shown"), [("да", "нет", "да/нет"), ("Да", "Нет", "Да/Нет")])
def test_da_net_labels_are_refused_with_the_mapping_not_guessed(tmp_path, case, control, shown):
    """The column may ask "healthy?" as well as "ill?": reading да as the case could flip every
    label without an error, so the answer that means the disease is the user's to say."""
    path = _write(tmp_path, [f"P1,{case},М,40", f"P2,{control},Ж,41"])
    with pytest.raises(DataError) as raised:
        read_phenotypes(path, label_column="disease")
    assert f"is not binary 0/1 or case/control but a {shown} answer" in raised.value.problem
    assert f"map {case}->1 (case), {control}->0 (control), if '{case}' means the person has the disease" in (
        raised.value.hint
    )


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
