"""The transfer-learning experiment's small configuration, end to end (real Flower federations),
and what it proves about fine-tuning through the federated path. Its setup is unit-tested in
tests/unit/simulations/experiments/test_transfer_setup.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from genofed.common.scoring.model_file import load_pretrained
from genofed.simulations.experiments.transfer import run as transfer_module
from genofed.simulations.experiments.transfer.run import TransferConfig, run_transfer_experiment

ARMS = {"scratch-local", "near-local", "far-local", "scratch-federated", "near-federated", "pooled"}


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> tuple[TransferConfig, dict]:
    config = TransferConfig.small(str(tmp_path_factory.mktemp("transfer") / "out"))
    return config, run_transfer_experiment(config)


def test_every_arm_is_measured_at_every_privacy_level(experiment):
    config, results = experiment
    rows = results["rows"]
    assert {r["arm"] for r in rows} == ARMS
    for epsilon in ("inf", 3.0):
        arms = {r["arm"] for r in rows if r["epsilon"] == epsilon}
        assert ARMS - {"pooled"} <= arms, epsilon
    for row in rows:
        assert 0.0 < row["auc"] < 1.0 and 0.0 <= row["accuracy"] <= 1.0, row
    # site-alone arms: one row per clinic (3 in the small preset); federated arms: one per run
    scratch = [r for r in rows if r["arm"] == "scratch-local" and r["epsilon"] == 3.0]
    assert sorted(r["site"] for r in scratch) == ["astrakhan", "elista", "rostov"]
    assert len([r for r in rows if r["arm"] == "near-federated"]) == 2


def test_modes_are_compared_by_privately_trained_parameters(experiment):
    _, results = experiment
    modes = {
        (r["mode"], r["trainable_parameters"])
        for r in results["table"]
        if r["arm"] == "near-local" and r["epsilon"] == 3.0
    }
    counts = dict(modes)
    assert set(counts) == {"full", "partial", "frozen"}
    assert counts["full"] > counts["partial"] > counts["frozen"] == 17  # hidden 16 + bias


def test_report_holds_the_tables_the_gains_and_the_plot(experiment):
    config, results = experiment
    out = Path(config.out_dir)
    report = (out / "report.md").read_text()
    for heading in (
        "## Gain of transfer over scratch",
        "## No DP",
        "## epsilon 3 per site",
        "## How many parameters",
        "## Targets",
        "+13.2 points",
    ):
        assert heading in report
    assert (out / "transfer_auc.png").stat().st_size > 1000
    saved = json.loads((out / "transfer.json").read_text())
    assert saved["rows"] == json.loads(json.dumps(results["rows"]))
    gains = {(g["source"], g["epsilon"]) for g in results["gains"]}
    assert gains == {("near", "inf"), ("far", "inf"), ("near", 3.0), ("far", 3.0)}


def test_federated_frozen_fine_tuning_leaves_the_encoder_as_pretrained(experiment):
    """Through the real ClientApp/ServerApp: with finetune=frozen every aggregated update keeps
    the pretrained encoder and hidden layer bit-identical; only the output layer moved."""
    config, _ = experiment
    out = Path(config.out_dir)
    near = load_pretrained(out / "models" / "near.pt")
    run = out / "federations" / "n40-seed1-near-frozen-eps3"
    final = torch.load(run / "model.pt", weights_only=True)["state_dict"]
    for name, value in near.state_dict.items():
        if name.startswith("head.2."):
            assert not torch.equal(final[name], value), name
        else:
            assert torch.equal(final[name], value), name
    results = json.loads((run / "results.json").read_text())
    assert results["pretrained"]["content_hash"] == near.content_hash
    assert results["finetune"] == "frozen" and results["trainable_parameters"] == 17
    assert all(0 < eps <= 3.0 + 1e-9 for eps in results["epsilon"].values())


def test_a_rerun_reuses_finished_pieces(experiment, monkeypatch):
    config, results = experiment

    def refuse(*_args, **_kwargs):
        raise AssertionError("a finished federation was run again")

    monkeypatch.setattr("genofed.simulations.local.simulate.simulate", refuse)
    monkeypatch.setattr(transfer_module, "fit_alone", refuse)
    again = run_transfer_experiment(config)
    assert again["rows"] == results["rows"]
