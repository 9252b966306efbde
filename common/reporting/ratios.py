"""Likelihood ratios with their 95 % intervals: the run report's and `genofed predict`'s.

LR+ = sensitivity / (1 - specificity) and LR- = (1 - sensitivity) / specificity, each with the
log-method 95 % interval (Simel, Samsa and Matchar 1991: the log of a ratio of two independent
proportions is near normal, with variance 1/a - 1/n1 + 1/b - 1/n0). A likelihood ratio does not
depend on how common the disease is, so it is the figure that carries from an enriched test cohort
to another population: post-test odds = pre-test odds x LR. An undefined ratio (no false alarm, no
one flagged) is None and says why; a proportion of 0 or 1 takes half a count each way (Haldane),
not a zero-width interval.

`predictive_values` carries them to a prevalence: PPV = p LR+ / (p LR+ + 1 - p) rises with LR+, and
NPV = 1 - p LR- / (p LR- + 1 - p) falls with LR-, so each interval is its ratio's interval mapped
through that function.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from genofed.common.reporting.auc import Z95
from genofed.common.reporting.clinical import ThresholdMetrics
from genofed.common.reporting.formatting import NOT_MEASURED, fmt_percent


@dataclass(frozen=True)
class Ratio:
    """A likelihood ratio and its 95 % interval; `value` None: undefined (`why` says so)."""

    value: float | None
    low: float | None = None
    high: float | None = None
    why: str = ""

    def against_one(self) -> str | None:
        """Where the 95 % interval lies against 1 (no information): "above" (the flag raises the
        chance of disease), "below" (it lowers it: the call works backwards), "reaches" (neither is
        shown); None without an interval."""
        if self.low is None or self.high is None:
            return None
        if self.low > 1.0:
            return "above"
        return "below" if self.high < 1.0 else "reaches"

    def cell(self) -> str:
        """'1.85 (1.63-2.10)', the value alone without an interval, or why it is undefined."""
        if self.value is None:
            return self.why or NOT_MEASURED
        if self.low is None or self.high is None:
            return f"{self.value:.2f}"
        return f"{self.value:.2f} ({self.low:.2f}-{self.high:.2f})"


def _log_ratio(hits: float, hits_of: float, misses: float, misses_of: float) -> Ratio:
    """(hits / hits_of) / (misses / misses_of) with the log-method interval (module docstring)."""
    ratio = (hits / hits_of) / (misses / misses_of)
    if hits == 0:
        # a ratio of 0 (no case flagged, some controls are) has no log; its upper bound comes from
        # half a count each way (Haldane), so that "0.00" does not read as a certain 0
        corrected = _log_ratio(0.5, hits_of + 1, misses + 0.5, misses_of + 1)
        return Ratio(0.0, 0.0, corrected.high)
    if hits == hits_of or misses == misses_of:
        # a proportion of 1 (everyone flagged, say) makes its variance term 1/a - 1/n zero, and
        # the interval would collapse onto the value; half a count each way (Haldane) keeps it
        hits, hits_of, misses, misses_of = hits + 0.5, hits_of + 1, misses + 0.5, misses_of + 1
    se = math.sqrt(1 / hits - 1 / hits_of + 1 / misses - 1 / misses_of)
    return Ratio(ratio, ratio * math.exp(-Z95 * se), ratio * math.exp(Z95 * se))


#: LR+ where the call flags no one: 0 / 0, neither unbounded nor 0.
NO_ONE_FLAGGED = "not defined (no one flagged)"


def likelihood_ratios(metrics: ThresholdMetrics) -> tuple[Ratio, Ratio]:
    """(LR+, LR-) of calling `risk >= threshold` high risk, from its confusion counts."""
    cases = metrics.true_positives + metrics.false_negatives
    controls = metrics.true_negatives + metrics.false_positives
    if not cases or not controls:
        undefined = Ratio(None, why="not measured (needs people with and without the disease)")
        return undefined, undefined
    if metrics.flagged == 0:
        positive = Ratio(None, why=NO_ONE_FLAGGED)
    elif metrics.false_positives == 0:
        positive = Ratio(None, why="unbounded (no false alarm in the test cohort)")
    else:
        positive = _log_ratio(metrics.true_positives, cases, metrics.false_positives, controls)
    if metrics.true_negatives + metrics.false_negatives == 0:
        negative = Ratio(None, why="not defined (everyone flagged)")
    elif metrics.true_negatives == 0:
        negative = Ratio(None, why="unbounded (no one without the disease left unflagged)")
    else:
        negative = _log_ratio(metrics.false_negatives, cases, metrics.true_negatives, controls)
    return positive, negative


@dataclass(frozen=True)
class Prevalence:
    """The disease's prevalence where the model is meant to be used, and where that figure came from."""

    value: float
    source: str


@dataclass(frozen=True)
class Share:
    """A probability with its 95 % interval (None: none, e.g. where its ratio is unbounded)."""

    value: float
    low: float | None = None
    high: float | None = None


def post_test_probability(prevalence: float, ratio: float) -> float:
    """The probability of disease after a result with likelihood ratio `ratio`, before it `prevalence`."""
    odds = prevalence / (1 - prevalence) * ratio
    return odds / (1 + odds)


def predictive_values(metrics: ThresholdMetrics, prevalence: float) -> tuple[Share | None, Share | None]:
    """(PPV, NPV) of calling `risk >= threshold` high risk where the disease has `prevalence`, each
    with the interval its likelihood ratio's maps to (module docstring); None where undefined."""
    ppv, npv = metrics.ppv_npv_at(prevalence)
    positive, negative = likelihood_ratios(metrics)
    ppv_share = npv_share = None
    if ppv is not None:
        bounded = positive.low is not None and positive.high is not None
        ppv_share = Share(
            ppv,
            post_test_probability(prevalence, positive.low) if bounded else None,
            post_test_probability(prevalence, positive.high) if bounded else None,
        )
    if npv is not None:
        bounded = negative.low is not None and negative.high is not None
        npv_share = Share(
            npv,
            1 - post_test_probability(prevalence, negative.high) if bounded else None,
            1 - post_test_probability(prevalence, negative.low) if bounded else None,
        )
    return ppv_share, npv_share


def percent_with_interval(share: Share | None) -> str:
    """'2.7% (2.3-3.2)', the percentage alone without an interval, or not measured for None."""
    if share is None:
        return NOT_MEASURED
    if share.low is None or share.high is None:
        return fmt_percent(share.value)
    return f"{fmt_percent(share.value)} ({100 * share.low:.1f}-{100 * share.high:.1f})"
