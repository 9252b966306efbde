"""The genotype-augmentation experiment's small configuration end to end and its CLI. The `augment`
passthrough of `fit_alone` it relies on is in
tests/unit/simulations/experiments/test_augment_experiment_fit_alone.py."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from genofed.cli.main import main
from genofed.simulations.experiments.augmentation.run import (
    ARMS,
    DP_REFUSED,
    AugmentConfig,
    run_augment_experiment,
)

MIXING = {"mix", "mixup", "all+mix"}


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> tuple[AugmentConfig, dict]:
    config = AugmentConfig.small(str(tmp_path_factory.mktemp("augment") / "out"))
    return config, run_augment_experiment(config)


def test_files_are_written_and_the_report_has_the_papers_figures(experiment):
    config, results = experiment
    out = Path(config.out_dir)
    assert (out / "augment.json").is_file() and (out / "augment_gain.png").is_file()
    saved = json.loads((out / "augment.json").read_text())
    assert len(saved["rows"]) == len(results["rows"])
    report = (out / "report.md").read_text()
    assert "0.71" in report and "0.82" in report and "## Targets" in report and "augment_gain.png" in report
    assert "n/a under DP" in report and "## Where the gain vanishes" in report


def test_every_arm_is_present_and_mixing_is_na_under_dp(experiment):
    _, results = experiment
    rows = results["rows"]
    plain = {r["arm"]: r for r in rows if r["epsilon"] == "inf"}
    private = {r["arm"]: r for r in rows if r["epsilon"] == 8.0}
    assert set(plain) == set(private) == set(ARMS) | {"logistic", "combined"}
    assert all(r["status"] == "ok" and r["auc"] is not None for r in plain.values())
    for arm, row in private.items():
        if arm in MIXING:
            assert row["status"] == "n/a under DP" and row["reason"] == DP_REFUSED and "auc" not in row
        elif arm in ("logistic", "combined"):
            assert row["status"] == "n/a under DP" and "without DP" in row["reason"]
        else:
            assert row["status"] == "ok" and row["auc"] is not None


def test_dp_arms_spend_exactly_the_none_arms_budget(experiment):
    _, results = experiment
    private = [r for r in results["rows"] if r["epsilon"] == 8.0 and r["status"] == "ok"]
    none = next(r for r in private if r["arm"] == "none")
    assert none["noise_multiplier"] > 0 and 0 < none["epsilon_spent"] <= 8.0 * (1 + 1e-6)
    assert len(private) == len(ARMS) - len(MIXING)
    for row in private:
        assert math.isclose(row["noise_multiplier"], none["noise_multiplier"], rel_tol=1e-12)
        assert math.isclose(row["epsilon_spent"], none["epsilon_spent"], rel_tol=1e-12)
    privacy = results["targets"]["privacy"]
    assert privacy["met"] and privacy["dp_arms_checked"] == len(private) - 1 and not privacy["mismatches"]


def test_robustness_columns_and_gains_are_reported(experiment):
    _, results = experiment
    for row in results["rows"]:
        if row["status"] == "ok":
            for key in ("auc", "auc_err0.01", "auc_err0.05"):
                assert 0.0 <= row[key] <= 1.0
    gains = {(g["arm"], g["epsilon"]) for g in results["gains"]}
    assert ("noise+mutate+missing", 8.0) in gains and ("mix", "inf") in gains and ("mix", 8.0) not in gains
    assert ("logistic", "inf") in gains and ("combined", "inf") in gains
    target = results["targets"]
    assert target["gain"]["size"] == 40 and target["gain"]["best_arm"] in ARMS
    assert target["robustness"]["error_rate"] == 0.05 and target["robustness"]["gain"] is not None
    assert {(v["arm"], v["epsilon"]) for v in results["vanishing"]} >= {("noise", "inf"), ("noise", 8.0)}


def test_a_rerun_reuses_the_pieces_and_the_cli_prints_the_targets(experiment, capsys):
    config, results = experiment
    assert main(["experiment", "augmentation", "--small", "--out", config.out_dir, "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "report.md" in printed and "target +0.05" in printed and "privacy" in printed
    again = json.loads((Path(config.out_dir) / "augment.json").read_text())
    assert again["rows"] == json.loads(json.dumps(results["rows"]))  # the cached pieces, not a retrain
    assert torch.get_num_threads() >= 1
