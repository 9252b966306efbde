"""The calibration slope and calibration-in-the-large (a biostatistician's review, 2026-12-06: the
Calibration section gave bins, ECE and Hosmer-Lemeshow but not how a miss should be read).

Labels are drawn from a known recalibration of the risks, P(disease) = sigmoid(a + b logit(risk)),
so the fit must find b and a; the section must say what they mean and the model file must keep them.
"""

from __future__ import annotations

import numpy as np
import pytest

from genofed.common.reporting.ratios import Prevalence
from genofed.common.reporting.recalibration import logit, recalibration
from genofed.common.scoring.validation import calibration_record
from genofed.server.report.assessment import assess
from genofed.server.report.calibration import calibration_section
from genofed.server.report.run_files import Predictions


def _draw(
    slope: float, intercept: float = 0.0, n: int = 3000, seed: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """(labels, risks): risks spread over 5-95 %, labels drawn from sigmoid(intercept + slope logit(risk)).

    Seed 2's draws land inside their 95 % intervals; one draw in twenty does not (seed 0's at slope
    2), and the coverage test checks that rate.
    """
    rng = np.random.default_rng(seed)
    risks = rng.uniform(0.05, 0.95, n)
    truth = 1.0 / (1.0 + np.exp(-(intercept + slope * logit(risks))))
    return (rng.random(n) < truth).astype(np.int64), risks


@pytest.mark.parametrize("slope", [0.5, 1.0, 2.0])
def test_the_fitted_slope_finds_the_slope_the_labels_were_drawn_with(slope: float) -> None:
    fit = recalibration(*_draw(slope))
    assert fit is not None
    assert fit.slope.value == pytest.approx(slope, rel=0.12)
    assert fit.slope.covers(slope) and fit.slope.low < fit.slope.value < fit.slope.high
    assert fit.slope.covers(1.0) == (slope == 1.0)
    assert fit.intercept.covers(0.0)


def test_calibration_in_the_large_is_the_intercept_with_the_slope_held_at_one() -> None:
    """Risks right in spread but too low on average (every log-odds 0.8 short): intercept near 0.8."""
    fit = recalibration(*_draw(1.0, intercept=0.8))
    assert fit is not None
    assert fit.intercept.value == pytest.approx(0.8, abs=0.12) and fit.intercept.covers(0.8)
    assert not fit.intercept.covers(0.0) and fit.slope.covers(1.0)


def test_the_95_percent_intervals_cover_the_true_slope_about_95_percent_of_the_time() -> None:
    """Over 200 cohorts of 400 people the Wald intervals must hold the truth 88-99 % of the time."""
    hits = [recalibration(*_draw(2.0, n=400, seed=seed)).slope.covers(2.0) for seed in range(200)]
    assert 0.88 <= np.mean(hits) <= 0.99


def test_the_fit_agrees_with_scikit_learns_unpenalised_logistic_regression() -> None:
    linear_model = pytest.importorskip("sklearn.linear_model")
    labels, risks = _draw(1.5, intercept=-0.3, n=800, seed=4)
    reference = linear_model.LogisticRegression(C=1e12, tol=1e-10, max_iter=10_000)
    reference.fit(logit(risks)[:, None], labels)
    fit = recalibration(labels, risks)
    assert fit is not None and fit.slope.value == pytest.approx(reference.coef_[0, 0], rel=1e-4)


@pytest.mark.parametrize(
    ("labels", "risks"),
    [
        ([0, 0, 0, 0], [0.1, 0.2, 0.3, 0.4]),  # one class
        ([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3]),  # no spread in the risks
        ([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]),  # the risks separate the labels: no finite fit
        ([0, 1], [0.2, 0.7]),  # too few people
    ],
)
def test_no_figure_where_none_can_be_fitted(labels: list[int], risks: list[float]) -> None:
    assert recalibration(np.array(labels), np.array(risks)) is None


def _section(labels: np.ndarray, risks: np.ndarray, prevalence: Prevalence | None = None) -> str:
    return calibration_section(assess({}, Predictions(labels, risks), prevalence), plot_written=False)


def test_the_section_says_risks_too_close_together_for_a_slope_above_one() -> None:
    labels, risks = _draw(2.0)
    fit = recalibration(labels, risks)
    text = _section(labels, risks, Prevalence(0.02, "truth.json"))
    assert f"**Calibration slope** {fit.slope.value:.2f} (95 % CI {fit.slope.low:.2f} to " in text
    assert "above 1: the risks are too close together" in text
    assert "a real difference in risk is larger than the score shows" in text
    assert "consistent with 0: on average the risks are right at this test cohort's case share" in text
    shift = logit(np.array(0.02)) - logit(np.array(labels.mean()))
    assert (
        f"At the real prevalence of 2.0 % the intercept would be about {fit.intercept.value + shift:.2f}"
        in text
    )
    assert "every risk too high there" in text


def test_the_section_says_risks_too_extreme_for_a_slope_below_one() -> None:
    text = _section(*_draw(0.5))
    assert "below 1: the risks are too extreme" in text and "smaller than the score shows" in text
    assert "At the real prevalence" not in text  # no prevalence known: no figure for it


def test_the_model_files_calibration_record_keeps_the_slope_and_intercept() -> None:
    labels, risks = _draw(2.0)
    record = calibration_record(labels, risks, cohort="the test cohort")
    fit = recalibration(labels, risks)
    assert record is not None and fit is not None
    assert record["slope"] == {"value": fit.slope.value, "low": fit.slope.low, "high": fit.slope.high}
    assert record["calibration_in_the_large"]["value"] == fit.intercept.value
