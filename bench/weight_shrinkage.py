"""Does empirical-Bayes shrinkage of the trained variant weights help? (It did not; kept as evidence.)

What it measures: the logistic model's federated DP-SGD as the product runs it by its rule (the
loop of `bench/covariate_scale.py`: column scale with the covariates' share, lr 1 / (C X), batch
32, 10 rounds x 2 local epochs, FedAvg), then the final variant weights w_j shrunk towards 0 by
their posterior mean under a prior fitted to the weights themselves (adaptive shrinkage, as
genetics does with noisy marginal effects): w_j = theta_j + e_j with e_j ~ N(0, s^2), s from the
weights' median absolute deviation (DP-SGD gives every coordinate the same noise, and most
variants are null), theta_j ~ a mixture of N(0, (k s)^2) for k in GRID (k = 0: a point mass at
0), the mixture's weights fitted by EM. Shrinking is post-processing of the released model: it
costs no privacy. The covariates and the bias keep their trained weights. Scored on the
hospitals' pooled VALIDATION patients (never a test cohort), mean over seeds x noise draws and
the paired difference (same seed, split and noise draw).

Result (docs/models.md "What did not help"): the fitted prior has no component wider than the
noise, so no variant stands out of it, and shrinking loses at every epsilon.

    .venv/bin/python bench/weight_shrinkage.py [--data demo/cohorts] [--epsilons 1 3 8]
                                               [--seeds 42 43 44] [--draws 2]
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
from covariate_scale import train
from measure import parse_study, rule_scale_and_lr, study_sites
from sklearn.metrics import roc_auc_score

from genofed.common.data.panel import VariantPanel

#: The prior's component widths in units of the noise s (0: the point mass at 0).
GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def noise_scale(weights: np.ndarray) -> float:
    """The noise's standard deviation, read robustly off the weights (1.4826 x MAD)."""
    return 1.4826 * float(np.median(np.abs(weights - np.median(weights))))


def shrink(weights: np.ndarray, noise: float, iterations: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """The posterior means of the weights under the mixture prior fitted by EM (module docstring),
    and the mixture's fitted component weights (one per GRID entry)."""
    prior_var = (np.asarray(GRID) * noise) ** 2
    total_var = prior_var + noise**2  # each component's marginal variance of a weight
    likelihood = np.exp(-0.5 * weights[:, None] ** 2 / total_var) / np.sqrt(total_var)
    mixture = np.full(len(GRID), 1.0 / len(GRID))
    for _ in range(iterations):
        posterior = likelihood * mixture
        posterior /= posterior.sum(axis=1, keepdims=True)
        mixture = posterior.mean(axis=0)
    posterior = likelihood * mixture
    posterior /= posterior.sum(axis=1, keepdims=True)
    return weights * (posterior * (prior_var / total_var)).sum(axis=1), mixture


def main() -> None:
    args = parse_study(__doc__, epsilons=[1.0, 3.0, 8.0])
    started = time.perf_counter()
    panel = VariantPanel.load(Path(args.data) / "panel.tsv")
    n_variants = len(panel)
    aucs: dict[tuple[str, float], list[float]] = {}
    mixtures: dict[float, list[np.ndarray]] = {}
    for seed in args.seeds:
        sites, x_eval, y_eval = study_sites(args.data, seed)
        for epsilon in args.epsilons:
            scale, lr = rule_scale_and_lr(panel, epsilon)
            for draw in range(args.draws):
                rng = np.random.default_rng([seed, draw, int(epsilon * 10)])
                trained = train(sites, scale, epsilon, lr, rng)
                shrunk = trained.copy()
                weights = trained[:n_variants]
                shrunk[:n_variants], mixture = shrink(weights, noise_scale(weights))
                mixtures.setdefault(epsilon, []).append(mixture)
                for name, params in (("trained", trained), ("shrunk", shrunk)):
                    score = (x_eval * scale) @ params[:-1] + params[-1]
                    aucs.setdefault((name, epsilon), []).append(float(roc_auc_score(y_eval, score)))
        print(f"seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    print(f"{len(args.seeds)} seeds x {args.draws} noise draws, scored on the pooled validation patients")
    print(
        f"{'epsilon':>8} {'trained':>8} {'shrunk':>8} {'paired':>8}"
        "   prior's weight on components wider than the noise"
    )
    for epsilon in args.epsilons:
        trained, shrunk = aucs[("trained", epsilon)], aucs[("shrunk", epsilon)]
        paired = statistics.mean(b - a for a, b in zip(trained, shrunk, strict=True))
        wide = float(np.mean([m[np.asarray(GRID) > 1.0].sum() for m in mixtures[epsilon]]))
        print(
            f"{epsilon:>8g} {statistics.mean(trained):>8.3f} {statistics.mean(shrunk):>8.3f} "
            f"{paired:>+8.3f}   {wide:.4f}"
        )


if __name__ == "__main__":
    main()
