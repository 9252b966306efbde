"""Local training: learns, is deterministic by seed, pays privacy as accounted, honours FedProx."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genofed.client.trainer import TrainSettings, sample_rate, steps_per_epoch, train_model
from genofed.common.model.metrics import binary_metrics
from genofed.common.model.network import ModelConfig, build_model, predict_proba
from genofed.common.privacy.accountant import calibrate_noise, epsilon_of

V = 40
CONFIG = ModelConfig(n_variants=V, block_size=8, hidden_per_block=1, hidden=4)


def _separable(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, V + 2)).astype(np.float32)
    w = np.zeros(V + 2)
    w[:6] = [2, -2, 1.5, -1.5, 1, 1]
    return x, (x @ w > 0).astype(np.int8)


def test_steps_and_sample_rate() -> None:
    assert steps_per_epoch(100, 32) == 4 and sample_rate(100, 32) == 0.25
    assert steps_per_epoch(10, 32) == 1 and sample_rate(128, 64) == 0.5


def test_nonprivate_training_learns() -> None:
    x, y = _separable()
    model = build_model(CONFIG, 0)
    result = train_model(model, x, y, TrainSettings(epochs=10), noise_multiplier=None, seed=1)
    assert result.history == [] and result.examples == 300 and result.steps == 10 * steps_per_epoch(300, 32)
    assert binary_metrics(y, predict_proba(model, x))["auc"] > 0.9


def test_private_training_learns_at_epsilon_8_and_reports_its_history() -> None:
    x, y = _separable()
    settings = TrainSettings(epochs=10, batch_size=32)
    q, steps = sample_rate(300, 32), 10 * steps_per_epoch(300, 32)
    sigma = calibrate_noise([], sample_rate=q, steps=steps, target_epsilon=8.0, delta=1e-5)
    model = build_model(CONFIG, 0)
    result = train_model(model, x, y, settings, noise_multiplier=sigma, seed=1)
    assert result.history == [(sigma, q, steps)] and result.sample_rate == q
    assert epsilon_of(result.history, 1e-5) <= 8.0
    assert set(result.state_dict) == set(build_model(CONFIG, 0).state_dict())  # no "_module." prefix
    assert not hasattr(model, "_forward_hooks") or not model._forward_hooks  # hooks removed
    # it learns: one noise draw can leave this 4-unit network at chance (AUC 0.5 in about one
    # seed of six, before and after the noise's source changed), so the median of seven seeds
    x_test, y_test = _separable(seed=1)
    aucs = [binary_metrics(y_test, predict_proba(model, x_test))["auc"]]
    for seed in range(2, 8):
        again = build_model(CONFIG, 0)
        train_model(again, x, y, settings, noise_multiplier=sigma, seed=seed)
        aucs.append(binary_metrics(y_test, predict_proba(again, x_test))["auc"])
    assert np.median(aucs) > 0.85, aucs


@pytest.mark.parametrize("noise", [None, 1.0])
def test_training_is_deterministic_by_seed(noise: float | None) -> None:
    x, y = _separable(120)
    settings = TrainSettings(epochs=2, batch_size=16)
    a = train_model(build_model(CONFIG, 0), x, y, settings, noise_multiplier=noise, seed=7).state_dict
    b = train_model(build_model(CONFIG, 0), x, y, settings, noise_multiplier=noise, seed=7).state_dict
    c = train_model(build_model(CONFIG, 0), x, y, settings, noise_multiplier=noise, seed=8).state_dict
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("noise", [None, 1.0])
def test_every_parameter_is_trained(noise: float | None) -> None:
    x, y = _separable(120)
    before = build_model(CONFIG, 0).state_dict()
    after = train_model(
        build_model(CONFIG, 0), x, y, TrainSettings(epochs=1), noise_multiplier=noise, seed=0
    ).state_dict
    unchanged = [k for k in before if torch.equal(before[k], after[k])]
    assert unchanged == []


def test_empty_poisson_batches_still_step() -> None:
    x, y = _separable(6)
    result = train_model(
        build_model(CONFIG, 0), x, y, TrainSettings(epochs=10, batch_size=1), noise_multiplier=1.0, seed=0
    )
    assert result.steps == 60 and result.history == [(1.0, 1 / 6, 60)]
    assert all(torch.isfinite(v).all() for v in result.state_dict.values())


@pytest.mark.parametrize("noise", [None, 1.0])
def test_fedprox_with_huge_mu_stays_at_the_anchor(noise: float | None) -> None:
    x, y = _separable(120)
    anchor_model = build_model(CONFIG, 3)
    anchor = {k: v.clone() for k, v in anchor_model.state_dict().items()}
    settings = TrainSettings(epochs=2, proximal_mu=1e6)
    free = train_model(
        build_model(CONFIG, 3), x, y, TrainSettings(epochs=2), noise_multiplier=noise, seed=0
    ).state_dict
    held = train_model(
        build_model(CONFIG, 3), x, y, settings, noise_multiplier=noise, seed=0, anchor=anchor
    ).state_dict
    drift = lambda sd: max(float((sd[k] - anchor[k]).abs().max()) for k in anchor)  # noqa: E731
    assert drift(held) < 1e-6 < drift(free)
