"""The paired DeLong interval of a difference of two AUCs scored on the same people
(`genofed.common.reporting.auc.paired_delong_difference`, `delong_contrast`).

The report's headline states "federated minus pooled" on one test cohort; a biostatistician's
review asked for its interval. Two models scored on the same people err together, so the paired
interval must be (a) the DeLong covariance of the pairwise definition, (b) as wide as a bootstrap
over people says, (c) narrower than the two separate intervals combined when the scores
correlate, and (d) cover a known difference about 95 % of the time.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
from sklearn.metrics import roc_auc_score

from genofed.common.reporting.auc import (
    delong_contrast,
    delong_covariance,
    delong_interval,
    paired_delong_difference,
)

#: Binormal scores: cases' means, unit variances, the two scores' correlation within a class.
MEAN_A, MEAN_B, RHO = 1.0, 0.6, 0.8


def _draw(rng: np.random.Generator, cases: int, controls: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels and two correlated scores of the same people (binormal, correlation `RHO`)."""
    cov = [[1.0, RHO], [RHO, 1.0]]
    pos = rng.multivariate_normal([MEAN_A, MEAN_B], cov, cases)
    neg = rng.multivariate_normal([0.0, 0.0], cov, controls)
    labels = np.r_[np.ones(cases), np.zeros(controls)]
    scores = np.vstack([pos, neg])
    return labels, scores[:, 0], scores[:, 1]


def _true_difference() -> float:
    """The population AUC difference: AUC = Phi(mean / sqrt(2)) for unit-variance binormal scores."""
    phi = NormalDist().cdf
    return phi(MEAN_A / math.sqrt(2)) - phi(MEAN_B / math.sqrt(2))


def _pairwise_covariance(labels: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """DeLong's covariance from the pairwise kernel psi(case, control) written out in full."""
    y = labels.astype(bool)
    rows = []
    for scores in (a, b):
        psi = (scores[y][:, None] > scores[~y][None, :]) + 0.5 * (scores[y][:, None] == scores[~y][None, :])
        rows.append((psi.mean(axis=1), psi.mean(axis=0)))
    v10 = np.vstack([r[0] for r in rows])
    v01 = np.vstack([r[1] for r in rows])
    return np.cov(v10) / y.sum() + np.cov(v01) / (~y).sum()


def test_the_covariance_is_the_pairwise_definition_with_ties():
    rng = np.random.default_rng(3)
    labels, a, b = _draw(rng, 40, 70)
    a, b = np.round(a, 1), np.round(b, 1)  # ties within and across classes count half
    aucs, covariance = delong_covariance(labels, [a, b])
    assert np.allclose(aucs, [roc_auc_score(labels, a), roc_auc_score(labels, b)])
    assert np.allclose(covariance, _pairwise_covariance(labels, a, b))
    single = delong_interval(labels, a)
    half = single.high - single.auc
    assert math.isclose(half, 1.959964 * math.sqrt(covariance[0, 0]), rel_tol=1e-5)


def test_the_paired_interval_matches_a_bootstrap_over_people():
    rng = np.random.default_rng(5)
    labels, a, b = _draw(rng, 120, 180)
    paired = paired_delong_difference(labels, a, b)
    assert math.isclose(paired.difference, roc_auc_score(labels, a) - roc_auc_score(labels, b))
    cases, controls = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    draws = []
    for _ in range(1000):  # stratified: every resample keeps the cohort's cases and controls
        pick = np.r_[rng.choice(cases, len(cases)), rng.choice(controls, len(controls))]
        draws.append(roc_auc_score(labels[pick], a[pick]) - roc_auc_score(labels[pick], b[pick]))
    assert 0.85 < paired.se / np.std(draws, ddof=1) < 1.15


def test_the_paired_interval_is_narrower_than_the_two_separate_ones_combined():
    rng = np.random.default_rng(7)
    labels, a, b = _draw(rng, 80, 120)
    paired = paired_delong_difference(labels, a, b)
    first, second = delong_interval(labels, a), delong_interval(labels, b)
    unpaired_se = math.hypot(first.high - first.auc, second.high - second.auc) / 1.959964
    assert paired.se < 0.6 * unpaired_se  # correlation 0.8: the shared error cancels
    assert paired.high - paired.low < 0.6 * 2 * 1.959964 * unpaired_se


def test_the_paired_interval_covers_a_known_difference_about_95_percent_of_the_time():
    rng = np.random.default_rng(11)
    truth = _true_difference()
    covered = []
    for _ in range(400):
        labels, a, b = _draw(rng, 80, 120)
        paired = paired_delong_difference(labels, a, b)
        covered.append(paired.low <= truth <= paired.high)
    assert 0.92 <= np.mean(covered) <= 0.98  # binomial sd of 400 draws at 95 %: 1.1 points


def test_a_contrast_with_the_mean_of_two_is_the_mean_of_the_differences():
    rng = np.random.default_rng(13)
    labels, a, b = _draw(rng, 60, 90)
    c = b + rng.normal(0, 0.5, len(b))
    contrast = delong_contrast(labels, [a, b, c], [1.0, -0.5, -0.5])
    ab, ac = paired_delong_difference(labels, a, b), paired_delong_difference(labels, a, c)
    assert math.isclose(contrast.difference, (ab.difference + ac.difference) / 2)
    assert contrast.se <= max(ab.se, ac.se) + 1e-12  # an average is no less precise than its worst part


def test_one_class_only_has_no_interval():
    labels = np.ones(10)
    assert paired_delong_difference(labels, np.arange(10.0), np.arange(10.0)) is None


def test_identical_scores_differ_by_exactly_zero():
    rng = np.random.default_rng(17)
    labels, a, _ = _draw(rng, 30, 30)
    same = paired_delong_difference(labels, a, a.copy())
    assert (same.difference, same.low, same.high, same.se) == (0.0, 0.0, 0.0, 0.0)
