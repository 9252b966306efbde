"""Reference: a plain DP logistic regression federation, to hold genofed's network against.

What it measures: test AUC of one linear score (one weight per panel variant plus the covariates,
`nn.Linear(V + 2, 1)`), trained across the federation's hospitals with per-site DP-SGD (Opacus:
Poisson sampling, per-sample clipping, Gaussian noise) and FedAvg, at several per-site epsilons
(delta 1e-5); next to a pooled non-private logistic regression (sklearn, all training patients in
one place) on the same training patients and the same test cohort.

Why: measured from outside on an independent federation, such a plain DP logistic regression beat
genofed's network by 0.15-0.32 AUC. This script is the same reference on a genofed federation
folder, to compare with docs/benchmarks.md
"Federated training" (genofed today, default federation: 0.545 / 0.618 / 0.655 / 0.783 at epsilon
1 / 3 / 8 / inf, pooled network 0.829). It is a measuring stick, not a product feature: a plain
Python FedAvg loop in one process, no Flower, no secure aggregation, no evaluation releases.

Data: loaded with genofed's own code path, exactly as each hospital's ClientApp and the
simulation's reference models see it (`simulated_sites` -> `load_site_tensors`: `load_site`,
panel alignment, `FeatureSpec` encoding of mean-centred dosages plus sex and age, the keyed
80/20 train/validation split of `split_seed(site, seed)`); only the training split is used
(validation patients are left alone, as the ClientApp keeps them). Test cohort: `load_test_cohort`
(data-dir/test), as `genofed simulate` evaluates.

Settings: a documented rule from public facts, NOT tuned (no run looked at the test cohort, or at
any validation split, to choose them):
- rounds R = 10 and local epochs E = 2: genofed's defaults (RunSettings), as in the benchmark.
- clip C = 1 (genofed's default and the usual DP-SGD choice).
- Poisson sampling rate q = 1/2 at every site (expected batch = half the site's training
  patients, 2 steps per epoch): for a convex model on a few hundred patients, large batches give
  the best noise-to-signal ratio per unit of epsilon (Ponomareva et al. 2023, "How to DP-fy ML"),
  and q = 1/2 keeps some amplification by sampling. T = R * E / q = 40 DP-SGD steps per site.
- noise multiplier: `genofed.common.privacy.accountant.calibrate_noise` (RDP) for T steps at rate
  q to the per-site epsilon, delta 1e-5 (each site spends its whole budget on training; no noisy
  evaluation releases, which genofed today also pays for: see docs/benchmarks.md).
- learning rate (plain SGD): lr = 1 / (C * X), X = sqrt(sum_j 2 p_j (1 - p_j)) the expected norm
  of an encoded genotype row under Hardy-Weinberg, from the panel's public allele frequencies
  (52.5 on the default panel). An averaged clipped gradient has norm <= C, so one step moves any
  patient's logit by at most ~1. With X >> 1/|y - p| nearly every per-sample gradient is clipped,
  and AUC is invariant to the weights' scale, so the result is insensitive to this choice.
- FedAvg weights: each site's declared training size (`public_train`, what sites report).
- epsilon inf: the same DP-SGD with noise multiplier 0 (still clipped), so only the noise differs.
- pooled: sklearn LogisticRegression(C=1.0, lbfgs), its default regularisation, fixed.
Weights start at zero (bias 0): the first round's gradient is the same for every seed.

    .venv/bin/genofed simulate-cohorts --out demo/cohorts      # the default federation, once
    .venv/bin/python bench/dp_logistic.py [--data demo/cohorts] [--epsilons 1 3 8 inf]
                                          [--rounds 10] [--seed 42]
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from opacus import PrivacyEngine
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from genofed.client.site import SiteTensors
from genofed.common.data.features import FREQ_CLIP
from genofed.common.data.panel import VariantPanel
from genofed.common.privacy.accountant import calibrate_noise
from genofed.server.federation import load_test_cohort
from genofed.server.settings import RunSettings
from genofed.simulations.local.simulate import simulated_sites

DELTA = 1e-5
CLIP = 1.0
SAMPLE_RATE = 0.5
LOCAL_EPOCHS = 2
POOLED_C = 1.0
#: docs/benchmarks.md "Federated training", genofed's network on the default federation (seed 42).
GENOFED_TODAY = {1.0: 0.545, 3.0: 0.618, 8.0: 0.655, math.inf: 0.783}


@dataclass(frozen=True)
class Rule:
    rounds: int
    local_epochs: int
    sample_rate: float
    clip: float
    lr: float

    @property
    def steps(self) -> int:
        """DP-SGD steps per site over the whole run (one epoch = 1/q Poisson-sampled steps)."""
        return self.rounds * self.local_epochs * round(1 / self.sample_rate)


def settings_rule(panel: VariantPanel, rounds: int) -> Rule:
    """The documented rule (module docstring): public facts only, nothing tuned."""
    freq = np.clip(np.asarray(panel.alt_freq, dtype=np.float64), FREQ_CLIP, 1.0 - FREQ_CLIP)
    row_norm = math.sqrt(float(np.sum(2.0 * freq * (1.0 - freq))))
    return Rule(rounds, LOCAL_EPOCHS, SAMPLE_RATE, CLIP, 1.0 / (CLIP * row_norm))


class Site:
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


def federate(
    sites: dict[str, SiteTensors], rule: Rule, epsilon: float, seed: int
) -> tuple[list[torch.Tensor], float, float]:
    """FedAvg of per-site DP-SGD: (global weight and bias, noise multiplier, max epsilon spent)."""
    sigma = 0.0
    if math.isfinite(epsilon):
        sigma = calibrate_noise(
            [], sample_rate=rule.sample_rate, steps=rule.steps, target_epsilon=epsilon, delta=DELTA
        )
    trainers = [Site(data, rule, sigma, seed * 1000 + i) for i, data in enumerate(sites.values())]
    n_features = next(iter(sites.values())).train_x.shape[1]
    global_params = [torch.zeros(1, n_features), torch.zeros(1)]
    total = sum(t.weight for t in trainers)
    for _ in range(rule.rounds):
        updates = [(t.weight / total, t.update(global_params)) for t in trainers]
        global_params = [sum(w * u[k] for w, u in updates) for k in range(len(global_params))]
    spent = max(t.spent() for t in trainers) if sigma > 0 else math.inf
    return global_params, sigma, spent


def auc(params: list[torch.Tensor], x: np.ndarray, y: np.ndarray) -> float:
    weight, bias = (p.numpy().astype(np.float64) for p in params)
    return float(roc_auc_score(y, x @ weight[0] + bias[0]))


def pooled_auc(sites: dict[str, SiteTensors], x_test: np.ndarray, y_test: np.ndarray) -> float:
    x = np.concatenate([d.train_x for d in sites.values()])
    y = np.concatenate([d.train_y for d in sites.values()])
    model = LogisticRegression(C=POOLED_C, max_iter=2000).fit(x, y)
    return float(roc_auc_score(y_test, model.decision_function(x_test)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="demo/cohorts", help="federation folder (default: demo/cohorts)")
    parser.add_argument("--epsilons", nargs="+", type=float, default=[1.0, 3.0, 8.0, math.inf])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42, help="split seed (as genofed simulate) and DP noise")
    args = parser.parse_args()
    if not (Path(args.data) / "panel.tsv").exists():
        raise SystemExit(
            f"{args.data} has no federation: run `genofed simulate-cohorts --out {args.data}` first"
        )
    warnings.filterwarnings("ignore")  # Opacus' secure-RNG and hook notices
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    started = time.perf_counter()
    settings = RunSettings(data_dir=args.data, seed=args.seed)
    panel = VariantPanel.load(Path(args.data) / "panel.tsv")
    sites = simulated_sites(settings)
    test = load_test_cohort(settings, panel)
    if test is None:
        raise SystemExit(f"{args.data} has no test cohort (test/)")
    rule = settings_rule(panel, args.rounds)
    n_train = sum(len(d.train_y) for d in sites.values())
    print(
        f"{len(sites)} hospitals, {n_train} training patients, {len(panel)} variants, test cohort "
        f"{len(test.labels)}; loaded in {time.perf_counter() - started:.0f} s"
    )
    print(
        f"rule: R={rule.rounds} rounds x E={rule.local_epochs} local epochs, Poisson q={rule.sample_rate} "
        f"({rule.steps} steps/site), clip {rule.clip}, SGD lr {rule.lr:.4f}, delta {DELTA}, FedAvg"
    )
    t = time.perf_counter()
    pooled = pooled_auc(sites, test.features, test.labels)
    pooled_s = time.perf_counter() - t
    print(f"pooled non-private LR (sklearn, C={POOLED_C}): test AUC {pooled:.3f} ({pooled_s:.0f} s)")
    print(
        f"{'epsilon':>7} {'DP-LR fed':>9} {'pooled LR':>9} {'genofed*':>8} {'sigma':>6} {'spent':>5} "
        f"{'wall s':>6}"
    )
    for eps in args.epsilons:
        t = time.perf_counter()
        params, sigma, spent = federate(sites, rule, eps, args.seed)
        fed = auc(params, test.features, test.labels)
        today = GENOFED_TODAY.get(eps)
        print(
            f"{eps:>7g} {fed:>9.3f} {pooled:>9.3f} {'-' if today is None else f'{today:.3f}':>8} "
            f"{sigma:>6.2f} {'-' if math.isinf(spent) else f'{spent:.2f}':>5} {time.perf_counter() - t:>6.1f}"
        )
    print(
        "genofed*: genofed's network today on the default federation (docs/benchmarks.md, seed 42); "
        "only comparable with --data demo/cohorts"
    )
    print(f"total wall {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
