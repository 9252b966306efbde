"""The federation end to end on Flower's real simulation engine (Ray), small preset:
results.json complete, epsilon cumulative and within budget, budget refusal, resume."""

from __future__ import annotations

import math
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from genofed.server.app import NothingTrained
from genofed.server.checkpoint import latest_checkpoint
from genofed.server.results import RESULTS
from genofed.server.settings import RunSettings
from genofed.simulations.local.simulate import simulate

DESIGN_FIELDS = (
    "test_auc",
    "rounds",
    "epsilon",
    "delta",
    "local_only_auc",
    "pooled_auc",
    "bayes_auc",
    "wall_seconds",
    "config",
)


@pytest.fixture(scope="module")
def federation(simulated_cohorts) -> Path:
    """The session's small cohorts, seed 5 (read only: runs keep their ledgers in their out dir;
    the test that breaks a hospital's data breaks a copy)."""
    return simulated_cohorts(5)


def _settings(federation: Path, out: Path, **overrides) -> RunSettings:
    base = RunSettings(
        data_dir=str(federation),
        out_dir=str(out),
        rounds=3,
        local_epochs=3,
        epsilon=8.0,
        batch_size=16,
        seed=5,
        quiet=True,
        ledger_dir=str(out / "ledgers"),
    )
    return replace(base, **overrides)


@pytest.fixture(scope="module")
def dp_run(federation, tmp_path_factory) -> tuple[RunSettings, dict]:
    settings = _settings(federation, tmp_path_factory.mktemp("run") / "dp")
    return settings, simulate(settings)


def test_results_are_complete(dp_run):
    settings, results = dp_run
    for name in DESIGN_FIELDS:
        assert name in results, name
    assert [r["round"] for r in results["rounds"]] == [0, 1, 2, 3]
    for record in results["rounds"]:
        assert {"round", "test_auc", "train_loss"} <= set(record)
    assert set(results["epsilon"]) == set(results["local_only_auc"]) == {"rostov", "astrakhan", "elista"}
    assert 0.5 < results["bayes_auc"] <= 1 and 0 <= results["pooled_auc"] <= 1
    # each hospital's `genofed adapt` of the final (logistic) model, on the same test cohort
    assert set(results["adapted_auc"]) == set(results["local_only_auc"])
    assert all(0 < auc < 1 for auc in results["adapted_auc"].values())
    assert "adapted at the hospital" in (Path(settings.out_dir) / "report.md").read_text()
    assert (Path(settings.out_dir) / "model.pt").is_file()
    # round 0's (the start model) and the latest two: a resume reads no other (server/checkpoint.py)
    kept = sorted(p.name for p in (Path(settings.out_dir) / "checkpoints").glob("round-*.pt"))
    assert kept == ["round-0000.pt", "round-0002.pt", "round-0003.pt"]


def test_hospitals_release_a_noisy_evaluation_of_the_final_model_and_its_cost(dp_run):
    settings, results = dp_run
    evaluation = results["site_evaluation"]
    assert evaluation["round"] == settings.rounds  # one evaluation per run by default: the final model
    assert set(evaluation["sites"]) == set(results["epsilon"])
    for site in evaluation["sites"].values():
        assert site["noise_per_count"] == pytest.approx(max(2.0, 12.0 / settings.epsilon))
        assert site["auc_noise_sd"] is None or site["auc_noise_sd"] > 0
    assert all(record["train_loss"] is None for record in results["rounds"])  # no loss is released
    for name, cost in results["release_costs"].items():
        assert (cost["rounds"], cost["evaluations"]) == (settings.rounds, 1)
        assert (
            0 < cost["evaluation"] and cost["training"] < cost["run"] < cost["training"] + cost["evaluation"]
        )
        assert cost["run"] == pytest.approx(results["epsilon"][name], rel=1e-6)  # the ledger's own figure
        assert results["sites"][name]["cases"] > 0  # filled in by the simulator, not released
    from genofed.server.report import write_report

    text = write_report(Path(settings.out_dir), results).read_text()
    assert "**What each release cost**" in text and "1 evaluation(s)" in text


