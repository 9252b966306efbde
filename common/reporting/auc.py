"""AUC with its uncertainty: DeLong's 95 % interval on a scored cohort, and the Hanley-McNeil
standard error when only the AUC and the class counts are known (a hospital's DP-released AUC).

An AUC from 600 people moves by a few hundredths from one cohort to the next; from 30 people by
a tenth or more. A report must show that spread, or readers will rank hospitals by noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

#: 95 %: the z of a two-sided normal interval.
Z95 = NormalDist().inv_cdf(0.975)


@dataclass(frozen=True)
class AucInterval:
    """An AUC and its two-sided confidence interval (clipped to [0, 1]); `method` names how."""

    auc: float
    low: float
    high: float
    method: str
    level: float = 0.95

    @property
    def includes_chance(self) -> bool:
        """True when the interval reaches 0.5: the data cannot tell the model from a coin toss."""
        return self.low <= 0.5

    @property
    def uninformative(self) -> bool:
        """True when the interval reaches (nearly) both 0 and 1: the figure says nothing, and is
        shown as uninformative rather than as a number (a DP-released AUC at a strict budget)."""
        return self.low <= UNINFORMATIVE_EDGE and self.high >= 1 - UNINFORMATIVE_EDGE


#: An interval at least this close to both 0 and 1 says nothing about the AUC.
UNINFORMATIVE_EDGE = 0.05


def delong_interval(labels: np.ndarray, risks: np.ndarray, level: float = 0.95) -> AucInterval | None:
    """The AUC (Mann-Whitney, ties count half) and DeLong's asymptotic interval.

    DeLong et al. (1988), in the fast midrank form of Sun and Xu (2014): the variance of the AUC is
    estimated from each case's and each control's "placement" (its share of the other class it
    outranks), with no resampling. None when either class is empty.

    Args:
        labels: 1 = case, 0 = control.
        risks: predicted risks (any monotone score).
        level: the interval's coverage, e.g. 0.95.
    """
    from scipy.stats import rankdata  # scipy loads only when an interval is computed

    y = np.asarray(labels).astype(bool)
    scores = np.asarray(risks, dtype=np.float64)
    cases, controls = scores[y], scores[~y]
    m, n = len(cases), len(controls)
    if m == 0 or n == 0:
        return None
    all_ranks = rankdata(np.concatenate([cases, controls]))
    case_ranks, control_ranks = rankdata(cases), rankdata(controls)
    auc = float((all_ranks[:m].sum() - m * (m + 1) / 2) / (m * n))
    case_placements = (all_ranks[:m] - case_ranks) / n  # share of controls each case outranks
    control_placements = 1.0 - (all_ranks[m:] - control_ranks) / m
    variance = _var(case_placements) / m + _var(control_placements) / n
    half = _z(level) * math.sqrt(max(variance, 0.0))
    return AucInterval(auc, max(0.0, auc - half), min(1.0, auc + half), "DeLong", level)


def hanley_mcneil_se(auc: float, cases: float, controls: float) -> float | None:
    """The standard error of an AUC from its value and the class sizes alone (Hanley & McNeil 1982).

    Used where the scores themselves are not available, as for a hospital's AUC read from its
    DP-released histogram. None when a class is empty or the AUC is outside [0, 1].
    """
    if cases < 1 or controls < 1 or not 0.0 <= auc <= 1.0:
        return None
    q1 = auc / (2.0 - auc)
    q2 = 2.0 * auc * auc / (1.0 + auc)
    variance = (
        auc * (1.0 - auc) + (cases - 1.0) * (q1 - auc * auc) + (controls - 1.0) * (q2 - auc * auc)
    ) / (cases * controls)
    return math.sqrt(max(variance, 0.0))


def normal_interval(auc: float, se: float, method: str, level: float = 0.95) -> AucInterval:
    """auc +- z se, clipped to [0, 1]."""
    half = _z(level) * se
    return AucInterval(auc, max(0.0, auc - half), min(1.0, auc + half), method, level)


def _z(level: float) -> float:
    """The z of a two-sided normal interval of coverage `level`."""
    return NormalDist().inv_cdf(0.5 + level / 2)


def _var(values: np.ndarray) -> float:
    return float(np.var(values, ddof=1)) if len(values) > 1 else 0.0
