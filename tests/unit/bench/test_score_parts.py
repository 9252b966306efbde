"""bench/score_parts.py: the score's parts are scored apart, and the multiplier weighs them."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from helpers import load_bench_script
from helpers.bench import BENCH

sys.path.insert(0, str(BENCH))  # bench/score_parts.py imports other bench scripts
score_parts = load_bench_script("score_parts")


def _patients(rng: np.random.Generator, n: int = 2000):
    """Ten variants that carry no risk and two covariates that carry all of it."""
    x = rng.normal(0.0, 1.0, (n, 12))
    labels = (x[:, -2:] @ np.array([1.0, 1.0]) + rng.normal(0.0, 0.5, n) > 0).astype(int)
    return x, labels


def test_each_part_is_scored_alone():
    x, labels = _patients(np.random.default_rng(0))
    aucs = score_parts.parts(x, labels, np.r_[np.full(10, 0.5), 1.0, 1.0])
    assert aucs["covariates"] > 0.9
    assert aucs["genotypes"] == pytest.approx(0.5, abs=0.05)
    assert aucs["covariates"] > aucs["whole"] > aucs["genotypes"]  # the variants' weights are noise


def test_a_smaller_multiplier_moves_the_score_towards_the_covariates():
    x, labels = _patients(np.random.default_rng(0))
    aucs = score_parts.parts(x, labels, np.r_[np.full(10, 0.5), 1.0, 1.0])
    ordered = [aucs["whole"], *(aucs[f"a={a:g}"] for a in score_parts.MULTIPLIERS[1:])]
    assert ordered == sorted(ordered)  # a = 1, 0.5, ..., 0.1: less noise each time
    assert aucs["a=0.1"] > aucs["whole"] + 0.05