def test_epsilon_is_cumulative_and_within_budget(dp_run):
    settings, results = dp_run
    per_round = [r["epsilon_max"] for r in results["rounds"][1:]]
    assert per_round == sorted(per_round) and per_round[0] < per_round[-1]
    for site, epsilon in results["epsilon"].items():
        assert 0.7 * settings.epsilon < epsilon <= settings.epsilon * (1 + 1e-6), site  # spent, never over


def test_federated_model_beats_chance(federation, tmp_path):
    """Without privacy, 240 patients at three clinics learn a model clearly better than chance
    (the test cohort has 200 people: AUC's standard error is about 0.04)."""
    results = simulate(_settings(federation, tmp_path / "plain", epsilon=math.inf, lr=0.3), references=False)
    assert results["epsilon_budget"] is None and results["delta"] is None
    assert results["test_auc"] > 0.7


def test_exhausted_budget_is_refused_and_nothing_is_trained(dp_run, tmp_path):
    """A second run on the same ledgers, with a lifetime budget (5) below what each site has
    already spent (about 8): every site refuses before training. `genofed simulate` fails naming
    the refusals and writes no model, results nor report (it used to exit 0 with the untrained
    model presented as a federated one); an experiment records the run, whose model did not move."""
    settings, _results = dp_run
    again = replace(settings, out_dir=str(tmp_path / "again"), rounds=1, epsilon=5.0)
    with pytest.raises(NothingTrained, match="no hospital trained in any of the run's 1 round") as failed:
        simulate(again, references=False)
    assert "privacy budget exhausted" in str(failed.value)
    assert all(site in str(failed.value) for site in ("rostov", "astrakhan", "elista"))
    assert not Path(again.out_dir).exists()  # nothing trained: RUN is taken back, as after a failed start

    # with rounds left the run stops after the first: each refusal would repeat in every round;
    # nothing trained, so RUN keeps no round of it and the advice is genofed simulate's own
    longer = replace(again, out_dir=str(tmp_path / "longer"), rounds=50)
    with pytest.raises(NothingTrained, match="round 1 of 50: every hospital refused") as stopped:
        simulate(longer, references=False)
    assert "run genofed simulate again" in str(stopped.value) and "resume=true" not in str(stopped.value)
    assert not (Path(longer.out_dir) / "checkpoints" / "round-0001.pt").exists()

    recorded = replace(again, out_dir=str(tmp_path / "recorded"))
    results = simulate(recorded, references=False, require_training=False)
    assert results["rounds"][1]["participants"] == []
    assert set(results["rounds"][1]["refused"]) == {"rostov", "astrakhan", "elista"}
    assert all("privacy budget exhausted" in reason for reason in results["refusals"]["1"].values())
    first = latest_checkpoint(Path(recorded.out_dir) / "checkpoints")
    assert first.round == 1
    initial = torch.load(Path(recorded.out_dir) / "checkpoints" / "round-0000.pt", weights_only=False)[
        "state_dict"
    ]
    assert all(torch.equal(initial[k], first.state_dict[k]) for k in initial)


class _Crash(Exception):
    pass


