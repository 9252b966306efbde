"""The logistic model's column scale: how the per-patient clipping budget is spread over variants.

What it measures: the plain DP logistic regression federation of `bench/dp_logistic.py` (per-site
DP-SGD, Poisson rate 1/2, 10 rounds x 2 local epochs, clip 1, lr 1 / (C X), FedAvg) with every
variant column j multiplied by v_j^(a/2), v_j = 2 p_j (1 - p_j) from the panel's allele
frequencies, for several exponents a (a = 0: the encoded dosages; a = -1: standardised; a = 2: the
logistic model's rule, genofed.server.training_rule). Scored on the hospitals' pooled VALIDATION
patients (how the rule was chosen; the test cohort is not read unless --test), mean and paired
difference to a = 0 over seeds x noise draws.

Why: docs/models.md "How the logistic rule was chosen". With C = 1 every patient's gradient is
clipped in every step, so DP-SGD computes one noisy sum of each patient's scaled row over its norm;
the scale moves clipping budget between variants.

The loop is an exact vectorised equivalent of the Opacus loop (per-example clipped gradients of the
logistic loss, Poisson sampling, N(0, sigma^2 C^2) noise on each batch sum, divided by the expected
batch), in float64 numpy for speed; sigma from `calibrate_noise`, so every cell spends the same
per-site epsilon.

    .venv/bin/python bench/logistic_rule.py [--data demo/cohorts] [--exponents -1 0 1 2 3]
                                            [--epsilons 1 3 8 inf] [--seeds 42 43 44] [--draws 4]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from measure import bench_settings, require_federation
from sklearn.metrics import roc_auc_score

from genofed.common.data.features import FREQ_CLIP
from genofed.common.data.panel import VariantPanel
from genofed.common.privacy.accountant import calibrate_noise
from genofed.server.federation import load_test_cohort
from genofed.simulations.local.simulate import simulated_sites

DELTA, CLIP, RATE, EPOCHS, ROUNDS = 1e-5, 1.0, 0.5, 2, 10


def column_scale(freq: np.ndarray, exponent: float, n_covariates: int = 2) -> np.ndarray:
    """v_j^(exponent / 2) for each variant, 1 for each covariate."""
    p = np.clip(freq, FREQ_CLIP, 1.0 - FREQ_CLIP)
    return np.concatenate([(2.0 * p * (1.0 - p)) ** (exponent / 2.0), np.ones(n_covariates)])


def clipped_sum(
    rows: np.ndarray,
    labels: np.ndarray,
    params: np.ndarray,
    drawn: np.ndarray,
    norms: np.ndarray | None = None,
) -> np.ndarray:
    """The sum over the drawn patients (`drawn`: 0/1 per row) of their logistic-loss gradients at
    `params`, each clipped to CLIP; `norms`: the rows' norms, when the caller keeps them."""
    norms = np.linalg.norm(rows, axis=1) if norms is None else norms
    residual = 1.0 / (1.0 + np.exp(-(rows @ params))) - labels
    factor = np.minimum(1.0, CLIP / (np.abs(residual) * norms + 1e-12)) * drawn
    return (residual * factor) @ rows


@dataclass(frozen=True)
class SiteRows:
    """One site in the vectorised loop: its scaled rows with a bias column, labels, declared size,
    Poisson rate, local steps per round and noise multiplier; `norms` are the rows' norms."""

    rows: np.ndarray
    labels: np.ndarray
    n: int
    rate: float
    steps: int
    sigma: float
    norms: np.ndarray


def site_rows(x: np.ndarray, labels: np.ndarray, n: int, rate: float, steps: int, sigma: float) -> SiteRows:
    """A `SiteRows` from scaled features `x` (the bias column is added here)."""
    rows = np.hstack([x, np.ones((len(labels), 1))])
    return SiteRows(rows, labels.astype(np.float64), n, rate, steps, sigma, np.linalg.norm(rows, axis=1))


def fedavg(
    sites: list[SiteRows],
    params: np.ndarray,
    lr: float,
    rng: np.random.Generator,
    rounds: int,
    row_weights: list[np.ndarray] | None = None,
) -> np.ndarray:
    """`rounds` of FedAvg (weights: declared sizes) of per-site DP-SGD from `params`: each step a
    Poisson batch, its clipped gradient sum plus N(0, sigma^2 C^2) noise, over the expected batch.
    `row_weights`: per site, a weight (at most 1) on each patient's clipped gradient (None: 1)."""
    total = sum(site.n for site in sites)
    for _ in range(rounds):
        average = np.zeros_like(params)
        for index, site in enumerate(sites):
            local = params.copy()
            for _ in range(site.steps):
                drawn = rng.random(len(site.labels)) < site.rate
                if row_weights is not None:
                    drawn = drawn * row_weights[index]
                noise = rng.normal(0.0, site.sigma * CLIP, len(local))
                gradient = clipped_sum(site.rows, site.labels, local, drawn, site.norms) + noise
                local -= lr * gradient / (site.rate * site.n)
            average += (site.n / total) * local
        params = average
    return params


