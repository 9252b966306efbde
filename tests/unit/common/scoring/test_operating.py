"""The operating threshold and the risk distribution read from released (noisy) score histograms."""

from __future__ import annotations

import numpy as np
import pytest

from genofed.common.privacy.release import histogram_metrics
from genofed.common.scoring.operating import (
    MAX_PERCENTILE_SD,
    MIN_CLASS,
    no_threshold_note,
    operating_point,
    percentile_sd,
    percentiles,
    percentiles_shown,
    risk_distribution,
)


def test_threshold_is_the_edge_maximising_youden_j():
    histogram = np.array([[0, 2, 6, 10, 12, 3, 2, 0, 0, 0], [0, 0, 1, 2, 3, 10, 8, 5, 1, 0]], dtype=float)
    point = operating_point(histogram, round_=4)
    # by hand: at edge 0.5, 30 of 35 controls below, 24 of 30 cases at or above: J = 30/35 + 24/30 - 1
    assert point["threshold"] == pytest.approx(0.5)
    assert point["specificity"] == pytest.approx(30 / 35)
    assert point["sensitivity"] == pytest.approx(24 / 30)
    assert point["youden_j"] == pytest.approx(30 / 35 + 24 / 30 - 1)
    assert point["round"] == 4 and point["bins"] == 10
    assert point["validation_patients"] == pytest.approx(65) and point["validation_cases"] == pytest.approx(
        30
    )
    # the same edge read by the release's own post-processing gives the same figures
    at_edge = histogram_metrics(histogram, threshold_bin=5)
    assert at_edge["sensitivity"] == pytest.approx(point["sensitivity"])
    assert at_edge["specificity"] == pytest.approx(point["specificity"])


def test_threshold_follows_where_the_classes_separate_and_ties_take_the_lowest_edge():
    low = np.zeros((2, 10))
    low[0, 0], low[1, 2] = 40, 10  # every control below 0.1, every case in [0.2, 0.3)
    assert operating_point(low, round_=1)["threshold"] == pytest.approx(0.1)  # 0.1 and 0.2 tie at J = 1
    high = np.zeros((2, 10))
    high[0, 7], high[1, 9] = 40, 10
    assert operating_point(high, round_=1)["threshold"] == pytest.approx(0.8)


def test_noisy_counts_count_as_released_and_an_empty_class_has_no_threshold():
    noisy = np.array([[5, -3, 4, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, -2, 0, 6, 0, 0, 0, 0]], dtype=float)
    point = operating_point(noisy, round_=2, min_class=1)
    # sums as released (unbiased): 6 controls and 4 cases, not 9 and 6 with negatives set to 0
    assert point["validation_patients"] == pytest.approx(10) and point["validation_cases"] == pytest.approx(4)
    # at 0.3 every case is at or above (4 of 4) and every control below (6 of 6); ratios stay in [0, 1]
    assert point["threshold"] == pytest.approx(0.3)
    assert point["sensitivity"] == pytest.approx(1.0) and point["specificity"] == pytest.approx(1.0)
    no_cases = np.array([[5, 3, 4, 0, 0, 0, 0, 0, 0, 0], [0, -1, 0, -2, 0, 0, 0, 0, 0, 0]], dtype=float)
    assert operating_point(no_cases, round_=2, min_class=1) is None
    with pytest.raises(ValueError, match="shape"):
        operating_point(np.zeros(10), round_=1)


def test_too_few_cases_or_controls_set_no_threshold_the_reports_minimum():
    histogram = np.zeros((2, 10))
    histogram[0, 2], histogram[1, 7] = 40, MIN_CLASS - 0.5  # noisy counts: 9.5 cases
    assert operating_point(histogram, round_=1) is None
    assert "10 cases and 40 controls" in no_threshold_note(histogram)  # the note rounds the noisy count
    histogram[1, 7] = MIN_CLASS
    assert operating_point(histogram, round_=1)["threshold"] == pytest.approx(0.3)


def test_no_cut_off_better_than_chance_sets_no_threshold():
    """A walkthrough's run set a threshold at Youden's J -0.0003 (sensitivity 0.036 on the
    validation releases) and its report called it the best balance of misses against false alarms."""
    inverted = np.zeros((2, 10))
    inverted[0, 7], inverted[1, 2] = 40, 20  # every case below every control: J <= 0 at every edge
    assert operating_point(inverted, round_=1) is None
    note = no_threshold_note(inverted)
    assert "20 cases and 40 controls" in note and "at no cut-off" in note and "fewer than" not in note
    alike = np.zeros((2, 10))
    alike[0, 3:7], alike[1, 3:7] = 10, 5  # the same spread in both classes: J = 0 at every edge
    assert operating_point(alike, round_=1) is None
    alike[1, 6] += 1  # one more case at the top: J > 0 at edge 0.6
    assert operating_point(alike, round_=1)["threshold"] == pytest.approx(0.6)


