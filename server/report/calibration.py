"""The calibration section: predicted against observed risk on the test cohort, as a plot and a table.

A risk model is used by its numbers ("your risk is 30 %"), so they must come true at the rate they
say. Bins hold equal numbers of people (`genofed.common.reporting.calibration`); each point carries
its Wilson 95 % interval and the table its counts, so a bin of 60 people is not over-read.
"""

from __future__ import annotations

from pathlib import Path

from genofed.common.reporting.calibration import (
    CALIBRATION_ALPHA,
    SMALLEST_P,
    CalibrationBin,
    CalibrationCheck,
    check_calibration,
    p_words,
)
from genofed.common.reporting.figures import new_figure, save_figure
from genofed.common.reporting.formatting import fmt_float
from genofed.common.reporting.ratios import Prevalence
from genofed.common.reporting.recalibration import Estimate, Recalibration, logit
from genofed.common.reporting.tables import markdown_table

# the check itself lives beside the table, where the model file's record reuses it; re-exported here
from genofed.common.scoring.validation import MIN_CALIBRATION_PEOPLE
from genofed.server.report.assessment import Assessment, ppv_advice

CALIBRATION_PLOT = "calibration.png"

__all__ = [
    "CALIBRATION_ALPHA",
    "CALIBRATION_PLOT",
    "SMALLEST_P",
    "CalibrationCheck",
    "calibration_section",
    "check_calibration",
    "p_words",
    "plot_calibration",
]


def plot_calibration(path: Path, table: list[CalibrationBin]) -> bool:
    """Observed case share (with 95 % intervals) against mean predicted risk per bin; False if empty."""
    if not table:
        return False
    figure = new_figure()
    axes = figure.add_subplot()
    predicted = [b.predicted for b in table]
    observed = [b.observed for b in table]
    # clipped at 0: the Wilson bound of an empty or full bin equals its share up to rounding
    errors = [
        [max(0.0, b.observed - b.observed_low) for b in table],
        [max(0.0, b.observed_high - b.observed) for b in table],
    ]
    top = max(1e-3, max(predicted), max(b.observed_high for b in table))
    axes.plot([0, top], [0, top], color="grey", linestyle="--", label="Perfect calibration")
    axes.errorbar(
        predicted,
        observed,
        yerr=errors,
        fmt="o-",
        color="tab:blue",
        capsize=3,
        label="Test cohort, bins of equal size (95 % interval)",
    )
    for b in table:
        axes.annotate(
            f"{b.cases}/{b.people}",
            (b.predicted, b.observed),
            fontsize=7,
            xytext=(4, -10),
            textcoords="offset points",
        )
    axes.set_xlim(0, top * 1.05)
    axes.set_ylim(0, top * 1.05)
    axes.set_xlabel("Mean predicted risk in the bin")
    axes.set_ylabel("Observed share with the disease")
    axes.set_title("Calibration: predicted against observed risk (labels: cases / people)")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", fontsize=8, framealpha=0.9)
    save_figure(figure, path)
    return True


def _verdict_words(check: CalibrationCheck, people: int, advice: str) -> str:
    """Whether the risk figures may be read as probabilities, from what this test cohort of
    `people` measured.

    A model trained on case-enriched cohorts is at best calibrated to their case share; but a
    miscalibration the test detects is the model's own, and blaming prevalence for it would let a
    reader trust the risks after a prevalence correction. A passing test on fewer than
    `MIN_CALIBRATION_PEOPLE` people says nothing either way, as `predict`, `adapt` and
    `inspect-model` say it (`genofed.common.scoring.validation`). `advice`: what to read a call by
    (`assessment.ppv_advice`).
    """
    worst = check.worst
    direction = "too high" if worst.predicted > worst.observed else "too low"
    facts = (
        f"the mean predicted risk is {100 * check.mean_risk:.1f} % against {100 * check.case_share:.1f} % "
        f"with the disease, {check.excluded} bin(s) have an observed share whose 95 % interval excludes "
        "their mean predicted risk, and the largest gap is "
        f"{100 * abs(worst.predicted - worst.observed):.1f} percentage points ({direction}: predicted "
        f"{100 * worst.predicted:.1f} %, observed {100 * worst.observed:.1f} %); the Hosmer-Lemeshow test "
        f"(do predicted and observed agree over all bins together?) gives {p_words(check.p_value)}"
    )
    if not check.calibrated:
        return (
            f"**These predicted risks are not calibrated** on this test cohort: {facts}. Do not read a "
            f"risk figure as a probability; use the risks as a ranking (the calls above) and {advice}."
        )
    if people < MIN_CALIBRATION_PEOPLE:
        return (
            f"**This test cohort of {people} people cannot tell whether the risks are calibrated**: {facts}; "
            f"on fewer than {MIN_CALIBRATION_PEOPLE} people the test misses even risks far off. Do not read "
            f"a risk figure as a probability; use the risks as a ranking (the calls above) and {advice}."
        )
    return (
        f"On this test cohort the risks are consistent with calibration: {facts}. That holds at this "
        f"cohort's case share ({100 * check.case_share:.1f} %); where the disease is rarer, as in the "
        f"general population, the same risks are too high: use {advice} there."
    )


def _interval(estimate: Estimate) -> str:
    """'1.50 (95 % CI 1.20 to 1.80)': "to", not a dash, since either end may be negative."""
    return f"{estimate.value:.2f} (95 % CI {estimate.low:.2f} to {estimate.high:.2f})"


