"""AUC with its uncertainty: DeLong's 95 % interval on a scored cohort, the paired DeLong interval
of a difference of AUCs scored on the same people (federated minus pooled), and the Hanley-McNeil
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
    parts = placements(labels, risks)
    if parts is None:
        return None
    variance = _var(parts.cases) / len(parts.cases) + _var(parts.controls) / len(parts.controls)
    half = _z(level) * math.sqrt(max(variance, 0.0))
    return AucInterval(parts.auc, max(0.0, parts.auc - half), min(1.0, parts.auc + half), "DeLong", level)


@dataclass(frozen=True)
class Placements:
    """DeLong's structural components of one score on one cohort: the AUC, each case's share of
    the controls it outranks (`cases`, V10) and each control's share of the cases that outrank it
    (`controls`, V01), ties counting half. Two scores of the same people share their cases and
    controls, so their components pair up person by person: that pairing is what makes the
    covariance of two AUCs (`delong_covariance`) estimable without resampling."""

    auc: float
    cases: np.ndarray
    controls: np.ndarray


def placements(labels: np.ndarray, risks: np.ndarray) -> Placements | None:
    """The AUC and its structural components (Sun and Xu's midrank form); None when a class is empty."""
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
    return Placements(auc, case_placements, control_placements)


def delong_covariance(labels: np.ndarray, scores: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    """The AUCs of several scores of the same people and DeLong's covariance matrix of them.

    DeLong, DeLong & Clarke-Pearson (1988): S = S10 / m + S01 / n, with S10 the covariance over
    cases of the scores' case placements and S01 that over controls of their control placements.
    Models scored on the same test people err on the same hard cases, so their AUCs move together
    from one cohort to the next; the off-diagonal terms carry that, and a difference of two AUCs
    is then far more precise than two separate intervals suggest. None when a class is empty.
    """
    parts = [placements(labels, s) for s in scores]
    if not parts or any(p is None for p in parts):
        return None
    case_matrix = np.vstack([p.cases for p in parts])  # type: ignore[union-attr]
    control_matrix = np.vstack([p.controls for p in parts])  # type: ignore[union-attr]
    m, n = case_matrix.shape[1], control_matrix.shape[1]
    covariance = _cov(case_matrix) / m + _cov(control_matrix) / n
    return np.array([p.auc for p in parts]), covariance  # type: ignore[union-attr]


@dataclass(frozen=True)
class AucDifference:
    """A contrast of AUCs measured on the same people (e.g. federated minus pooled) with its paired
    two-sided interval, clipped to [-1, 1]; `se` its standard error, `aucs` the AUCs contrasted."""

    difference: float
    low: float
    high: float
    se: float
    aucs: tuple[float, ...] = ()
    method: str = "paired DeLong"
    level: float = 0.95

    @property
    def includes_zero(self) -> bool:
        """True when the interval holds 0: the cohort cannot tell the two models apart."""
        return self.low <= 0.0 <= self.high


def delong_contrast(
    labels: np.ndarray, scores: list[np.ndarray], weights: list[float], level: float = 0.95
) -> AucDifference | None:
    """sum(weights * AUCs) of scores of the same people, with its paired DeLong interval.

    var = w' S w with S from `delong_covariance`. One score minus another is weights (1, -1); one
    minus the mean of two (a median of an even number of hospitals) is (1, -1/2, -1/2). None when
    a class is empty.
    """
    found = delong_covariance(labels, scores)
    if found is None:
        return None
    aucs, covariance = found
    w = np.asarray(weights, dtype=np.float64)
    value = float(w @ aucs)
    se = math.sqrt(max(float(w @ covariance @ w), 0.0))
    half = _z(level) * se
    return AucDifference(
        value, max(-1.0, value - half), min(1.0, value + half), se, tuple(float(a) for a in aucs), level=level
    )


def paired_delong_difference(
    labels: np.ndarray, risks: np.ndarray, reference: np.ndarray, level: float = 0.95
) -> AucDifference | None:
    """AUC(risks) - AUC(reference) on the same people, with DeLong's paired interval."""
    return delong_contrast(labels, [risks, reference], [1.0, -1.0], level)


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


def _cov(rows: np.ndarray) -> np.ndarray:
    """The covariance (ddof 1) of the rows' values over people; 0 with one person only."""
    if rows.shape[1] < 2:
        return np.zeros((rows.shape[0], rows.shape[0]))
    return np.atleast_2d(np.cov(rows, ddof=1))
