"""Does public linkage disequilibrium improve the DP logistic model? (It did not; kept as evidence.)

What it measures: the plain DP logistic regression loop of `bench/logistic_rule.py` with the
logistic model's column rule (every variant scaled by v_j = 2 p_j (1 - p_j)), then the final
variant weights post-processed with the LD of the federation's PUBLIC reference panel
(`reference/`, 500 people no clinic holds; `genofed simulate-cohorts` writes it). Post-processing
costs no privacy, and it is what genetics does with noisy marginal effects (LDpred-inf): with
Sigma the panel's covariance of the scaled columns and the trained weights w (under DP-SGD with
every gradient clipped, a noisy case-minus-control direction), the posterior mean of the joint
effects under a Gaussian prior is

    w' = Sigma (Sigma^2 + kappa I)^-1 w,

from Sigma^-1 w (kappa -> 0: undo LD) to Sigma w (kappa large: smooth the noise along LD). Sigma
is taken over consecutive windows of 100 or 400 variants (as LDpred's LD radius) or over the whole
panel (rank <= 500), kappa relative to the mean squared diagonal of Sigma. Scored on the
hospitals' pooled VALIDATION patients (the test cohort is not read), mean over seeds x noise draws;
the covariates keep their trained weights and the post-processed genetic score is rescaled to the
trained one's spread.

Result (docs/models.md "What did not help"): no kappa and no window beats the trained weights
under DP; without DP the windowed inverse gains about 0.01.

    .venv/bin/python bench/ld_postprocessing.py [--data demo/cohorts] [--seeds 42 43] [--draws 2]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import numpy as np
from logistic_rule import CLIP, DELTA, EPOCHS, RATE, ROUNDS, column_scale, federate
from measure import bench_settings, reference_panel
from sklearn.metrics import roc_auc_score

from genofed.common.data.features import FREQ_CLIP
from genofed.common.data.panel import VariantPanel
from genofed.common.privacy.accountant import calibrate_noise
from genofed.simulations.local.simulate import simulated_sites

EPSILONS = (1.0, 3.0, 8.0, math.inf)
KAPPAS = (0.01, 0.1, 1.0, 10.0, 100.0)
WINDOWS = (100, 400)


class PanelLD:
    """Eigen-decompositions of the public panel's covariance of the scaled columns: per window of
    consecutive variants on a chromosome, and over the whole panel (low rank)."""

    def __init__(self, scaled: np.ndarray, chromosomes: np.ndarray) -> None:
        n = scaled.shape[0]
        self.windows: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        for size in WINDOWS:
            blocks = []
            for chrom in np.unique(chromosomes):
                idx = np.flatnonzero(chromosomes == chrom)
                for start in range(0, len(idx), size):
                    cols = idx[start : start + size]
                    lam, vec = np.linalg.eigh(scaled[:, cols].T @ scaled[:, cols] / n)
                    blocks.append((cols, np.clip(lam, 0.0, None), vec))
            self.windows[size] = blocks
        _, s, self.vt = np.linalg.svd(scaled / math.sqrt(n), full_matrices=False)
        self.lam = s**2
        self.mean_diag = float(np.mean(np.sum(scaled**2, axis=0) / n))

    def posterior(self, w: np.ndarray, method: str, kappa_rel: float) -> np.ndarray:
        kappa = kappa_rel * self.mean_diag**2
        if method == "whole panel":
            return self.vt.T @ (self.lam / (self.lam**2 + kappa) * (self.vt @ w))
        out = np.zeros_like(w)
        for cols, lam, vec in self.windows[int(method.split()[0])]:
            out[cols] = vec @ (lam / (lam**2 + kappa) * (vec.T @ w[cols]))
        return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="demo/cohorts")
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43])
    parser.add_argument("--draws", type=int, default=2, help="noise draws per seed")
    args = parser.parse_args()
    folder = Path(args.data)
    started = time.perf_counter()
    panel = VariantPanel.load(folder / "panel.tsv")
    freq = np.asarray(panel.alt_freq, dtype=np.float64)
    n_variants = len(freq)
    scale = column_scale(freq, 2.0)
    p = np.clip(freq, FREQ_CLIP, 1.0 - FREQ_CLIP)
    lr = 1.0 / (CLIP * math.sqrt(float(np.sum(2 * p * (1 - p) * scale[:n_variants] ** 2))))
    reference = reference_panel(folder, panel)
    dosages = reference.haplotypes[0::2].astype(np.float64) + reference.haplotypes[1::2]
    ld = PanelLD((dosages - dosages.mean(axis=0)) * scale[:n_variants], reference.chromosomes)
    methods = [("trained weights", 0.0)] + [
        (m, k) for m in (*(f"{w} window" for w in WINDOWS), "whole panel") for k in KAPPAS
    ]
    aucs: dict[tuple[str, float, float], list[float]] = {}
    for seed in args.seeds:
        sites = list(simulated_sites(bench_settings(data_dir=str(folder), seed=seed)).values())
        x_eval = np.concatenate([d.val_x for d in sites]).astype(np.float64) * scale
        y_eval = np.concatenate([d.val_y for d in sites])
        for eps in EPSILONS:
            steps = ROUNDS * EPOCHS * round(1 / RATE)
            sigma = (
                0.0
                if math.isinf(eps)
                else calibrate_noise([], sample_rate=RATE, steps=steps, target_epsilon=eps, delta=DELTA)
            )
            for draw in range(args.draws if sigma else 1):
                params = federate(sites, scale, sigma, lr, np.random.default_rng([seed, draw]))
                w, covariates = params[:n_variants], params[n_variants:-1]
                trained = x_eval[:, :n_variants] @ w
                for method, kappa in methods:
                    score = (
                        trained if kappa == 0.0 else x_eval[:, :n_variants] @ ld.posterior(w, method, kappa)
                    )
                    score = (
                        score * (np.std(trained) / (np.std(score) + 1e-30))
                        + x_eval[:, n_variants:] @ covariates
                    )
                    aucs.setdefault((method, kappa, eps), []).append(float(roc_auc_score(y_eval, score)))
    print(
        f"{len(args.seeds)} seeds x up to {args.draws} noise draws, pooled validation patients; "
        f"{time.perf_counter() - started:.0f} s"
    )
    print(
        f"{'post-processing':>16} {'kappa':>6} " + " ".join(f"{'eps ' + format(e, 'g'):>8}" for e in EPSILONS)
    )
    for method, kappa in methods:
        cells = " ".join(f"{statistics.mean(aucs[(method, kappa, e)]):8.3f}" for e in EPSILONS)
        print(f"{method:>16} {kappa if kappa else '-':>6} {cells}")


if __name__ == "__main__":
    main()