def _slope_words(slope: Estimate) -> str:
    """What the calibration slope says about the spread of the risks, from where its interval lies."""
    if slope.covers(1.0):
        return (
            "consistent with 1: the risks are as spread out as the outcomes, as far as this cohort can tell"
        )
    if slope.high < 1.0:
        return (
            "below 1: the risks are too extreme (high risks too high, low risks too low): a real difference "
            "in risk is smaller than the score shows, the usual sign of a model fitted too closely to its "
            "training data"
        )
    return (
        "above 1: the risks are too close together (high risks too low, low risks too high): a real "
        "difference in risk is larger than the score shows"
    )


def _intercept_words(intercept: Estimate, case_share: float) -> str:
    """What calibration-in-the-large says about the level of the risks, at the cohort's case share."""
    where = f"at this test cohort's case share ({100 * case_share:.1f} %)"
    if intercept.covers(0.0):
        return f"consistent with 0: on average the risks are right {where}"
    direction = "too low" if intercept.value > 0 else "too high"
    return f"{'above' if intercept.value > 0 else 'below'} 0: on average the risks are {direction} {where}"


def _prevalence_words(fit: Recalibration, prevalence: Prevalence | None) -> str:
    """Why the intercept holds only at the test cohort's case share, and how far it moves at the real
    prevalence: drawing cases and controls at different rates shifts the log-odds of every person by
    the same amount (the log odds ratio of the two case shares) and leaves the slope as it is."""
    known = prevalence is not None and 0.0 < prevalence.value < 1.0
    enriched = (
        "The test cohort is enriched for cases"
        if known and fit.case_share > prevalence.value
        else "Where the test cohort's case share is not the population's (a case-control design)"
    )
    words = (
        f"{enriched}, so the intercept describes risks at its case share; the slope does not depend on "
        "the case share (drawing cases and controls at different rates shifts everyone's log-odds by the "
        "same amount), so it carries over to a population where the disease is rarer or commoner."
    )
    if not known:
        return words
    shift = float(logit(prevalence.value) - logit(fit.case_share))
    there = fit.intercept.value + shift
    return (
        f"{words} At the real prevalence of {100 * prevalence.value:.1f} % the intercept would be about "
        f"{there:.2f} ({fit.intercept.value:.2f} {'-' if shift < 0 else '+'} "
        f"{abs(shift):.2f}, the log odds ratio of {100 * prevalence.value:.1f} % to "
        f"{100 * fit.case_share:.1f} %): every risk too {'high' if there < 0 else 'low'} there, as the PPV "
        "at the real prevalence shows."
    )


def recalibration_words(fit: Recalibration | None, prevalence: Prevalence | None) -> str:
    """The calibration slope and calibration-in-the-large in words a clinician reads ("" if not fitted).

    The bins and the Hosmer-Lemeshow test say whether the risks come true; the slope says whether a
    miss is in their spread, the intercept whether it is in their level, and so how to read a risk.
    """
    if fit is None:
        return ""
    return (
        f"**Calibration slope** {_interval(fit.slope)} (the disease regressed on the log-odds of the "
        f"predicted risk over the {fit.people:,} people; 1 is perfect): {_slope_words(fit.slope)}. "
        f"**Calibration-in-the-large** {_interval(fit.intercept)} (the same regression's intercept with "
        f"the slope fixed at 1; 0 is perfect): {_intercept_words(fit.intercept, fit.case_share)}. "
        + _prevalence_words(fit, prevalence)
    )


def _paragraph(text: str) -> str:
    """`text` and a blank line, or nothing for no text."""
    return f"{text}\n\n" if text else ""


def calibration_section(assessment: Assessment, plot_written: bool) -> str:
    """The plot, how to read it, whether the risks can be read as probabilities, and the bins."""
    table = assessment.calibration
    check = check_calibration(table)
    if check is None:
        return "## Calibration\n\nNot measured: the final model's risks on the test cohort were not recorded."
    rows = [
        [
            f"{b.low:.3f}-{b.high:.3f}",
            f"{b.people:,}",
            f"{b.cases:,}",
            fmt_float(b.predicted),
            f"{fmt_float(b.observed)} ({fmt_float(b.observed_low)}-{fmt_float(b.observed_high)})",
        ]
        for b in table
    ]
    image = f"![Calibration: predicted against observed risk]({CALIBRATION_PLOT})\n\n" if plot_written else ""
    return (
        "## Calibration\n\n"
        + image
        + f"The test cohort's people sorted by predicted risk and cut into {len(table)} bins of equal size: "
        "each bin's mean predicted risk against the share of its people who have the disease, with a "
        "Wilson 95 % interval. On the dashed line a predicted 30 % risk comes true for 30 % of such people. "
        f"Here predicted and observed risk differ by {100 * check.mean_gap:.1f} percentage points on "
        f"average over these {len(table)} equal-size bins (weighted by bin size); the calibration error "
        "(ECE) in the Final model table bins risks by equal width instead (0-0.1, 0.1-0.2, ...), so it "
        "gives a different figure for the same predictions.\n\n"
        + _verdict_words(check, sum(b.people for b in table), ppv_advice(assessment))
        + "\n\n"
        + _paragraph(recalibration_words(assessment.recalibration, assessment.prevalence))
        + markdown_table(
            ["Predicted risk range", "People", "Cases", "Mean predicted", "Observed (95 % CI)"], rows
        )
    )
