"""The privacy frontier's reference models, on the very splits the federation's hospitals train on.

- pooled: a non-private logistic regression (sklearn, lbfgs, its default L2 strength C = 1) on
  every hospital's training patients in one place: the classical ceiling.
- alone: the same model trained at one hospital on its own training patients, without privacy:
  what a hospital gets without joining.
- the plain DP logistic regression federation (`federate`): one linear score (one weight per panel
  variant plus the covariates, `nn.Linear(V + 2, 1)`) trained with per-site DP-SGD (Opacus:
  Poisson sampling, per-sample clipping, Gaussian noise) and FedAvg, in one process: no Flower, no
  secure aggregation, no evaluation releases. A measuring stick, not a product feature: measured
  from outside on an independent federation, such a loop beat genofed's network by 0.15-0.32 AUC.

Data: `simulated_sites(settings)` (each hospital's `SiteTensors` exactly as its ClientApp sees
them: panel alignment, mean-centred dosages plus sex and age, the keyed 80/20 train/validation
split of the run's seed); only the training split is used. Test: the federation's test cohort.

The DP loop's settings are a documented rule from public facts, NOT tuned (no run looked at the
test cohort, or at any validation split, to choose them):
- rounds R = 10 and local epochs E = 2: genofed's network defaults.
- clip C = 1, the usual DP-SGD choice.
- Poisson sampling rate q = 1/2 at every site (expected batch = half the site's training
  patients, 2 steps per epoch): for a convex model on a few hundred patients, large batches give
  the best noise-to-signal ratio per unit of epsilon (Ponomareva et al. 2023, "How to DP-fy ML"),
  and q = 1/2 keeps some amplification by sampling. T = R * E / q = 40 DP-SGD steps per site.
- noise multiplier: `calibrate_noise` (RDP) for T steps at rate q to the per-site epsilon, delta
  1e-5 (each site spends its whole budget on training).
- learning rate (plain SGD): lr = 1 / (C * X), X = sqrt(sum_j 2 p_j (1 - p_j)) the expected norm
  of an encoded genotype row under Hardy-Weinberg, from the panel's public allele frequencies.
  An averaged clipped gradient has norm <= C, so one step moves any patient's logit by at most ~1.
- FedAvg weights: each site's declared training size (`public_train`, what sites report).
- epsilon inf: the same DP-SGD with noise multiplier 0 (still clipped), so only the noise differs.
Weights start at zero (bias 0): the first round's gradient is the same for every seed.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from opacus import PrivacyEngine
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from genofed.client.site import SiteTensors
from genofed.common.data.features import FREQ_CLIP
from genofed.common.data.panel import VariantPanel
from genofed.common.privacy.accountant import calibrate_noise
from genofed.simulations.local.baselines import logistic_auc

DELTA = 1e-5
CLIP = 1.0
SAMPLE_RATE = 0.5
LOCAL_EPOCHS = 2
ROUNDS = 10


@dataclass(frozen=True)
class Rule:
    """The plain DP logistic regression's settings (module docstring)."""

    rounds: int
    local_epochs: int
    sample_rate: float
    clip: float
    lr: float

    @property
    def steps(self) -> int:
        """DP-SGD steps per site over the whole run (one epoch = 1/q Poisson-sampled steps)."""
        return self.rounds * self.local_epochs * round(1 / self.sample_rate)


@dataclass(frozen=True)
class DPFederation:
    """What `federate` returns: the global weight and bias, the noise multiplier, and the largest
    epsilon a site spent according to Opacus' own accountant (inf without noise)."""

    params: list[torch.Tensor]
    noise_multiplier: float
    spent: float


def settings_rule(panel: VariantPanel, rounds: int = ROUNDS) -> Rule:
    """The documented rule (module docstring): public facts only, nothing tuned."""
    freq = np.clip(np.asarray(panel.alt_freq, dtype=np.float64), FREQ_CLIP, 1.0 - FREQ_CLIP)
    row_norm = math.sqrt(float(np.sum(2.0 * freq * (1.0 - freq))))
    return Rule(rounds, LOCAL_EPOCHS, SAMPLE_RATE, CLIP, 1.0 / (CLIP * row_norm))


