"""A federation folder's test cohort named other than `test` (`test_cohort`, `Test`, `holdout`) is
refused before anything runs when there is no `test/`: it would be trained on as a hospital (an
outside walkthrough's run spent privacy budget on it and said only "no test cohort (DIR/test
absent)")."""

from __future__ import annotations

import numpy as np
import pytest

from genofed.common.data.layout import hospital_folders
from genofed.common.data.writers import write_vcf
from genofed.common.errors import DataError

VARIANTS = [f"1:{1000 + i}:A:G" for i in range(6)]


def _cohort(folder, prefix: str) -> None:
    folder.mkdir(parents=True)
    ids = [f"{prefix}{i:03d}" for i in range(24)]
    haplotypes = np.random.default_rng(0).integers(0, 2, (len(ids), len(VARIANTS), 2))
    write_vcf(folder / "genotypes.vcf.gz", haplotypes, ids, VARIANTS)
    (folder / "phenotypes.csv").write_text(
        "sample_id,label\n" + "".join(f"{s},{i % 2}\n" for i, s in enumerate(ids))
    )


@pytest.fixture
def federation(tmp_path):
    root = tmp_path / "fed"
    _cohort(root / "rostov", "R")
    _cohort(root / "krasnodar", "K")
    return root


@pytest.mark.parametrize(
    "name", ["test_cohort", "Test", "testset", "TEST-2024", "holdout", "Held-Out", "held_out"]
)
def test_a_test_cohort_named_otherwise_is_refused_by_name(federation, name):
    _cohort(federation / name, "T")
    with pytest.raises(DataError) as refused:
        hospital_folders(federation)
    e = refused.value
    assert e.file == str(federation / name)
    assert f"fed/ has no test/ folder, and {name}/ looks like the test cohort" in e.problem
    assert "would be trained on as a hospital" in e.problem
    assert f"mv {federation / name} {federation / 'test'}" in e.hint and "if it is a hospital" in e.hint


def test_beside_a_test_folder_or_under_another_name_it_is_a_hospital(federation):
    _cohort(federation / "contest_clinic", "C")  # "test" inside a name, not at its start
    assert [s.name for s in hospital_folders(federation)] == ["contest_clinic", "krasnodar", "rostov"]
    _cohort(federation / "test_2024", "X")
    with pytest.raises(DataError, match="test_2024/ looks like the test cohort"):
        hospital_folders(federation)
    _cohort(federation / "test", "T")  # the real test cohort is there: test_2024 is the user's hospital
    assert [s.name for s in hospital_folders(federation)] == [
        "contest_clinic",
        "krasnodar",
        "rostov",
        "test_2024",
    ]


@pytest.mark.parametrize("name", ["test_clinic", "holdout"])
def test_with_a_named_test_cohort_no_hospital_is_refused_by_name(federation, tmp_path, name):
    """`--test-dir` names the test cohort: a hospital folder named like one is the user's hospital."""
    _cohort(federation / name, "C")
    _cohort(tmp_path / "elsewhere" / "cohort", "T")
    with pytest.raises(DataError, match="looks like the test cohort"):  # no test cohort named
        hospital_folders(federation)
    assert [
        s.name for s in hospital_folders(federation, test_dir=tmp_path / "elsewhere" / "cohort")
    ] == sorted(["krasnodar", "rostov", name])


def test_a_named_test_cohort_inside_the_federation_is_no_hospital(federation):
    """`--test-dir fed/holdout`: the folder is evaluated on, never trained on as a hospital."""
    _cohort(federation / "holdout", "T")
    for named in (federation / "holdout", str(federation / "." / "holdout")):
        assert [s.name for s in hospital_folders(federation, test_dir=named)] == ["krasnodar", "rostov"]
