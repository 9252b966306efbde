"""The synthetic-data utility experiment's small configuration end to end. The earlier-history
parameter of `fit_alone` that its equal-epsilon arms rely on is in
tests/unit/simulations/experiments/test_synth_utility_fit_alone.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genofed.simulations.experiments.synthetic_utility.run import (
    SynthUtilityConfig,
    generator_available,
    run_synth_utility_experiment,
)


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> tuple[SynthUtilityConfig, dict]:
    config = SynthUtilityConfig.small(str(tmp_path_factory.mktemp("synth_utility") / "out"))
    return config, run_synth_utility_experiment(config)


def _kinds() -> list[str]:
    return [k for k in ("reference", "vae", "gan") if generator_available(k) is None]


def test_every_arm_is_measured_at_every_privacy_level(experiment):
    config, results = experiment
    rows = results["rows"]
    assert {"reference", "vae"} <= set(_kinds())
    assert "reference" in config.generators  # mosaics of OUT/cohorts/reference, the small preset's panel
    for epsilon in ("inf", 8.0):
        at = [r for r in rows if r["epsilon"] == epsilon]
        assert [r["arm"] for r in at if r["generator"] is None] == ["real"]
        for kind in _kinds():
            assert {(r["arm"], r["ratio"]) for r in at if r["generator"] == kind} == {
                ("validated", 1.0),
                ("unvalidated", 1.0),
            }
    for row in rows:
        assert 0.0 < row["auc"] < 1.0 and row["error"] == pytest.approx(1.0 - row["accuracy"]), row
    for state in results["generators"].values():
        assert state == "available" or state.startswith("not available")


def test_validation_decides_what_is_used_and_both_spurious_rates_are_recorded(experiment):
    _, results = experiment
    for row in results["rows"]:
        if row["arm"] == "real":
            assert row["n_synthetic"] == 0
            continue
        assert row["generated"] == 32  # ratio 1 x 32 real training patients
        assert 0.0 <= row["spurious_rate_unfiltered"] <= 1.0 and 0.0 <= row["spurious_rate_validated"] <= 1.0
        if row["arm"] == "unvalidated":
            assert row["n_synthetic"] == row["generated"]
        else:
            assert row["n_synthetic"] == (row["generated"] - row["dropped"] if row["passed"] else 0)
    synthetic = [r for r in results["table"] if r["arm"] != "real"]
    assert all(0.0 <= r["rejected_share"] <= 1.0 and 0.0 <= r["pass_rate"] <= 1.0 for r in synthetic)
    assert {r["arm"] for r in results["reductions"]} == {"validated", "unvalidated"}
    assert [r["size"] for r in results["holdout_reference"]] == [
        40
    ]  # real held-out people as the noise floor


def test_dp_arms_spend_the_same_total_epsilon_within_budget(experiment):
    _, results = experiment
    private = [r for r in results["rows"] if r["epsilon"] == 8.0]
    assert private
    for row in private:
        assert row["epsilon_total"] <= 8.0 * (1 + 1e-6)
        assert row["epsilon_total"] > 7.5  # calibrated to spend the budget, not far below it
        if row["arm"] != "real":
            assert 0.0 < row["epsilon_generator"] <= 2.0 * (1 + 1e-6)  # a quarter of the budget
    for row in (r for r in results["rows"] if r["epsilon"] == "inf"):
        assert row["epsilon_total"] is None


def test_report_and_json_are_written_and_a_rerun_reuses_the_pieces(experiment, monkeypatch):
    config, results = experiment
    out = Path(config.out_dir)
    report = (out / "report.md").read_text()
    for text in (
        "## Targets",
        "18.0 %",
        "11.0 %",
        "12.0 %",
        "## no DP",
        "## epsilon 8",
        "## Error reduction",
        "## Commentary",
    ):
        assert text in report, text
    assert (out / "synth_utility_error.png").stat().st_size > 1000
    saved = json.loads((out / "synth_utility.json").read_text())
    assert saved["rows"] == json.loads(json.dumps(results["rows"]))

    def no_training(*args, **kwargs):
        raise AssertionError("a finished piece was recomputed")

    monkeypatch.setattr(
        "genofed.simulations.experiments.synthetic_utility.site_generator.generate_validated", no_training
    )
    monkeypatch.setattr("genofed.simulations.experiments.synthetic_utility.arms.fit_alone", no_training)
    again = run_synth_utility_experiment(config)
    assert again["rows"] == saved["rows"]


def test_a_missing_generator_is_reported_not_fatal(experiment, monkeypatch):
    config, _ = experiment
    from genofed.simulations.experiments.synthetic_utility import run as synth_utility

    assert generator_available("no-such-generator") is not None
    monkeypatch.setattr(
        synth_utility,
        "generator_available",
        lambda kind: "ModuleNotFoundError: gan.py" if kind == "gan" else None,
    )
    results = run_synth_utility_experiment(config)
    assert results["generators"]["gan"].startswith("not available")
    assert not [r for r in results["rows"] if r["generator"] == "gan"]
    assert "gan: not available" in (Path(config.out_dir) / "report.md").read_text()
