"""Calibration: does a predicted 30 % risk come true for 30 % of such people?

People are sorted by predicted risk and cut into bins of (nearly) equal size; each bin's mean
predicted risk is set against the share of its people who have the disease, with a Wilson 95 %
interval on that share, because a bin of 60 people estimates it only to within about +-12 points.

Whether the risks may be read as probabilities (`check_calibration`, `calibration_statement`) is
decided here, once, for every place that says it: the run report's Calibration section, model card
and verdict, and the model file's record of who it was validated on
(`genofed.common.scoring.validation`), which `genofed predict` repeats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from genofed.common.reporting.auc import Z95
from genofed.common.reporting.formatting import fmt_percent

#: The Hosmer-Lemeshow p-value below which the risks are said not to be calibrated.
CALIBRATION_ALPHA = 0.05


@dataclass(frozen=True)
class CalibrationBin:
    """One risk bin: its risk range, size, cases, mean predicted risk and observed case share."""

    low: float
    high: float
    people: int
    cases: int
    predicted: float
    observed: float
    observed_low: float
    observed_high: float


def calibration_table(labels: np.ndarray, risks: np.ndarray, bins: int = 10) -> list[CalibrationBin]:
    """Equal-size bins by predicted risk (quantile bins): every bin has a usable number of people.

    Fewer bins than asked when the cohort is smaller than `bins`; an empty cohort gives [].
    Equal-width bins would leave most bins empty for a model whose risks crowd near one value.

    Args:
        labels: 1 = has the disease, 0 = does not.
        risks: predicted risks in [0, 1].
        bins: how many bins (at most one per person).
    """
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(risks, dtype=np.float64)
    if not len(p):
        return []
    order = np.argsort(p, kind="stable")
    table = []
    for part in np.array_split(order, min(bins, len(p))):
        cases, people = int(y[part].sum()), len(part)
        low, high = wilson_interval(cases, people)
        table.append(
            CalibrationBin(
                low=float(p[part].min()),
                high=float(p[part].max()),
                people=people,
                cases=cases,
                predicted=float(p[part].mean()),
                observed=cases / people,
                observed_low=low,
                observed_high=high,
            )
        )
    return table


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for a proportion (95 % by default); (0, 1) for no trials.

    Unlike the normal interval it stays inside [0, 1] and is honest at 0 of 12 or 12 of 12.
    """
    if trials <= 0:
        return 0.0, 1.0
    share = successes / trials
    centre = (share + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class CalibrationCheck:
    """What a calibration table says about the risk figures, in the numbers the text quotes."""

    mean_gap: float  # mean |predicted - observed| over the bins, weighted by people
    worst: CalibrationBin  # the bin with the largest gap
    excluded: int  # bins whose observed 95 % interval excludes their mean predicted risk
    hosmer_lemeshow: float  # chi-square statistic over the bins
    p_value: float  # with as many degrees of freedom as bins (a cohort the model was not fitted on)
    mean_risk: float  # mean predicted risk over everyone
    case_share: float  # share of everyone with the disease

    @property
    def calibrated(self) -> bool:
        """Consistent with calibration: the test does not reject it at CALIBRATION_ALPHA."""
        return self.p_value >= CALIBRATION_ALPHA

    @property
    def largest_gap(self) -> float:
        """|predicted - observed| of the worst bin, as a share (0.228: 22.8 percentage points)."""
        return abs(self.worst.predicted - self.worst.observed)


def check_calibration(table: list[CalibrationBin]) -> CalibrationCheck | None:
    """Gap, worst bin and the Hosmer-Lemeshow test of a calibration table; None when empty.

    The test, not the bins' intervals one by one, decides whether the text calls the risks
    calibrated: of ten 95 % intervals, at least one misses by chance in about 40 % of perfectly
    calibrated models, while the test weighs all bins together at a 5 % error rate.
    """
    if not table:
        return None
    from scipy.stats import chi2  # scipy loads only when calibration is judged

    people = sum(b.people for b in table)
    statistic = sum(_hosmer_lemeshow_term(b) for b in table)
    return CalibrationCheck(
        mean_gap=sum(abs(b.predicted - b.observed) * b.people for b in table) / people,
        worst=max(table, key=lambda b: abs(b.predicted - b.observed)),
        excluded=sum(not b.observed_low <= b.predicted <= b.observed_high for b in table),
        hosmer_lemeshow=statistic,
        p_value=float(chi2.sf(statistic, len(table))),
        mean_risk=sum(b.predicted * b.people for b in table) / people,
        case_share=sum(b.cases for b in table) / people,
    )


def _hosmer_lemeshow_term(b: CalibrationBin) -> float:
    """(observed - expected cases)^2 / variance for one bin; 0 for a bin predicted all 0 or all 1."""
    variance = b.people * b.predicted * (1 - b.predicted)
    return (b.cases - b.predicted * b.people) ** 2 / variance if variance > 0 else 0.0


#: Below this a p-value is written "p < 1e-16" (double precision's resolution next to 1).
SMALLEST_P = 1e-16


def p_words(p_value: float) -> str:
    """'p = 0.0079', or 'p < 1e-16' when smaller.

    A test's p-value is never 0: the chi-square tail underflows to 0.0 for a badly miscalibrated
    model, and "p = 0" reads as a certainty no test gives. Below `SMALLEST_P` the figure says only
    that it is far below any threshold, so the report says that.
    """
    return f"p < {SMALLEST_P:g}" if p_value < SMALLEST_P else f"p = {p_value:.2g}"


def calibration_statement(
    check: CalibrationCheck, cohort: str = "the test cohort", possessive: str | None = None
) -> str:
    """The verdict in one plain sentence (no markdown): what the run report's verdict states under
    "Calibration" and what a model file records (`genofed predict` prints it).

    Args:
        check: `check_calibration` of the cohort's calibration table.
        cohort: who it was measured on, as the sentence names them.
        possessive: `cohort`'s possessive for "at ...'s case share" (default: `cohort` + "'s").
    """
    if not check.calibrated:
        return (
            f"the risk figures are not calibrated on {cohort} (Hosmer-Lemeshow test "
            f"{p_words(check.p_value)}; "
            f"up to {100 * check.largest_gap:.0f} percentage points off): do not read a risk figure as a "
            "probability"
        )
    whose = possessive or f"{cohort}'s"
    return (
        "the risk figures are consistent with calibration at "
        f"{whose} {fmt_percent(check.case_share)} case share (Hosmer-Lemeshow test "
        f"{p_words(check.p_value)}), not at the real prevalence, where the disease is rarer"
    )
