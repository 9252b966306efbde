"""bench/rule_levers.py: its levers change only what they name. Row weights of one are the loop
unchanged; weights that balance the classes move the clipped sum towards the smaller class; the
refit reads the trained score, sex and age."""

from __future__ import annotations

import sys

import numpy as np
from helpers import load_bench_script
from helpers.bench import BENCH

sys.path.insert(0, str(BENCH))  # bench/rule_levers.py imports other bench scripts
rule_levers = load_bench_script("rule_levers")
logistic_rule = load_bench_script("logistic_rule")


def _sites(rng: np.random.Generator, n: int = 50, v: int = 20) -> list:
    """Two noisy hospitals with 30 % cases, as `SiteRows`."""
    sites = []
    for _ in range(2):
        x = rng.normal(0.0, 1.0, (n, v))
        labels = (rng.random(n) < 0.3).astype(np.float64)
        sites.append(logistic_rule.site_rows(x, labels, n, 0.5, 4, 1.0))
    return sites


def test_row_weights_of_one_leave_the_loop_as_it_was_and_others_change_it():
    sites = _sites(np.random.default_rng(0))
    plain = logistic_rule.fedavg(sites, np.zeros(21), 0.1, np.random.default_rng(1), 3)
    ones = [np.ones(len(site.labels)) for site in sites]
    np.testing.assert_array_equal(
        logistic_rule.fedavg(sites, np.zeros(21), 0.1, np.random.default_rng(1), 3, ones), plain
    )
    half = [np.where(site.labels == 0, 0.5, 1.0) for site in sites]
    weighted = logistic_rule.fedavg(sites, np.zeros(21), 0.1, np.random.default_rng(1), 3, half)
    assert not np.allclose(weighted, plain)
    # controls count half: every clipped control gradient pushes the bias down, so it falls less
    assert weighted[-1] > plain[-1]


def test_the_refit_reads_the_score_and_the_covariates_only():
    rng = np.random.default_rng(2)
    x = rng.normal(0.0, 1.0, (200, 12))  # 10 variants, sex, age
    y = (x[:, :3].sum(1) + x[:, -1] + rng.normal(0.0, 1.0, 200) > 0).astype(int)
    params = np.concatenate([[1.0, 1.0, 1.0], np.zeros(7), [0.0, 0.0, 0.0]])
    scale = np.ones(12)
    auc = rule_levers.refit_auc(params, scale, x[:100], y[:100], x[100:], y[100:])
    assert 0.8 < auc <= 1.0
    # the variant weights enter only through their score: scaling them changes (nearly) nothing
    tripled = params * np.r_[np.full(10, 3.0), 1.0, 1.0, 1.0]
    assert abs(rule_levers.refit_auc(tripled, scale, x[:100], y[:100], x[100:], y[100:]) - auc) < 0.01
