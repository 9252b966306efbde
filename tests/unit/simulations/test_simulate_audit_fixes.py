"""Defects an outside audit found in the simulation mode, each pinned by a test.

1. A hospital never sampled at --fraction-train below 1 was reported, and used in the references,
   as a training source (its model card row said "training", its epsilon "not measured").
2. The "alone, same privacy" reference trained without the run's --augment.
3. A run where every hospital refused advised `resume=true` (flwr run's syntax) in `genofed
   simulate`'s error, and kept a checkpoint of a round nobody trained in.

Imports of what the fixes added are inside the tests, so that each test fails on its own without
its fix.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from helpers.mixed_federation import write_mixed_federation

from genofed.server.report import render_markdown
from genofed.server.report.reading import absent_sites, site_epsilon, site_names
from genofed.server.report.summary import format_summary, headline
from genofed.server.round_log import EveryHospitalRefused, NothingTrained
from genofed.server.settings import RunSettings
from genofed.simulations.local import baselines
from genofed.simulations.local import simulate as simulate_module
from genofed.simulations.local.simulate import simulate

NEVER_SAMPLED = "never sampled in 2 rounds at fraction-train 0.3"


def _fraction_run() -> dict[str, Any]:
    """The audit's x13 in short: --fraction-train 0.3, 2 rounds; astrakhan introduced itself (so it
    is in `sites`) but was never drawn: elista and rostov trained in both rounds."""
    return {
        "test_auc": 0.656,
        "epsilon_budget": 8.0,
        "delta": 1e-5,
        "config": {"fraction-train": 0.3, "rounds": 2},
        "epsilon": {"elista": 7.94, "rostov": 7.97},
        "rounds": [
            {"round": 0, "participants": [], "refused": []},
            {"round": 1, "participants": ["elista", "rostov"], "refused": []},
            {"round": 2, "participants": ["elista", "rostov"], "refused": []},
        ],
        "refusals": {},
        "sites": {
            "astrakhan": {"samples": 80, "train": 64, "validation": 16, "epsilon": None},
            "elista": {"samples": 60, "train": 48, "validation": 12, "epsilon": 7.94},
            "rostov": {"samples": 100, "train": 80, "validation": 20, "epsilon": 7.97},
        },
        "release_costs": {"astrakhan": {"training": 0.0, "evaluation": 0.0, "run": 0.0}},
    }


# 1. a hospital that never trained


def test_a_never_sampled_hospital_is_absent_with_why():
    assert absent_sites(_fraction_run()) == {"astrakhan": NEVER_SAMPLED}
    # an old results.json, whose rounds do not say who trained: nobody is taken for absent
    old = _fraction_run()
    for record in old["rounds"]:
        del record["participants"]
    assert absent_sites(old) == {} and "astrakhan" in site_names(old)


def test_a_hospital_sampled_that_refused_every_round_is_absent_with_its_reason():
    results = _fraction_run()
    results["rounds"][1]["refused"] = ["astrakhan"]
    results["refusals"] = {"1": {"astrakhan": "privacy budget exhausted"}}
    assert absent_sites(results) == {"astrakhan": "privacy budget exhausted"}


def test_a_never_sampled_hospital_is_no_training_source_in_the_report():
    results = _fraction_run()
    text = render_markdown(results, {})
    card = text[text.index("## Model card") : text.index("**Limitations:**")]
    assert "| astrakhan | training" not in card
    assert f"- astrakhan: {NEVER_SAMPLED}" in card
    assert "astrakhan" not in site_names(results)
    assert "did not take part (astrakhan)" in headline(results)
    assert f"astrakhan: {NEVER_SAMPLED}" in format_summary(results)


def test_a_never_sampled_hospital_spent_nothing_not_an_unmeasured_amount():
    assert site_epsilon(_fraction_run(), "astrakhan") == 0.0


def test_the_references_use_only_the_hospitals_that_trained():
    """The pooled and alone references stand for the federation's patients: astrakhan gave none."""
    from genofed.simulations.local.simulate import trained_hospitals

    assert trained_hospitals(_fraction_run()) == {"elista", "rostov"}


# 2. --augment in the "alone, same privacy" reference


class _Cohort:
    """A test cohort of two controls and two cases whose risks tell the fit they come from (fits are
    numbered in order): the first fit ranks them with AUC 0.75, any later one with AUC 1."""

    labels = np.array([0.0, 0.0, 1.0, 1.0])

    def predict(self, _config: Any, weights: Any) -> np.ndarray:
        return np.array([0.1, 0.6 if weights == 1 else 0.2, 0.5, 0.9])


def _recording_fits(monkeypatch) -> list[dict[str, Any]]:
    """`fit_alone` replaced by one that records its keyword arguments and returns its call number."""
    calls: list[dict[str, Any]] = []

    def fit(x, y, settings, config, name, start=None, **kwargs):
        calls.append({"name": name, **kwargs})
        return len(calls)

    monkeypatch.setattr(baselines, "fit_alone", fit)
    return calls


