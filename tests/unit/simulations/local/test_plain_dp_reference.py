"""A private `genofed simulate` trains the plain DP logistic regression federation next to its other
references (`baselines.train_references`, `plain_dp_logistic.federate`): the design a federation
under privacy must beat, at the run's per-site epsilon and delta, seeded by the run's seed. Until
stop 58 only the privacy-frontier experiment measured it, so a run's report could not say whether
its own design beat it."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from genofed.server import evaluation
from genofed.server.settings import RunSettings
from genofed.simulations.local import baselines
from genofed.simulations.local.plain_dp_logistic import federate, linear_auc, settings_rule

WEIGHTS = np.linspace(-1.0, 1.0, 12)


def _cohort(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.integers(0, 3, (n, len(WEIGHTS))).astype(np.float32) - 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-(x @ WEIGHTS)))).astype(np.float32)
    return x, y


def _federation() -> tuple[dict[str, Any], evaluation.TestCohort, Any]:
    rng = np.random.default_rng(5)
    sites = {}
    for name in ("rostov", "elista"):
        x, y = _cohort(rng, 200)
        sites[name] = SimpleNamespace(train_x=x, train_y=y, public_train=len(y))
    test = evaluation.TestCohort(*_cohort(rng, 400))
    panel = SimpleNamespace(alt_freq=np.full(len(WEIGHTS), 0.5))
    return sites, test, panel


@pytest.fixture
def no_alone_fits(monkeypatch):
    """Each hospital alone is another test's business (test_simulate_audit_fixes.py): here a stub."""
    monkeypatch.setattr(baselines, "_alone_as_in_federation", lambda *a, **k: None)
    monkeypatch.setattr(baselines, "logistic_risks", lambda *a, **k: None)


def _references(epsilon: float, *, panel: bool = True) -> baselines.References:
    sites, test, public = _federation()
    settings = RunSettings(data_dir="d", out_dir="o", epsilon=epsilon, delta=1e-6, seed=7)
    return baselines.train_references(
        sites,
        test,
        settings,
        SimpleNamespace(architecture="logistic"),  # type: ignore[arg-type]
        panel=public if panel else None,  # type: ignore[arg-type]
    )


def test_a_private_run_trains_the_plain_dp_reference_at_its_own_budget(no_alone_fits):
    refs = _references(3.0)
    sites, test, panel = _federation()
    again = federate(sites, settings_rule(panel), 3.0, 7, 1e-6)  # the run's seed and delta
    assert refs.plain_dp_logistic_auc == pytest.approx(linear_auc(again.params, test.features, test.labels))
    assert refs.plain_dp_logistic_auc > 0.7  # it learns: the cohort's signal is strong
    record = refs.plain_dp_logistic
    assert record["epsilon"] == 3.0 and record["delta"] == 1e-6
    assert 2.9 < record["epsilon_spent"] <= 3.0 + 1e-6  # Opacus' own accountant, at the run's delta
    assert record["noise_multiplier"] == again.noise_multiplier > 0
    # its risks are a column of reference_predictions.csv whose AUC is the one recorded
    column = refs.test_risks["plain_dp_logistic"]
    assert np.all((column > 0) & (column < 1))
    assert roc_auc_score(test.labels, column) == refs.plain_dp_logistic_auc


def test_the_reference_leaves_torch_s_global_generator_as_it_was(no_alone_fits):
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    _references(3.0)
    assert torch.equal(torch.rand(3), expected)


def test_more_budget_gives_less_noise(no_alone_fits):
    assert (
        _references(8.0).plain_dp_logistic["noise_multiplier"]
        < _references(1.0).plain_dp_logistic["noise_multiplier"]
    )


def test_no_plain_dp_reference_without_privacy_or_without_a_panel(no_alone_fits):
    for refs in (_references(math.inf), _references(3.0, panel=False)):
        assert refs.plain_dp_logistic_auc is None and refs.plain_dp_logistic == {}
        assert "plain_dp_logistic" not in refs.test_risks
