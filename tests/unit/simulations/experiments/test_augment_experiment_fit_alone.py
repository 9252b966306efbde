"""The `augment` passthrough of `fit_alone` that the genotype-augmentation experiment relies on:
the trainer gets the augmentation, and a call without one is exactly the old call. The experiment
itself runs in tests/e2e/experiments/test_augment_experiment.py."""

from __future__ import annotations

import math

import numpy as np
import torch

from genofed.common.model.network import ModelConfig
from genofed.server.settings import RunSettings
from genofed.server.training_rule import resolve_settings
from genofed.simulations.local import baselines
from genofed.simulations.local.baselines import fit_alone


def test_fit_alone_forwards_augment_to_the_trainer(monkeypatch):
    seen = []
    real = baselines.train_model

    def spy(*args, **kwargs):
        seen.append(kwargs.get("augment"))  # absent when None: the call is exactly the old one
        return real(*args, **kwargs)

    monkeypatch.setattr(baselines, "train_model", spy)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 8)).astype(np.float32)
    y = (rng.random(24) < 0.5).astype(np.float32)
    network = RunSettings(rounds=1, local_epochs=2, epsilon=math.inf, model="network")
    settings = resolve_settings(network, None)
    config = ModelConfig(n_variants=6)

    def flip(indices: np.ndarray, generator: np.random.Generator) -> np.ndarray:
        return -x[indices]

    plain = fit_alone(x, y, settings, config, "site")
    augmented = fit_alone(x, y, settings, config, "site", augment=flip)
    assert seen == [None, flip]
    assert any(not torch.equal(plain[k], augmented[k]) for k in plain)
    assert all(torch.equal(plain[k], v) for k, v in fit_alone(x, y, settings, config, "site").items())
