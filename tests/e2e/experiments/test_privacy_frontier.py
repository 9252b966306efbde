"""The privacy-frontier experiment on the small preset, end to end: real Flower federations of
two designs at two privacy levels, the references on the same splits, the report, the plot, and
a rerun that reuses every finished piece. Its pure parts are unit-tested in
tests/unit/simulations/experiments/test_privacy_frontier_summary.py."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from genofed.simulations.experiments.privacy_frontier import references as references_module
from genofed.simulations.experiments.privacy_frontier.config import FederationSpec, FrontierConfig
from genofed.simulations.experiments.privacy_frontier.run import run_frontier_experiment
from genofed.simulations.local import plain_dp_logistic

DESIGNS = ("logistic", "logistic-genes")


@pytest.fixture(scope="module")
def experiment(tmp_path_factory, simulated_cohorts) -> tuple[FrontierConfig, dict]:
    folder = simulated_cohorts(42)
    config = FrontierConfig.small(str(tmp_path_factory.mktemp("frontier") / "out"), str(folder))
    config = replace(config, designs=DESIGNS)
    return config, run_frontier_experiment(config)


def _name(config: FrontierConfig) -> str:
    """The federation's name: its folder's (the fixture's `cohorts` folder: its parent's)."""
    (federation,) = config.federations
    assert federation == FederationSpec.from_folder(federation.data_dir)
    return federation.name


def test_every_design_runs_at_every_privacy_level(experiment):
    config, results = experiment
    saved = json.loads((Path(config.out_dir) / "results.json").read_text())
    assert saved["runs"] == json.loads(json.dumps(results["runs"]))
    assert saved["skipped"] == []
    cells = {(r["design"], r["epsilon"], r["seed"]) for r in saved["runs"]}
    assert cells == {(d, e, 1) for d in DESIGNS for e in (3.0, "inf")}
    for run in saved["runs"]:
        assert run["federation"] == _name(config) and 0.5 < run["test_auc"] < 1.0, run
        assert run["wall_seconds"] > 0 and run["model"] == "logistic"
        # what the run trained with is recorded apart from the design's settings: the rule filled lr
        assert run["resolved_id"] and run["resolved_id"] != run["settings_id"]
        assert set(run["site_epsilons"]) == {"rostov", "astrakhan", "elista"}
        spent = [e["epsilon"] for e in run["site_epsilons"].values()]
        assert all(e is None for e in spent) if run["epsilon"] == "inf" else all(0 < e <= 3.0 for e in spent)
    genes = [r for r in saved["runs"] if r["design"] == "logistic-genes"]
    assert all(0 < r["variants_read"] < saved["federations"][_name(config)]["variants"] for r in genes)
    # the default design's runs carry each hospital's local adaptation of their final model
    for run in saved["runs"]:
        adapted = run.get("adapted")
        assert (adapted is not None) == (run["design"] == "logistic"), run
        assert adapted is None or (set(adapted) == set(run["site_epsilons"]) and all(
            0.5 < auc < 1.0 for auc in adapted.values()))  # fmt: skip


def test_references_are_measured_on_the_same_splits(experiment):
    _, results = experiment
    kinds = {(r["reference"], r["epsilon"]) for r in results["references"]}
    assert kinds == {("pooled", "inf"), ("alone", "inf"), ("dp-logistic", 3.0), ("dp-logistic", "inf")}
    alone = {r["site"]: r for r in results["references"] if r["reference"] == "alone"}
    assert set(alone) == {"rostov", "astrakhan", "elista"}
    assert all(0 < r["test_auc"] < 1 and r["train"] > 0 for r in alone.values())
    dp = [r for r in results["references"] if r["reference"] == "dp-logistic" and r["epsilon"] == 3.0]
    assert dp[0]["noise_multiplier"] > 0 and dp[0]["epsilon_spent"] <= 3.0 + 1e-6


def test_report_holds_the_tables_the_targets_and_the_plot(experiment):
    config, results = experiment
    out = Path(config.out_dir)
    report = (out / "report.md").read_text()
    name = _name(config)
    for text in (
        f"## Federation `{name}`",
        "plain DP logistic regression",
        "pooled logistic regression, no DP",
        "## Targets",
        "## Run time",
        f"frontier_{name}.png",
    ):
        assert text in report
    assert (out / f"frontier_{name}.png").stat().st_size > 1000
    assert {t["target"].split(":")[0] for t in results["targets"]} >= {
        "default design, robust, from scratch",
        "every hospital gains",
        "every hospital gains, with its local adaptation",
    }
    assert results["timing"]["full_grid_seconds_estimate"] > 0


def test_a_rerun_reuses_every_finished_piece(experiment, monkeypatch):
    config, results = experiment

    def refuse(*_args, **_kwargs):
        raise AssertionError("a finished piece was computed again")

    monkeypatch.setattr("genofed.simulations.local.simulate.simulate", refuse)
    monkeypatch.setattr(plain_dp_logistic, "federate", refuse)
    monkeypatch.setattr(references_module, "logistic_auc", refuse)
    again = run_frontier_experiment(config)
    assert again["runs"] == results["runs"] and again["references"] == results["references"]
    assert again["skipped"] == []


def test_an_interrupted_run_starts_afresh_instead_of_being_refused(experiment):
    """A run killed mid-way leaves its hospitals' ledgers with the rounds it trained; a rerun in
    the same folder would have every hospital refuse those rounds (noise reuse), so the resumed
    experiment must remove the unfinished run and train it again from round 1."""
    config, results = experiment
    out = Path(config.out_dir)
    name = _name(config)
    run = sorted(p for p in (out / "runs" / name).iterdir() if p.name.startswith("logistic-eps3"))[0]
    (out / "pieces" / name / f"{run.name}.json").unlink()
    (run / "results.json").unlink()  # killed before it finished: ledgers and checkpoints remain
    assert any(run.rglob("privacy-ledger.json"))
    again = run_frontier_experiment(config)
    rerun = json.loads((run / "results.json").read_text())
    assert not rerun.get("refusals")
    assert again["skipped"] == []
    assert len(again["runs"]) == len(results["runs"])
