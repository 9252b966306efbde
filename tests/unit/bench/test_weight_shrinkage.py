"""bench/weight_shrinkage.py: the adaptive shrinkage it measures keeps signal and removes noise."""

from __future__ import annotations

import sys

import numpy as np
from helpers import load_bench_script
from helpers.bench import BENCH

sys.path.insert(0, str(BENCH))  # bench/weight_shrinkage.py imports other bench scripts
weight_shrinkage = load_bench_script("weight_shrinkage")


def test_the_noise_scale_is_read_off_mostly_null_weights():
    rng = np.random.default_rng(0)
    weights = np.concatenate([rng.normal(0.0, 0.3, 20_000), np.full(50, 5.0)])
    assert abs(weight_shrinkage.noise_scale(weights) - 0.3) < 0.01


def test_pure_noise_shrinks_towards_zero_and_a_sparse_signal_survives():
    rng = np.random.default_rng(1)
    noise = rng.normal(0.0, 1.0, 20_000)
    shrunk, mixture = weight_shrinkage.shrink(noise, 1.0)
    assert np.abs(shrunk).mean() < 0.2 * np.abs(noise).mean()
    assert mixture[0] > 0.5  # the point mass at 0 takes most of the prior

    signal = np.zeros(20_000)
    signal[:100] = 8.0
    observed = signal + noise
    shrunk, mixture = weight_shrinkage.shrink(observed, 1.0)
    assert np.all(shrunk[:100] > 0.85 * observed[:100])  # strong effects keep nearly all of their size
    assert np.abs(shrunk[100:]).mean() < 0.2 * np.abs(noise[100:]).mean()
    wide = np.asarray(weight_shrinkage.GRID) > 1.0
    assert abs(mixture[wide].sum() - 100 / 20_000) < 0.003
