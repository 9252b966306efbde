"""The privacy frontier's reference pieces (pooled, each hospital alone, the plain DP logistic
regression) record the data they were computed from: after the federation's data changes (the same
folder simulated again, or another folder given), a piece of the old data is computed again, with
a progress line saying so, instead of mixing two datasets in one report."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pytest

from genofed.server.settings import RunSettings
from genofed.simulations.experiments.privacy_frontier import run
from genofed.simulations.experiments.privacy_frontier.run import (
    _drop_if_other_settings,
    _references,
    _Splits,
    data_fingerprint,
)

VARIANTS = ["1:100:A:G", "1:200:C:T"]


def _cohort(folder, labels):
    folder.mkdir(parents=True)
    rows = [f"S{i},{i % 3},{(i + 1) % 3}" for i in range(len(labels))]
    (folder / "genotypes.csv").write_text("\n".join(["sample_id," + ",".join(VARIANTS), *rows]) + "\n")
    pheno = [f"S{i},{label}" for i, label in enumerate(labels)]
    (folder / "phenotypes.csv").write_text("\n".join(["sample_id,label", *pheno]) + "\n")


def _federation(root, labels=(0, 1, 0, 1)):
    (root).mkdir(parents=True)
    (root / "panel.tsv").write_text("variant_id\tfreq\n" + "".join(f"{v}\t0.3\n" for v in VARIANTS))
    _cohort(root / "hospital_a", labels)
    _cohort(root / "hospital_b", (1, 0, 1, 0))
    _cohort(root / "test", (0, 1))
    return root


@pytest.fixture
def counted(monkeypatch):
    """The expensive reference functions replaced by counters: what each computed, in order."""
    calls = []

    def nonprivate(name, seed, splits, say):
        calls.append(("references", str(splits.folder)))
        return [{"federation": name, "seed": seed, "reference": "pooled", "site": None, "test_auc": 0.7}]

    def dp(name, seed, epsilon, splits, config, say):
        calls.append(("dp", str(splits.folder)))
        return [{"federation": name, "seed": seed, "reference": "dp-logistic", "epsilon": epsilon}]

    monkeypatch.setattr(run, "_nonprivate_rows", nonprivate)
    monkeypatch.setattr(run, "_dp_logistic_row", dp)
    return calls


CONFIG = SimpleNamespace(epsilons=[3.0], reference_rounds=10)


def _run(out, folder, said):
    return _references(out, "default", _Splits(folder, 1, RunSettings()), CONFIG, said.append)


def test_the_references_of_unchanged_data_are_read_back(tmp_path, counted):
    folder, said = _federation(tmp_path / "data"), []
    first = _run(tmp_path / "out", folder, said)
    assert len(counted) == 2
    assert _run(tmp_path / "out", folder, said) == first
    assert len(counted) == 2 and len(said) == 0
    assert {row["data_id"] for row in first} == {data_fingerprint(folder, RunSettings())}


def test_the_references_are_computed_again_after_the_data_changes(tmp_path, counted):
    folder, said = _federation(tmp_path / "data"), []
    before = _run(tmp_path / "out", folder, said)
    shutil.rmtree(folder)  # `simulate-cohorts --force` into the same folder, another seed
    _federation(folder, labels=(1, 1, 0, 0))
    after = _run(tmp_path / "out", folder, said)
    assert len(counted) == 4
    assert {row["data_id"] for row in after} != {row["data_id"] for row in before}
    assert len(said) == 2 and all("computed from other data" in line for line in said)
    assert any(line.startswith("references-seed1") for line in said)
    assert any(line.startswith("dp-logistic-r10-eps3-seed1") for line in said)
    said.clear()
    _run(tmp_path / "out", folder, said)  # and then read back again
    assert len(counted) == 4 and not said


def test_the_references_are_computed_again_for_another_folder(tmp_path, counted):
    first, said = _federation(tmp_path / "one"), []
    other = _federation(tmp_path / "two", labels=(0, 0, 1, 1))
    _run(tmp_path / "out", first, said)
    _run(tmp_path / "out", other, said)
    assert [folder for _, folder in counted] == [str(first)] * 2 + [str(other)] * 2


def test_a_test_cohort_change_alone_changes_the_fingerprint(tmp_path):
    folder = _federation(tmp_path / "data")
    before = data_fingerprint(folder, RunSettings())
    (folder / "test" / "phenotypes.csv").write_text("sample_id,label\nS0,1\nS1,0\n")
    assert data_fingerprint(folder, RunSettings()) != before


def test_a_reference_piece_without_a_data_record_is_computed_again(tmp_path, counted):
    folder, said = _federation(tmp_path / "data"), []
    piece = tmp_path / "out" / "pieces" / "default" / "references-seed1.json"
    piece.parent.mkdir(parents=True)
    piece.write_text(json.dumps([{"federation": "default", "reference": "pooled", "test_auc": 0.9}]))
    rows = _run(tmp_path / "out", folder, said)
    assert ("references", str(folder)) in counted
    assert "did not record" in said[0]
    assert all(row.get("test_auc") != 0.9 for row in rows)


def test_a_federated_piece_trained_on_other_data_is_removed_with_its_run(tmp_path):
    settings = RunSettings(prior="source.pt")
    piece, run_dir = tmp_path / "piece.json", tmp_path / "run"
    run_dir.mkdir()
    row = {"settings_id": settings.experiment_id(), "resolved_id": "r", "data_id": "old-data"}
    piece.write_text(json.dumps([row]))
    _drop_if_other_settings(piece, run_dir, settings, "r", lambda _: None, "old-data")
    assert piece.exists()
    said = []
    _drop_if_other_settings(piece, run_dir, settings, "r", said.append, "new-data")
    assert not piece.exists() and not run_dir.exists()
    assert "trained on other data" in said[0]
