"""A federation folder's test cohort named other than `test` (`test_cohort`, `Test`, `holdout`) is
refused before anything runs when there is no `test/`: it would be trained on as a hospital (an
outside walkthrough's run spent privacy budget on it and said only "no test cohort (DIR/test
absent)")."""

from __future__ import annotations

import pytest
from helpers.site_files import write_named_cohort

from genofed.common.data.layout import hospital_folders
from genofed.common.errors import DataError


@pytest.fixture
def federation(tmp_path):
    root = tmp_path / "fed"
    write_named_cohort(root / "rostov", "R")
    write_named_cohort(root / "krasnodar", "K")
    return root


@pytest.mark.parametrize(
    "name", ["test_cohort", "Test", "testset", "TEST-2024", "holdout", "Held-Out", "held_out"]
)
def test_a_test_cohort_named_otherwise_is_refused_by_name(federation, name):
    write_named_cohort(federation / name, "T")
    with pytest.raises(DataError) as refused:
        hospital_folders(federation)
    e = refused.value
    assert e.file == str(federation / name)
    assert f"fed/ has no test/ folder, and {name}/ looks like the test cohort" in e.problem
    assert "would be trained on as a hospital" in e.problem
    assert f"mv {federation / name} {federation / 'test'}" in e.hint and "if it is a hospital" in e.hint


def test_beside_a_test_folder_or_under_another_name_it_is_a_hospital(federation):
    write_named_cohort(federation / "contest_clinic", "C")  # "test" inside a name, not at its start
    assert [s.name for s in hospital_folders(federation)] == ["contest_clinic", "krasnodar", "rostov"]
    write_named_cohort(federation / "test_2024", "X")
    with pytest.raises(DataError, match="test_2024/ looks like the test cohort"):
        hospital_folders(federation)
    write_named_cohort(
        federation / "test", "T"
    )  # the real test cohort is there: test_2024 is the user's hospital
    assert [s.name for s in hospital_folders(federation)] == [
        "contest_clinic",
        "krasnodar",
        "rostov",
        "test_2024",
    ]


@pytest.mark.parametrize("name", ["test_clinic", "holdout"])
def test_with_a_named_test_cohort_no_hospital_is_refused_by_name(federation, tmp_path, name):
    """`--test-dir` names the test cohort: a hospital folder named like one is the user's hospital."""
    write_named_cohort(federation / name, "C")
    write_named_cohort(tmp_path / "elsewhere" / "cohort", "T")
    with pytest.raises(DataError, match="looks like the test cohort"):  # no test cohort named
        hospital_folders(federation)
    assert [
        s.name for s in hospital_folders(federation, test_dir=tmp_path / "elsewhere" / "cohort")
    ] == sorted(["krasnodar", "rostov", name])


def test_a_named_test_cohort_inside_the_federation_is_no_hospital(federation):
    """`--test-dir fed/holdout`: the folder is evaluated on, never trained on as a hospital."""
    write_named_cohort(federation / "holdout", "T")
    for named in (federation / "holdout", str(federation / "." / "holdout")):
        assert [s.name for s in hospital_folders(federation, test_dir=named)] == ["krasnodar", "rostov"]
