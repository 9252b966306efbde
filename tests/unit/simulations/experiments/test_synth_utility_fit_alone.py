"""The earlier-history parameter of `fit_alone` that the synthetic-data utility experiment's
equal-epsilon arms rely on: what a site already spent raises the classifier's noise. The
experiment itself runs in tests/e2e/experiments/test_synth_utility.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genofed.common.model.network import ModelConfig
from genofed.common.privacy.accountant import epsilon_of
from genofed.server.settings import RunSettings
from genofed.server.training_rule import resolve_settings
from genofed.simulations.local import baselines
from genofed.simulations.local.baselines import classifier_step, fit_alone


def test_fit_alone_history_raises_the_classifier_noise(monkeypatch):
    settings = resolve_settings(RunSettings(rounds=1, local_epochs=1, epsilon=8.0, model="network"), None)
    earlier = [(4.0, 0.5, 20)]  # about epsilon 2.6
    fresh, after = classifier_step(64, settings), classifier_step(64, settings, earlier)
    assert after[0] > fresh[0]
    assert epsilon_of([*earlier, after], settings.delta) <= 8.0 * (1 + 1e-6)

    seen = []
    real_train = baselines.train_model

    def spy(model, x, y, train, *, noise_multiplier, seed):
        seen.append(noise_multiplier)
        return real_train(model, x, y, train, noise_multiplier=noise_multiplier, seed=seed)

    monkeypatch.setattr(baselines, "train_model", spy)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 12)).astype(np.float32), (rng.random(64) < 0.4).astype(np.float32)
    config = ModelConfig(n_variants=10)
    fit_alone(x, y, settings, config, "site")
    fit_alone(x, y, settings, config, "site", history=earlier)
    fit_alone(x, y, settings, config, "site", private=False, history=earlier)
    assert seen[0] == pytest.approx(fresh[0]) and seen[1] == pytest.approx(after[0]) and seen[2] is None
    assert math.isinf(RunSettings(epsilon=math.inf).epsilon)
