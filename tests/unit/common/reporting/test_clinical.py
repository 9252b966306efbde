"""Threshold metrics, PPV/NPV at a prevalence, DeLong's AUC interval, calibration bins."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from genofed.common.reporting.auc import delong_interval, hanley_mcneil_se, normal_interval
from genofed.common.reporting.calibration import calibration_table, wilson_interval
from genofed.common.reporting.clinical import (
    brier_score,
    no_skill_brier,
    ppv_npv_at_prevalence,
    threshold_metrics,
    top_fraction_threshold,
)


def test_threshold_metrics_counts_and_rates() -> None:
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    risks = np.array([0.9, 0.6, 0.2, 0.7, 0.4, 0.3, 0.1, 0.6])
    m = threshold_metrics(labels, risks, 0.6)  # flagged: 0.9, 0.6 (cases), 0.7, 0.6 (controls)
    assert (m.true_positives, m.false_positives, m.true_negatives, m.false_negatives) == (2, 2, 3, 1)
    assert m.sensitivity == pytest.approx(2 / 3) and m.specificity == pytest.approx(3 / 5)
    assert m.ppv == pytest.approx(0.5) and m.npv == pytest.approx(3 / 4) and m.prevalence == 3 / 8
    nobody = threshold_metrics(labels, risks, 0.95)
    assert nobody.flagged == 0 and nobody.ppv is None and nobody.sensitivity == 0.0


def test_ppv_npv_at_prevalence_is_bayes_rule() -> None:
    # sensitivity 0.8, specificity 0.9 at 1 %: PPV = 0.008 / (0.008 + 0.099)
    ppv, npv = ppv_npv_at_prevalence(0.8, 0.9, 0.01)
    assert ppv == pytest.approx(0.008 / 0.107) and npv == pytest.approx(0.891 / 0.893)
    # at the cohort's own prevalence it reproduces the cohort's PPV and NPV
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    risks = np.array([0.9, 0.6, 0.2, 0.7, 0.4, 0.3, 0.1, 0.6])
    m = threshold_metrics(labels, risks, 0.6)
    assert m.ppv_npv_at(3 / 8) == pytest.approx((m.ppv, m.npv))
    assert ppv_npv_at_prevalence(None, 0.9, 0.01) == (None, None)
    assert ppv_npv_at_prevalence(0.0, 1.0, 0.01)[0] is None  # nobody flagged


def test_top_decile_threshold_flags_a_tenth() -> None:
    risks = np.arange(100) / 100
    threshold = top_fraction_threshold(risks)
    assert threshold == 0.9 and int(np.sum(risks >= threshold)) == 10
    assert top_fraction_threshold(np.array([])) is None
    assert top_fraction_threshold(np.array([0.3, 0.1])) == 0.3  # at least one person


def test_brier_and_its_no_skill_reference() -> None:
    labels = np.array([1, 0, 0, 0])
    assert brier_score(labels, np.full(4, 0.25)) == pytest.approx(no_skill_brier(0.25)) == 0.1875
    assert brier_score(np.array([]), np.array([])) is None


def _delong_variance_reference(cases: np.ndarray, controls: np.ndarray) -> float:
    """DeLong's structural components, written out pairwise (O(m n)), as in the 1988 paper."""
    psi = (cases[:, None] > controls[None, :]) + 0.5 * (cases[:, None] == controls[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return np.var(v10, ddof=1) / len(cases) + np.var(v01, ddof=1) / len(controls)


def test_delong_matches_sklearn_and_the_pairwise_definition() -> None:
    rng = np.random.default_rng(0)
    labels = rng.random(300) < 0.3
    risks = np.round(rng.random(300) * 0.5 + 0.3 * labels, 2)  # rounded: ties on purpose
    interval = delong_interval(labels, risks)
    assert interval.auc == pytest.approx(roc_auc_score(labels, risks))
    se = math.sqrt(_delong_variance_reference(risks[labels], risks[~labels]))
    assert interval.high - interval.auc == pytest.approx(1.959964 * se, rel=1e-4)
    assert interval.method == "DeLong" and not interval.includes_chance
    assert delong_interval(np.zeros(5), np.arange(5)) is None


def test_uninformative_scores_include_chance() -> None:
    rng = np.random.default_rng(1)
    interval = delong_interval(rng.random(200) < 0.5, rng.random(200))
    assert interval.includes_chance


def test_hanley_mcneil_shrinks_with_size() -> None:
    small, large = hanley_mcneil_se(0.7, 10, 20), hanley_mcneil_se(0.7, 100, 200)
    assert small > large > 0 and hanley_mcneil_se(0.7, 0, 20) is None
    # Hanley & McNeil (1982), table: AUC 0.8 with 50 cases and 50 controls has SE about 0.044
    assert hanley_mcneil_se(0.8, 50, 50) == pytest.approx(0.0442, abs=0.001)
    assert normal_interval(0.95, 0.1, "x").high == 1.0


def test_calibration_bins_are_equal_size_and_count_everyone() -> None:
    rng = np.random.default_rng(2)
    risks = rng.random(103)
    labels = rng.random(103) < risks
    table = calibration_table(labels, risks)
    assert len(table) == 10 and sum(b.people for b in table) == 103
    assert {b.people for b in table} <= {10, 11}
    assert sum(b.cases for b in table) == int(labels.sum())
    assert all(
        b.low <= b.predicted <= b.high and b.observed_low <= b.observed <= b.observed_high for b in table
    )
    assert [b.predicted for b in table] == sorted(b.predicted for b in table)
    assert len(calibration_table(labels[:4], risks[:4])) == 4 and calibration_table([], []) == []


def test_wilson_interval_known_values() -> None:
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
