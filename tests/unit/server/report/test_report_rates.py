"""The bedside rates' uncertainty (`genofed.server.report.rates`): Wilson cells, likelihood ratios
with their log-method intervals, PPV / NPV intervals carried over from them, and the Brier score
reweighted to a real prevalence; checked on the audited run's counts (179/240 cases and 215/360
controls flagged / not flagged at risk >= 0.5)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genofed.common.reporting.clinical import ThresholdMetrics
from genofed.common.reporting.ratios import likelihood_ratios
from genofed.server.report.rates import ppv_npv_cell, reweighted_brier, share_cell

AUDITED = ThresholdMetrics(
    0.5, true_positives=179, false_positives=145, true_negatives=215, false_negatives=61
)


def test_share_cell_gives_wilsons_interval():
    assert share_cell(10, 47) == "21.3% (12.0-34.9)"  # the audit's Kalmyk specificity, 0.12-0.35
    assert share_cell(179, 240) == "74.6% (68.7-79.7)"
    assert share_cell(0, 0) == "not measured"


def test_likelihood_ratios_and_their_log_method_intervals():
    positive, negative = likelihood_ratios(AUDITED)
    assert positive.value == pytest.approx((179 / 240) / (145 / 360))  # 1.85, as the audit found
    assert negative.value == pytest.approx((61 / 240) / (215 / 360))  # 0.43
    se = math.sqrt(1 / 179 - 1 / 240 + 1 / 145 - 1 / 360)
    assert positive.low == pytest.approx(positive.value * math.exp(-1.959964 * se), rel=1e-5)
    assert positive.high == pytest.approx(positive.value * math.exp(1.959964 * se), rel=1e-5)
    assert positive.cell() == "1.85 (1.60-2.14)" and negative.cell() == "0.43 (0.34-0.54)"


def test_a_ratio_with_a_zero_count_says_why_instead_of_dividing_by_zero():
    no_false_alarm = ThresholdMetrics(
        0.9, true_positives=5, false_positives=0, true_negatives=50, false_negatives=5
    )
    positive, negative = likelihood_ratios(no_false_alarm)
    assert positive.value is None and "no false alarm" in positive.cell()
    assert negative.value == pytest.approx(0.5)
    one_class = ThresholdMetrics(
        0.5, true_positives=5, false_positives=0, true_negatives=0, false_negatives=5
    )
    assert all(r.value is None for r in likelihood_ratios(one_class))


def test_flagging_everyone_keeps_an_interval_instead_of_certainty():
    """Every case and every control flagged (sensitivity 100 %, specificity 0 %, the audit's
    'Population: kalmyk' group) printed LR+ 1.00 (1.00-1.00): the log method's variance terms are
    zero at a proportion of 1. Half a count each way gives it a width."""
    everyone = ThresholdMetrics(
        0.1, true_positives=42, false_positives=47, true_negatives=0, false_negatives=0
    )
    positive, _negative = likelihood_ratios(everyone)
    assert positive.value == pytest.approx(1.0)
    assert positive.low < 0.97 and positive.high > 1.03
    assert positive.cell() != "1.00 (1.00-1.00)"
    ppv = ppv_npv_cell(everyone, 0.015)
    assert ppv.startswith("1.5% (") and not ppv.startswith("1.5% (1.5-1.5)")


def test_flagging_no_one_is_not_defined_and_no_case_flagged_keeps_an_upper_bound():
    """A walkthrough's report said "LR+ unbounded (no false alarm)" for a call that flagged none of
    200 people (0 / 0), and "LR+ 0.00" with no interval for a group where only controls were
    flagged: a 0 read as certain."""
    nobody = ThresholdMetrics(
        0.9, true_positives=0, false_positives=0, true_negatives=150, false_negatives=50
    )
    positive, negative = likelihood_ratios(nobody)
    assert positive.value is None and positive.cell() == "not defined (no one flagged)"
    assert negative.value == pytest.approx(1.0)
    everyone = ThresholdMetrics(
        0.1, true_positives=50, false_positives=150, true_negatives=0, false_negatives=0
    )
    assert likelihood_ratios(everyone)[1].cell() == "not defined (everyone flagged)"
    only_controls = ThresholdMetrics(
        0.5, true_positives=0, false_positives=6, true_negatives=44, false_negatives=10
    )
    positive, _ = likelihood_ratios(only_controls)
    assert positive.value == 0.0 and positive.low == 0.0
    assert 1.0 < positive.high < 10.0  # 10 cases cannot rule out an informative flag
    assert positive.cell() == f"0.00 (0.00-{positive.high:.2f})"


def test_ppv_and_npv_intervals_are_the_likelihood_ratios_carried_over():
    cell = ppv_npv_cell(AUDITED, 0.015)
    assert cell == "2.7% (2.4-3.2) / 99.4% (99.2-99.5)"
    ppv, npv = AUDITED.ppv_npv_at(0.015)
    positive, _ = likelihood_ratios(AUDITED)
    odds = 0.015 / 0.985
    assert ppv == pytest.approx(odds * positive.value / (1 + odds * positive.value))
    low = odds * positive.low / (1 + odds * positive.low)
    assert low < ppv and f"({100 * low:.1f}-" in cell


def test_brier_reweighted_to_a_prevalence():
    labels = np.array([1, 1, 0, 0, 0])
    risks = np.array([0.8, 0.4, 0.5, 0.1, 0.3])
    cases = np.mean((1 - risks[:2]) ** 2)
    controls = np.mean(risks[2:] ** 2)
    assert reweighted_brier(labels, risks, 0.015) == pytest.approx(0.015 * cases + 0.985 * controls)
    # at the cohort's own case share it is the plain Brier score
    assert reweighted_brier(labels, risks, 0.4) == pytest.approx(np.mean((risks - labels) ** 2))
    assert reweighted_brier(np.zeros(3), np.full(3, 0.2), 0.1) is None
