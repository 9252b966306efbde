"""The plain DP logistic regression federation: the measuring stick every DP design is held
against, in `genofed simulate`'s references and the privacy-frontier experiment's.

One linear score (one weight per panel variant plus the covariates, `nn.Linear(V + 2, 1)`) trained
with per-site DP-SGD (Opacus: Poisson sampling, per-sample clipping, Gaussian noise) and FedAvg, in
one process: no Flower, no secure aggregation, no evaluation releases. Measured from outside on an
independent federation, such a loop beat genofed's network by 0.15-0.32 AUC; a design that does not
beat it is not worth joining under privacy.

Data: each hospital's `SiteTensors` exactly as its ClientApp sees them (panel alignment, mean-centred
dosages of the whole panel plus sex and age, the keyed 80/20 train/validation split of the run's
seed); only the training split is used.

The settings are a documented rule from public facts, NOT tuned (no run looked at a test cohort, or
at any validation split, to choose them):
- rounds R = 10 and local epochs E = 2: genofed's network defaults.
- clip C = 1, the usual DP-SGD choice.
- Poisson sampling rate q = 1/2 at every site (expected batch = half the site's training
  patients, 2 steps per epoch): for a convex model on a few hundred patients, large batches give
  the best noise-to-signal ratio per unit of epsilon (Ponomareva et al. 2023, "How to DP-fy ML"),
  and q = 1/2 keeps some amplification by sampling. T = R * E / q = 40 DP-SGD steps per site.
- noise multiplier: `calibrate_noise` (RDP) for T steps at rate q to the per-site epsilon and delta
  (each site spends its whole budget on training).
- learning rate (plain SGD): lr = 1 / (C * X), X = sqrt(sum_j 2 p_j (1 - p_j)) the expected norm
  of an encoded genotype row under Hardy-Weinberg, from the panel's public allele frequencies.
  An averaged clipped gradient has norm <= C, so one step moves any patient's logit by at most ~1.
- FedAvg weights: each site's declared training size (`public_train`, what sites report).
- epsilon inf: the same DP-SGD with noise multiplier 0 (still clipped), so only the noise differs.
Weights start at zero (bias 0): the first round's gradient is the same for every seed. Its noise
is Opacus' own generator seeded from the run's seed: a measuring stick computed where all the
patients already are, never released by a hospital.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

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

#: The privacy-frontier experiment's delta; `genofed simulate` passes its run's.
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

    def __init__(self, data: SiteTensors, rule: Rule, sigma: float, seed: int, delta: float = DELTA) -> None:
        torch.manual_seed(seed)
        self.delta = delta
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
        return float(self.engine.get_epsilon(self.delta))


def federate(
    sites: dict[str, SiteTensors], rule: Rule, epsilon: float, seed: int, delta: float = DELTA
) -> DPFederation:
    """FedAvg of per-site DP-SGD at per-site (`epsilon`, `delta`) (epsilon inf: no noise); `seed`
    seeds every site's sampling and noise (site i: seed * 1000 + i)."""
    sigma = 0.0
    if math.isfinite(epsilon):
        sigma = calibrate_noise(
            [], sample_rate=rule.sample_rate, steps=rule.steps, target_epsilon=epsilon, delta=delta
        )
    n_features = next(iter(sites.values())).train_x.shape[1]
    global_params = [torch.zeros(1, n_features), torch.zeros(1)]
    # torch's global generator, which the sites seed and Opacus draws from, is left as it was:
    # `genofed simulate` goes on training after its references
    with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
        warnings.simplefilter("ignore")  # Opacus' secure-RNG and backward-hook notices
        trainers = [
            DPSite(data, rule, sigma, seed * 1000 + i, delta) for i, data in enumerate(sites.values())
        ]
        total = sum(t.weight for t in trainers)
        for _ in range(rule.rounds):
            updates = [(t.weight / total, t.update(global_params)) for t in trainers]
            global_params = [sum(w * u[k] for w, u in updates) for k in range(len(global_params))]
    spent = max(t.spent() for t in trainers) if sigma > 0 else math.inf
    return DPFederation(global_params, sigma, spent)


def linear_auc(params: list[torch.Tensor], x: np.ndarray, y: np.ndarray) -> float:
    """Test AUC of a linear score (weight (1, F), bias (1,))."""
    return float(roc_auc_score(y, linear_logits(params, x)))


def linear_logits(params: list[torch.Tensor], x: np.ndarray) -> np.ndarray:
    """Each row's logit under a linear score (weight (1, F), bias (1,)), in float64."""
    weight, bias = (p.numpy().astype(np.float64) for p in params)
    return x.astype(np.float64) @ weight[0] + bias[0]
