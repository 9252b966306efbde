"""Calibration: does a predicted 30 % risk come true for 30 % of such people?

People are sorted by predicted risk and cut into bins of (nearly) equal size; each bin's mean
predicted risk is set against the share of its people who have the disease, with a Wilson 95 %
interval on that share, because a bin of 60 people estimates it only to within about +-12 points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from genofed.common.reporting.auc import Z95


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
