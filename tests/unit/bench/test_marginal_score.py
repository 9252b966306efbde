"""bench/marginal_score.py: with every gradient clipped, gradient descent is the one release's
marginal score; with a clip that leaves patients unclipped it fits beyond it."""

from __future__ import annotations

import math
import sys

import numpy as np
from helpers import load_bench_script
from helpers.bench import BENCH

sys.path.insert(0, str(BENCH))  # bench/marginal_score.py imports other bench scripts
marginal_score = load_bench_script("marginal_score")
site_rows = marginal_score.site_rows


def _sites(rng: np.random.Generator, n_sites: int = 3, n: int = 60, v: int = 40) -> list:
    """Hospitals as `SiteRows` without noise (sigma 0)."""
    effects = np.zeros(v)
    effects[:5] = 1.0
    sites = []
    for _ in range(n_sites):
        x = rng.normal(0.0, 1.0, (n, v))
        labels = (x @ effects + rng.normal(0.0, 1.0, n) > 0).astype(np.float64)
        sites.append(site_rows(x, labels, n, 1.0, marginal_score.STEPS, 0.0))
    return sites


def _one_release(sites: list) -> np.ndarray:
    """Minus the federation's sum of the patients' gradients at zero, each scaled to unit norm."""
    total = np.zeros(sites[0].rows.shape[1])
    for site in sites:
        total -= ((0.5 - site.labels) / (0.5 * site.norms)) @ site.rows
    return total


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_fully_clipped_descent_never_leaves_the_marginal_direction():
    sites = _sites(np.random.default_rng(0))
    params = marginal_score.noisy_gd(sites, clip=1e-3, lr=50.0, rng=np.random.default_rng(1))
    assert _cosine(params, _one_release(sites)) > 0.999999


def test_a_clip_that_leaves_patients_unclipped_fits_beyond_the_marginal_score():
    sites = _sites(np.random.default_rng(0))
    row_norm = float(np.mean(np.concatenate([site.norms for site in sites])))
    fitted = marginal_score.noisy_gd(sites, clip=row_norm, lr=2.0, rng=np.random.default_rng(1))
    assert _cosine(fitted, _one_release(sites)) < 0.99

    def log_loss(params: np.ndarray) -> float:
        rows = np.vstack([site.rows for site in sites])
        labels = np.concatenate([site.labels for site in sites])
        p = 1.0 / (1.0 + np.exp(-(rows @ params)))
        return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))

    marginal = _one_release(sites)
    best_marginal = min(
        log_loss(scale * marginal / np.linalg.norm(marginal)) for scale in np.linspace(0.1, 20, 200)
    )
    assert log_loss(fitted) < best_marginal


def test_more_releases_need_more_noise_and_no_dp_none():
    assert marginal_score.full_batch_sigma(math.inf, 20) == 0.0
    assert marginal_score.full_batch_sigma(3.0, 20) > 2 * marginal_score.full_batch_sigma(3.0, 1) > 0
