"""Is the logistic model's DP training more than one noisy release of its first gradient? (No; kept
as evidence for why its accuracy saturates.)

What it measures, on the hospitals' pooled VALIDATION patients (never a test cohort), mean over
seeds x noise draws and the paired difference to the product (same seed and split):

- `product`: the logistic model's federated DP-SGD by its rule, as `bench/covariate_scale.py`
  runs it (column scale with the covariates' share, clip C = 1, lr 1 / (C X), batch 32 at each
  hospital's declared size, 10 rounds x 2 local epochs, FedAvg; clipped also without DP).
- `one release`: each hospital releases once the sum of its patients' gradients at the start
  (zeros), each clipped to C, plus N(0, (sigma_1 C)^2), sigma_1 calibrated for that single
  full-batch release at the same epsilon; the model is minus the federation's sum. That is a
  noisy marginal score (case-minus-control mean of the scaled genotypes): no fitting at all.
- `GD clip k X, lr g`: each hospital's noisy clipped full-batch gradient sum, averaged, for
  STEPS steps of lr g / X^2 (FedSGD), clip k X, sigma calibrated for STEPS full-batch releases.
  X is the expected norm of a scaled row, so at k = 1 a patient whose residual is below 1 is not
  clipped and the gradient weighs patients by how badly they are predicted (a real fit), while
  the product's C = 1 clips everyone, always.

Why: with C = 1 every patient's gradient (y - p) x is clipped to x / |x| times the sign of y - p,
which never changes sign, so every step of DP-SGD adds the same case-minus-control direction and
fresh noise: the product computes a noisy marginal score however long it trains. Fitting beyond
it needs clips large enough to leave well-predicted patients unclipped, and then the noise grows
with the clip. Result (docs/models.md "Why the logistic model saturates under DP"): the single
release is as good as the whole training, and fitting beyond it wins only without DP.

    .venv/bin/python bench/marginal_score.py [--data demo/cohorts] [--epsilons 3 8 inf]
                                             [--seeds 42 43 44] [--draws 2]
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
from covariate_scale import train
from logistic_rule import CLIP, DELTA, SiteRows, clipped_sum, site_rows
from measure import paired_table, parse_study, rule_scale_and_lr, study_sites
from sklearn.metrics import roc_auc_score

from genofed.common.data.panel import VariantPanel
from genofed.common.privacy.accountant import calibrate_noise
from genofed.server.training_rule import rule_row_norm

#: Full-batch steps of the noisy-GD designs, and their (clip in units of X, lr in units of 1/X^2).
STEPS = 20
GD_DESIGNS = ((0.3, 20.0), (0.3, 80.0), (1.0, 80.0))


def full_batch_sigma(epsilon: float, releases: int) -> float:
    """The noise multiplier of `releases` full-batch Gaussian releases at `epsilon` (0 without DP)."""
    if math.isinf(epsilon):
        return 0.0
    return calibrate_noise([], sample_rate=1.0, steps=releases, target_epsilon=epsilon, delta=DELTA)


def noisy_gd(sites: list[SiteRows], clip: float, lr: float, rng: np.random.Generator) -> np.ndarray:
    """[w, b] after STEPS rounds of FedSGD: each hospital's full-batch gradient sum with every
    patient's gradient clipped to `clip`, plus N(0, (site.sigma clip)^2); the sums averaged by
    declared size."""
    total = sum(site.n for site in sites)
    params = np.zeros(sites[0].rows.shape[1])
    for _ in range(STEPS):
        gradient = np.zeros_like(params)
        for site in sites:
            residual = 1.0 / (1.0 + np.exp(-(site.rows @ params))) - site.labels
            factor = np.minimum(1.0, clip / (np.abs(residual) * site.norms + 1e-12))
            gradient += (residual * factor) @ site.rows + rng.normal(0.0, site.sigma * clip, len(params))
        params -= lr * gradient / total
    return params


def main() -> None:
    args = parse_study(__doc__, epsilons=[3.0, 8.0, math.inf])
    started = time.perf_counter()
    panel = VariantPanel.load(Path(args.data) / "panel.tsv")
    designs = ["product", "one release", *(f"GD clip {k:g} X, lr {g:g}" for k, g in GD_DESIGNS)]
    aucs: dict[tuple[str, float], list[float]] = {}
    for seed in args.seeds:
        loaded, x_eval, y_eval = study_sites(args.data, seed)
        for index, epsilon in enumerate(args.epsilons):
            scale, lr = rule_scale_and_lr(panel, epsilon)
            row_norm = rule_row_norm(panel, (), epsilon)
            sigma_1, sigma_gd = full_batch_sigma(epsilon, 1), full_batch_sigma(epsilon, STEPS)
            # each hospital's rows; for the noisy-GD designs, every patient in each of STEPS releases
            sites = [
                site_rows(
                    d.train_x.astype(np.float64) * scale, d.train_y, d.public_train, 1.0, STEPS, sigma_gd
                )
                for d in loaded
            ]
            for draw in range(args.draws if not math.isinf(epsilon) else 1):
                rng = np.random.default_rng([seed, draw, index])
                models = {"product": train(loaded, scale, epsilon, lr, rng)}
                models["one release"] = -sum(
                    clipped_sum(
                        site.rows,
                        site.labels,
                        np.zeros(site.rows.shape[1]),
                        np.ones(len(site.labels)),
                        site.norms,
                    )
                    + rng.normal(0.0, sigma_1 * CLIP, site.rows.shape[1])
                    for site in sites
                )
                for (k, g), name in zip(GD_DESIGNS, designs[2:], strict=True):
                    models[name] = noisy_gd(sites, k * row_norm, g / row_norm**2, rng)
                for name, params in models.items():
                    score = (x_eval * scale) @ params[:-1]
                    aucs.setdefault((name, epsilon), []).append(float(roc_auc_score(y_eval, score)))
        print(f"seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    print(
        f"{len(args.seeds)} seeds x up to {args.draws} noise draws, scored on the pooled validation patients"
    )
    print("\n".join(paired_table(aucs, designs, "product", args.epsilons, "design", 22)))
    print("in brackets: mean paired difference to the product (same seed and split)")


if __name__ == "__main__":
    main()