def federate(
    sites,
    scale: np.ndarray,
    sigma: float,
    lr: float,
    rng: np.random.Generator,
    *,
    columns: list[int] | None = None,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """FedAvg of per-site DP-SGD on the scaled columns at the reference's settings (Poisson rate
    RATE, ROUNDS x EPOCHS, one sigma for all); returns [w, b] of the final global model.
    `columns`: the input columns read (all by default; `scale` is per column read); `start`: the
    [w, b] to start from (zeros by default)."""
    steps = EPOCHS * round(1 / RATE)
    data = [
        site_rows(
            (d.train_x if columns is None else d.train_x[:, columns]).astype(np.float64) * scale,
            d.train_y,
            d.public_train,
            RATE,
            steps,
            sigma,
        )
        for d in sites
    ]
    params = np.zeros(len(scale) + 1) if start is None else np.array(start, dtype=np.float64)
    return fedavg(data, params, lr, rng, ROUNDS)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="demo/cohorts")
    parser.add_argument("--exponents", nargs="+", type=float, default=[-1.0, 0.0, 1.0, 2.0, 3.0])
    parser.add_argument("--epsilons", nargs="+", type=float, default=[1.0, 3.0, 8.0, math.inf])
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument("--draws", type=int, default=4, help="noise draws per seed")
    parser.add_argument("--test", action="store_true", help="score on the test cohort instead of validation")
    args = parser.parse_args()
    require_federation(args.data)
    started = time.perf_counter()
    panel = VariantPanel.load(Path(args.data) / "panel.tsv")
    freq = np.asarray(panel.alt_freq, dtype=np.float64)
    steps = ROUNDS * EPOCHS * round(1 / RATE)
    aucs: dict[tuple[float, float], list[float]] = {}
    for seed in args.seeds:
        settings = bench_settings(data_dir=args.data, seed=seed)
        sites = list(simulated_sites(settings).values())
        if args.test:
            test = load_test_cohort(settings, panel)
            x_eval, y_eval = test.features, test.labels
        else:
            x_eval = np.concatenate([d.val_x for d in sites])
            y_eval = np.concatenate([d.val_y for d in sites])
        for exponent in args.exponents:
            scale = column_scale(freq, exponent)
            p = np.clip(freq, FREQ_CLIP, 1.0 - FREQ_CLIP)
            lr = 1.0 / (CLIP * math.sqrt(float(np.sum(2 * p * (1 - p) * scale[: len(freq)] ** 2))))
            for eps in args.epsilons:
                sigma = (
                    0.0
                    if math.isinf(eps)
                    else calibrate_noise([], sample_rate=RATE, steps=steps, target_epsilon=eps, delta=DELTA)
                )
                for draw in range(args.draws if sigma else 1):
                    rng = np.random.default_rng([seed, draw])
                    params = federate(sites, scale, sigma, lr, rng)
                    score = (x_eval * scale) @ params[:-1] + params[-1]
                    aucs.setdefault((exponent, eps), []).append(float(roc_auc_score(y_eval, score)))
    scored = "test cohort" if args.test else "pooled validation patients"
    print(
        f"{len(args.seeds)} seeds x up to {args.draws} noise draws, scored on the {scored}; "
        f"{time.perf_counter() - started:.0f} s"
    )
    print(f"{'a':>5} " + " ".join(f"{'eps ' + format(e, 'g'):>22}" for e in args.epsilons))
    for exponent in args.exponents:
        cells = []
        for eps in args.epsilons:
            values, base = aucs[(exponent, eps)], aucs[(0.0, eps)] if (0.0, eps) in aucs else None
            diff = (
                ""
                if base is None or len(base) != len(values)
                else f" ({statistics.mean(v - b for v, b in zip(values, base, strict=True)):+.3f})"
            )
            cells.append(f"{statistics.mean(values):.3f}{diff}")
        print(f"{exponent:>5g} " + " ".join(f"{c:>22}" for c in cells))
    print("in brackets: mean paired difference to a = 0 (same seed, split and noise draw)")


if __name__ == "__main__":
    main()
