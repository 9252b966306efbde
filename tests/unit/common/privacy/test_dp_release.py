"""The evaluation release: a score histogram with Gaussian noise, sensitivity 1, accounted as one
RDP step at sample rate 1, and the metrics the coordinator derives from it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from genofed.common.privacy.accountant import epsilon_of
from genofed.common.privacy.release import (
    EVALUATION_NOISE_FLOOR,
    SCORE_BINS,
    as_histogram,
    auc_noise_sd,
    evaluation_noise,
    histogram_metrics,
    noisy_histogram,
    release_step,
    score_histogram,
)


def test_one_patient_moves_one_cell_by_one():
    rng = np.random.default_rng(0)
    labels, probs = rng.integers(0, 2, 40), rng.random(40)
    full = score_histogram(labels, probs)
    for left_out in range(40):
        keep = np.arange(40) != left_out
        difference = full - score_histogram(labels[keep], probs[keep])
        assert np.abs(difference).sum() == 1 and np.linalg.norm(difference) == 1  # L2 sensitivity 1
    assert full.shape == (2, SCORE_BINS) and full.sum() == 40
    assert (
        score_histogram(np.array([1]), np.array([1.0]))[1, -1] == 1
    )  # a risk of exactly 1 is in the top bin


def test_metrics_from_exact_counts_match_the_binned_model():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 300)
    probs = np.clip(0.5 + 0.25 * (labels - 0.5) + rng.normal(0, 0.2, 300), 0, 1)
    metrics = histogram_metrics(score_histogram(labels, probs))
    binned = np.minimum((probs * SCORE_BINS).astype(int), SCORE_BINS - 1)
    assert metrics["auc"] == pytest.approx(roc_auc_score(labels, binned))
    assert metrics["accuracy"] == pytest.approx(np.mean((probs >= 0.5) == labels))
    assert metrics["patients"] == 300 and metrics["cases"] == labels.sum()


def test_noise_is_seeded_and_of_the_stated_size():
    histogram = np.zeros((2, SCORE_BINS))
    a, b = noisy_histogram(histogram, 4.0, seed=5), noisy_histogram(histogram, 4.0, seed=5)
    assert np.array_equal(a, b) and not np.array_equal(a, noisy_histogram(histogram, 4.0, seed=6))
    draws = np.concatenate([noisy_histogram(histogram, 4.0, seed=s).ravel() for s in range(200)])
    assert draws.std() == pytest.approx(4.0, rel=0.05)
    with pytest.raises(ValueError):
        noisy_histogram(histogram, 0.0, seed=1)
    assert as_histogram(list(a.ravel())).shape == (2, SCORE_BINS)


def test_a_release_costs_what_the_gaussian_mechanism_costs():
    """RDP of a Gaussian mechanism with sensitivity 1 and std sigma is alpha / (2 sigma^2): the
    ledger's (sigma, 1.0, 1) step must convert to the same epsilon as that curve."""
    from opacus.accountants.analysis.rdp import get_privacy_spent

    from genofed.common.privacy.accountant import _orders

    sigma, delta = 4.0, 1e-5
    orders = np.asarray(_orders())
    expected, _ = get_privacy_spent(orders=orders, rdp=orders / (2 * sigma**2), delta=delta)
    assert epsilon_of([release_step(sigma)], delta) == pytest.approx(expected)


def test_the_noise_rule_follows_public_facts_only():
    assert evaluation_noise(3.0, 1) == pytest.approx(4.0)
    assert evaluation_noise(3.0, 4) == pytest.approx(8.0)  # four releases at 2 sigma cost one at sigma
    assert evaluation_noise(100.0, 1) == EVALUATION_NOISE_FLOOR
    assert evaluation_noise(float("inf"), 1) == 0.0


def test_noisy_auc_spread_shrinks_with_less_noise():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 200)
    histogram = score_histogram(labels, np.clip(0.3 + 0.4 * labels + rng.normal(0, 0.15, 200), 0, 1))
    assert auc_noise_sd(histogram, 0.0) == 0.0
    assert 0 < auc_noise_sd(histogram, 1.0) < auc_noise_sd(histogram, 8.0)


def test_a_small_sites_noisy_counts_and_auc_are_not_pulled_up_or_towards_a_half():
    """30 validation patients at sigma 2: most of the 20 cells are empty, and with negative noisy
    counts set to zero they would count about 38 patients and read an AUC of 0.72 as about 0.63."""
    rng = np.random.default_rng(5)
    labels = (rng.random(30) < 0.45).astype(int)
    risks = 1 / (1 + np.exp(-(rng.normal(0, 1, 30) + 0.85 * labels - 0.4)))
    histogram = score_histogram(labels, risks)
    exact = histogram_metrics(histogram)["auc"]
    draws = [histogram_metrics(noisy_histogram(histogram, 2.0, seed)) for seed in range(2000)]
    assert np.mean([d["patients"] for d in draws]) == pytest.approx(30, abs=0.6)  # sd 8.9 / sqrt(2000)
    aucs = [d["auc"] for d in draws if d["auc"] is not None]
    assert len(aucs) > 1900 and np.mean(aucs) == pytest.approx(exact, abs=0.03)
    assert all(
        0.0 <= d[k] <= 1.0 for d in draws for k in ("auc", "sensitivity", "specificity") if d[k] is not None
    )


def test_a_tiny_sites_auc_spread_is_never_zero_under_noise():
    """12 validation patients at sigma 2: the clipped AUC sits at 0 or 1 in most draws, but the noise
    it carries is large, not nil."""
    histogram = np.zeros((2, SCORE_BINS))
    histogram[0, 3], histogram[1, 6] = 8, 4
    spread = auc_noise_sd(histogram, 2.0)
    assert spread is not None and spread > 0.2
    # a released case total below 0 (4 cases, then noise): the few draws with cases used to agree
    # on a clipped AUC of 1 and report a spread of 0; a class noisily empty in most draws has none
    histogram[1, 6] = -6.0
    assert auc_noise_sd(histogram, 2.0) is None


def test_the_score_histogram_is_total_one_count_per_patient_whatever_the_risks():
    """No risk, however computed, can make the release fail for some patients only."""
    from genofed.common.privacy.release import score_histogram

    risks = np.array([np.nan, np.inf, -np.inf, 0.2, 1.0, 0.0])
    histogram = score_histogram(np.array([1, 0, 1, 0, 1, 0]), risks)
    assert histogram.sum() == 6
    assert histogram[1, 5] == 1 and histogram[0, 9] == 1 and histogram[1, 0] == 1  # NaN -> 0.5, inf -> 1