@pytest.mark.parametrize("strategy", ["fedavg", "fedadam"])
def test_resume_after_a_crash_reaches_the_uninterrupted_result(federation, tmp_path, strategy):
    """FedAdam also checks that the server optimizer's moments come back from the checkpoint."""
    whole = simulate(_settings(federation, tmp_path / "whole", strategy=strategy), references=False)
    # every hospital trains every round (FedAdam's float64 aggregate was refused from round 2 on)
    assert not any(r.get("refused") for r in whole["rounds"]), whole["rounds"]

    crashed = _settings(federation, tmp_path / "crashed", strategy=strategy)

    def crash_after_round_2(message: str) -> None:
        if message.startswith("round 2/"):
            raise _Crash(message)

    with pytest.raises(_Crash):  # Flower re-raises what the ServerApp's thread raised
        simulate(crashed, progress=crash_after_round_2, references=False)
    assert latest_checkpoint(Path(crashed.out_dir) / "checkpoints").round == 2

    resumed = simulate(replace(crashed, resume=True), references=False)
    assert [r["round"] for r in resumed["rounds"]] == [0, 1, 2, 3]
    assert math.isclose(resumed["test_auc"], whole["test_auc"], abs_tol=1e-9)
    final_whole = torch.load(Path(tmp_path / "whole" / "model.pt"), weights_only=False)["state_dict"]
    final_resumed = torch.load(Path(crashed.out_dir) / "model.pt", weights_only=False)["state_dict"]
    for key in final_whole:
        torch.testing.assert_close(final_resumed[key], final_whole[key], rtol=0, atol=1e-6)
    assert resumed["epsilon"] == pytest.approx(whole["epsilon"])
    # the run's wall time counts the crashed launch (up to its round-2 checkpoint) too
    assert whole["launches"] == 1 and resumed["launches"] == 2
    assert 0 < resumed["wall_seconds_before"] < resumed["wall_seconds"]


def test_a_simulation_stopped_after_its_federation_is_unfinished_and_resume_finishes_it(
    federation, tmp_path, monkeypatch
):
    """results.json marks a finished run: a simulation stopped between its federation and its end
    (here in its last step; in practice Ctrl-C or a crash while the reference models train) leaves
    the ServerApp's federation-results.json, not a results.json that looks complete, and --resume
    finishes the run from its last checkpoint without training again."""
    import genofed.simulations.local.simulate as simulate_module

    settings = _settings(federation, tmp_path / "stopped", rounds=2)
    real_bayes_auc = simulate_module._bayes_auc

    def crash(_data_dir):
        raise _Crash("after the federation")

    monkeypatch.setattr(simulate_module, "_bayes_auc", crash)
    with pytest.raises(_Crash):
        simulate(settings, references=False)
    out = Path(settings.out_dir)
    held = {p.name for p in out.iterdir()}
    assert "federation-results.json" in held and RESULTS not in held and "report.md" not in held

    monkeypatch.setattr(simulate_module, "_bayes_auc", real_bayes_auc)
    ledger = (out / "ledgers").glob("*.json")
    spent_before = {p.name: p.read_bytes() for p in ledger}
    finished = simulate(replace(settings, resume=True), references=False)
    held = {p.name for p in out.iterdir()}
    assert RESULTS in held and "report.md" in held and "federation-results.json" not in held
    assert [r["round"] for r in finished["rounds"]] == [0, 1, 2] and finished["launches"] == 2
    # nothing trained again: no hospital's ledger changed
    assert {p.name: p.read_bytes() for p in (out / "ledgers").glob("*.json")} == spent_before


def test_a_hospital_with_broken_data_drops_out_and_the_others_go_on(federation, tmp_path):
    broken = tmp_path / "cohorts"
    shutil.copytree(federation, broken)
    phenotypes = broken / "elista" / "phenotypes.csv"
    lines = phenotypes.read_text().splitlines()
    sample_id = lines[1].split(",")[0]
    lines[1] = f"{sample_id},maybe,F,40"
    phenotypes.write_text("\n".join(lines) + "\n")

    results = simulate(_settings(broken, tmp_path / "run", rounds=2, strategy="fedprox"), references=False)
    assert results["strategy"] == "fedprox" and results["test_auc"] is not None
    for record in results["rounds"][1:]:
        assert record["participants"] == ["astrakhan", "rostov"]
        assert len(record["refused"]) == 1
    reasons = [reason for by_site in results["refusals"].values() for reason in by_site.values()]
    assert reasons and all("failed validation" in r and sample_id not in r for r in reasons)
    assert set(results["epsilon"]) == {"astrakhan", "rostov"}