def test_risk_distribution_is_a_monotone_cdf_of_both_classes_and_percentiles_interpolate():
    noisy = np.array([[10, -4, 10, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 10, 0, 0, 0, 0, 10]], dtype=float)
    dist = risk_distribution(noisy, round_=3)
    cdf = np.asarray(dist["cdf"])
    assert dist["patients"] == pytest.approx(36) and dist["round"] == 3  # the -4 counts as released
    assert cdf[0] == 0.0 and cdf[-1] == 1.0 and np.all(np.diff(cdf) >= 0)
    assert dist["edges"][0] == 0.0 and dist["edges"][-1] == 1.0 and len(dist["edges"]) == 11
    got = percentiles(dist, np.array([0.0, 0.1, 0.05, 0.15, 0.45, 0.6, 1.0]))
    # 10 of 36 below 0.1, half of that below 0.05; the -4 would make the CDF fall at 0.2: the running
    # maximum keeps it at 10/36 there; 16 of 36 below 0.4, 26 below 0.5 with 0.45 halfway
    np.testing.assert_allclose(got, [0, 1000 / 36, 500 / 36, 1000 / 36, 2100 / 36, 2600 / 36, 100])
    assert risk_distribution(np.zeros((2, 10)) - 1, round_=1) is None


def test_the_distribution_records_the_noise_on_a_percentile_and_withholds_percentiles_it_dominates():
    """An audit's run pooled 43 noisy patients at about 3.5 noise per count: every risk below 0.30
    got percentile 1 and the mean error was 22 points. The noise sd at the worst edge is
    noise x sqrt(2 k (bins - k) / bins) / patients; beyond MAX_PERCENTILE_SD points none is shown."""
    rng = np.random.default_rng(0)
    true = np.array([[4, 6, 8, 10, 12, 10, 8, 6, 4, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], dtype=float)
    # the formula against the spread of the noisy CDF itself, at its worst edge
    sigma, edge = 3.5, 5
    draws = [
        risk_distribution(true + rng.normal(0, sigma, true.shape), round_=1)["cdf"][edge] for _ in range(4000)
    ]
    predicted = percentile_sd(true.sum(), 10, sigma)
    assert np.std(draws) * 100 == pytest.approx(predicted, rel=0.25)
    few = risk_distribution(true / 3, round_=1, noise_per_count=3.5)  # about 43 patients
    assert few["percentile_sd"] > MAX_PERCENTILE_SD and percentiles_shown(few) is False
    many = risk_distribution(true * 3, round_=1, noise_per_count=3.5)  # about 387 patients
    assert many["percentile_sd"] < MAX_PERCENTILE_SD and percentiles_shown(many) is True
    exact = risk_distribution(true, round_=1)  # no DP: no noise, always shown
    assert exact["percentile_sd"] == 0.0 and percentiles_shown(exact) is True


def test_a_cut_off_the_noise_alone_would_give_a_model_that_separates_nobody_sets_no_threshold():
    """A walkthrough's coin-toss model (test AUC 0.508, 46 validation patients, noise sd 4.9 per
    pooled count) got a threshold at 0.2 with noisy sensitivity and specificity both clipped from
    above 1 to 1.00, which flagged 88 % of the test cohort. These are its released counts."""
    released = np.array(
        [
            [14.43, 18.99, 0.2, -3.85, 2.48, 3.42, -4.7, 9.71, -6.75, -5.68],
            [-8.6, 3.72, 9.46, 7.63, -3.73, 5.41, 4.57, -6.74, 4.12, 1.81],
        ]
    )
    assert operating_point(released, round_=3)["youden_j"] > 0.5  # exact counts: taken at their word
    assert operating_point(released, round_=3, noise_per_count=4.9) is None
    note = no_threshold_note(released, noise_per_count=4.9)
    assert "the privacy noise alone reaches" in note and "cannot place a cut-off" in note
    # a model that separates 65 patients (J 0.66) keeps its cut-off under noise of 2 per count
    separating = np.array([[0, 2, 6, 10, 12, 3, 2, 0, 0, 0], [0, 0, 1, 2, 3, 10, 8, 5, 1, 0]], dtype=float)
    point = operating_point(separating, round_=3, noise_per_count=2.0)
    assert point["threshold"] == pytest.approx(0.5) and point["youden_j"] > point["chance_youden"] > 0


def test_chance_is_no_bar_for_exact_counts_and_grows_with_the_noise():
    from genofed.common.scoring.operating import chance_youden

    counts = np.array([[0, 2, 6, 10, 12, 3, 2, 0, 0, 0], [0, 0, 1, 2, 3, 10, 8, 5, 1, 0]], dtype=float)
    assert chance_youden(counts, 0.0) == 0.0
    assert 0 < chance_youden(counts, 1.0) < chance_youden(counts, 3.0) < chance_youden(counts, 9.0) <= 1.0