def _site() -> Any:
    return SimpleNamespace(train_x=np.zeros((4, 2), np.float32), train_y=np.array([0, 1, 0, 1]))


@pytest.mark.parametrize("epsilon", [8.0, float("inf")])
def test_the_alone_same_privacy_reference_trains_with_the_hospital_s_augmentation(monkeypatch, epsilon):
    calls = _recording_fits(monkeypatch)
    augment = object()
    settings = RunSettings(data_dir="d", out_dir="o", epsilon=epsilon)
    refs = baselines.train_references(
        {"elista": _site()},
        _Cohort(),  # type: ignore[arg-type]
        settings,
        # the network: a logistic run's references without privacy are the plain regression
        # (tests/unit/simulations/local/test_classical_references.py), which `fit_alone` does not train
        SimpleNamespace(architecture="network"),  # type: ignore[arg-type]
        augments={"elista": augment},  # type: ignore[dict-item]
    )
    alone = [c for c in calls if c["name"] == "elista"]
    assert [c.get("augment") for c in alone] == [None, augment]  # no privacy: plain; same privacy: as trained
    assert refs.local_only_auc == {"elista": 1.0} and refs.local_only_nonprivate_auc == {"elista": 0.75}
    assert all(c.get("augment") is None for c in calls if c["name"] == "pooled")


def test_each_hospital_s_augmentation_is_the_one_its_clientapp_trains_with(tmp_path):
    """The run's --augment, resolved per hospital as `site_augmentation` does for its ClientApp."""
    from genofed.simulations.local.simulate import _reference_augments, simulated_sites

    root = tmp_path / "hospitals"
    write_mixed_federation(root, bcf=False)
    settings = RunSettings(data_dir=str(root), out_dir=str(tmp_path / "run"), label_column="disease")
    sites = simulated_sites(settings)
    assert _reference_augments(settings, sites) == {}
    augmented = RunSettings(
        data_dir=str(root), out_dir=str(tmp_path / "run"), label_column="disease", augment="mutate=0.5"
    )
    augments = _reference_augments(augmented, sites)
    assert set(augments) == set(sites)
    name, data = next(iter(sites.items()))
    rows = np.arange(len(data.train_y))
    changed = augments[name](rows, np.random.default_rng(0))
    assert changed.shape == data.train_x.shape and not np.array_equal(changed, data.train_x)


# 3. a run where every hospital refused

CAUSE = (
    "round 1 of 2: every hospital refused the run's plan, so none of the 1 round left could train and "
    "the run stops now; RUN gets no model, results nor report. The hospitals refused: elista: privacy "
    "budget exhausted."
)
FLWR_ADVICE = (
    "It keeps its checkpoints: fix the named cause (at the hospitals named, or in the run's settings), "
    "then start the run again: with resume=true to continue this out-dir under the same settings, or in "
    "another out-dir"
)


@pytest.fixture(scope="module")
def federation(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("all-refused") / "hospitals"
    write_mixed_federation(root, bcf=False)
    return root


def _every_hospital_refusing(settings: RunSettings, *_args, **_kwargs) -> None:
    """A stand-in for `_run_flower`: the ServerApp checkpoints round 0 and the refused round 1,
    then stops the run as `round_end` does when every hospital refused."""
    checkpoints = Path(settings.out_dir) / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    for round_ in (0, 1):
        (checkpoints / f"round-{round_:04d}.pt").write_bytes(b"checkpoint")
    raise EveryHospitalRefused(CAUSE, FLWR_ADVICE)


def _settings(federation: Path, out: Path) -> RunSettings:
    return RunSettings(data_dir=str(federation), out_dir=str(out), label_column="disease", rounds=2)


def test_a_run_nobody_trained_in_keeps_no_round_and_advises_a_rerun(federation, tmp_path, monkeypatch):
    monkeypatch.setattr(simulate_module, "_run_flower", _every_hospital_refusing)
    out = tmp_path / "run"
    with pytest.raises(NothingTrained) as failed:
        simulate(_settings(federation, out))
    message = str(failed.value)
    assert "resume=true" not in message and "keeps its checkpoints" not in message
    assert "elista: privacy budget exhausted" in message and "run genofed simulate again" in message
    assert not (out / "checkpoints" / "round-0001.pt").exists()


def test_a_resumed_run_nobody_trained_in_advises_resume_or_force(federation, tmp_path, monkeypatch):
    monkeypatch.setattr(simulate_module, "_run_flower", _every_hospital_refusing)
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "round-0000.pt").write_bytes(b"earlier launch")
    with pytest.raises(NothingTrained) as failed:
        simulate(_settings(federation, out))
    message = str(failed.value)
    assert "resume=true" not in message and "--resume" in message and "--force" in message
    assert sorted(p.name for p in (out / "checkpoints").glob("round-*.pt")) == ["round-0000.pt"]