class DPSite:
    """One hospital's DP-SGD trainer, made private once so Opacus' accountant sees every round."""

    def __init__(self, data: SiteTensors, rule: Rule, sigma: float, seed: int) -> None:
        torch.manual_seed(seed)
        x = torch.from_numpy(np.ascontiguousarray(data.train_x))
        y = torch.from_numpy(np.ascontiguousarray(data.train_y, dtype=np.float32))
        self.weight = data.public_train
        self.epochs = rule.local_epochs
        model = nn.Linear(x.shape[1], 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=rule.lr)
        # batch = ceil(n q) makes len(loader) = 1/q, so Opacus' Poisson rate is exactly q
        loader = DataLoader(TensorDataset(x, y), batch_size=math.ceil(len(y) * rule.sample_rate))
        self.engine = PrivacyEngine(accountant="rdp")
        self.model, self.optimizer, self.loader = self.engine.make_private(
            module=model,
            optimizer=optimizer,
            data_loader=loader,
            noise_multiplier=sigma,
            max_grad_norm=rule.clip,
            poisson_sampling=True,
        )
        self.loss = nn.BCEWithLogitsLoss()

    def update(self, global_params: list[torch.Tensor]) -> list[torch.Tensor]:
        """E local epochs of DP-SGD from the global weights; the site's new weights."""
        params = list(self.model.parameters())
        with torch.no_grad():
            for p, g in zip(params, global_params, strict=True):
                p.copy_(g)
        for _ in range(self.epochs):
            for xb, yb in self.loader:
                self.optimizer.zero_grad(set_to_none=True)
                self.loss(self.model(xb).squeeze(-1), yb).backward()
                self.optimizer.step()
        return [p.detach().clone() for p in params]

    def spent(self) -> float:
        return float(self.engine.get_epsilon(DELTA))


def federate(sites: dict[str, SiteTensors], rule: Rule, epsilon: float, seed: int) -> DPFederation:
    """FedAvg of per-site DP-SGD at per-site `epsilon` (inf: no noise); `seed` seeds every site's
    sampling and noise (site i: seed * 1000 + i)."""
    sigma = 0.0
    if math.isfinite(epsilon):
        sigma = calibrate_noise(
            [], sample_rate=rule.sample_rate, steps=rule.steps, target_epsilon=epsilon, delta=DELTA
        )
    n_features = next(iter(sites.values())).train_x.shape[1]
    global_params = [torch.zeros(1, n_features), torch.zeros(1)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Opacus' secure-RNG and backward-hook notices
        trainers = [DPSite(data, rule, sigma, seed * 1000 + i) for i, data in enumerate(sites.values())]
        total = sum(t.weight for t in trainers)
        for _ in range(rule.rounds):
            updates = [(t.weight / total, t.update(global_params)) for t in trainers]
            global_params = [sum(w * u[k] for w, u in updates) for k in range(len(global_params))]
    spent = max(t.spent() for t in trainers) if sigma > 0 else math.inf
    return DPFederation(global_params, sigma, spent)


def linear_auc(params: list[torch.Tensor], x: np.ndarray, y: np.ndarray) -> float:
    """Test AUC of a linear score (weight (1, F), bias (1,))."""
    weight, bias = (p.numpy().astype(np.float64) for p in params)
    return float(roc_auc_score(y, x @ weight[0] + bias[0]))


def pooled_auc(sites: dict[str, SiteTensors], x_test: np.ndarray, y_test: np.ndarray) -> float | None:
    """Every hospital's training patients in one place, no privacy: `logistic_auc`."""
    x = np.concatenate([d.train_x for d in sites.values()])
    y = np.concatenate([d.train_y for d in sites.values()])
    return logistic_auc(x, y, x_test, y_test)


def alone_aucs(
    sites: dict[str, SiteTensors], x_test: np.ndarray, y_test: np.ndarray
) -> dict[str, float | None]:
    """Each hospital alone on its own training patients, no privacy: `logistic_auc` per site."""
    return {name: logistic_auc(d.train_x, d.train_y, x_test, y_test) for name, d in sites.items()}


def adapted_aucs(
    shared_model: Path,
    panel: VariantPanel,
    sites: dict[str, SiteTensors],
    x_test: np.ndarray,
    y_test: np.ndarray,
) -> dict[str, float | None]:
    """Each hospital's own adaptation of the federation's final model (`genofed adapt`: fitted on
    its training patients, threshold from its validation patients, no privacy: it stays at the
    hospital), scored on the test cohort, as `genofed simulate` reports it."""
    from genofed.simulations.local.simulate import adapted_aucs as simulated_adaptations

    return simulated_adaptations(_run_model(shared_model, panel), sites, x_test, y_test)


def _run_model(path: Path, panel: VariantPanel):
    """A run's RUN/model.pt as a model file; a run written before model files carried their panel
    and task (a dict of `state_dict` and `model_config` only) is completed from the federation's
    panel, with the encoding's default constants, which is what such runs trained on."""
    from genofed.common.data.features import FeatureSpec
    from genofed.common.model.network import ModelConfig
    from genofed.common.scoring.model_file import ModelFile, Task, features_dict, load_model_file

    saved = torch.load(path, weights_only=True)
    if isinstance(saved, dict) and "format" not in saved and {"state_dict", "model_config"} <= set(saved):
        config = ModelConfig.from_dict(saved["model_config"])
        operating = {"features": features_dict(FeatureSpec(alt_freq=panel.alt_freq))}
        return ModelFile(saved["state_dict"], config, panel, Task("binary", "label"), {}, operating)
    return load_model_file(path)
