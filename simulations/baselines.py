"""The reference models every simulation reports next to the federated one, trained on the
same train splits and evaluated on the same test cohort: each hospital alone (with the same
privacy budget, and without privacy), and all hospitals pooled in one place without privacy."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from genofed.client.site import SiteTensors, derived_seed
from genofed.client.trainer import TrainSettings, sample_rate, steps_per_epoch, train_model
from genofed.common.model import ModelConfig, build_model
from genofed.common.privacy import calibrate_noise
from genofed.server.evaluation import TestCohort
from genofed.server.settings import RunSettings


@dataclass(frozen=True)
class References:
    local_only_auc: dict[str, float | None]  # same DP budget as the federation
    local_only_nonprivate_auc: dict[str, float | None]
    pooled_auc: float | None


def train_references(sites: dict[str, SiteTensors], test: TestCohort, settings: RunSettings, model_config: ModelConfig) -> References:
    """Epochs match the federation's (rounds x local epochs), so only the data differs."""
    epochs = settings.rounds * settings.local_epochs
    private, nonprivate = {}, {}
    for name, data in sites.items():
        nonprivate[name] = _auc(test, model_config, _fit(data.train_x, data.train_y, settings, model_config, epochs, None, name))
        if settings.private:
            per_epoch = steps_per_epoch(len(data.train_y), settings.batch_size)
            sigma = calibrate_noise([], sample_rate=sample_rate(len(data.train_y), settings.batch_size), steps=epochs * per_epoch,
                                    target_epsilon=settings.epsilon, delta=settings.delta)
            private[name] = _auc(test, model_config, _fit(data.train_x, data.train_y, settings, model_config, epochs, sigma, name))
        else:
            private[name] = nonprivate[name]
    pooled_x = np.concatenate([d.train_x for d in sites.values()])
    pooled_y = np.concatenate([d.train_y for d in sites.values()])
    pooled = _auc(test, model_config, _fit(pooled_x, pooled_y, settings, model_config, epochs, None, "pooled"))
    return References(private, nonprivate, pooled)


def _fit(x: np.ndarray, y: np.ndarray, settings: RunSettings, config: ModelConfig, epochs: int, sigma: float | None, name: str):
    model = build_model(config, seed=settings.seed)
    train = TrainSettings(epochs=epochs, batch_size=settings.batch_size, lr=settings.lr, max_grad_norm=settings.clip)
    seed = derived_seed(name.encode(), "reference", settings.seed, sigma is None)
    return train_model(model, x, y, train, noise_multiplier=sigma, seed=seed).state_dict


def _auc(test: TestCohort, config: ModelConfig, state_dict) -> float | None:
    auc = test.evaluate(config, state_dict)["auc"]
    return None if auc is None or math.isnan(auc) else float(auc)
