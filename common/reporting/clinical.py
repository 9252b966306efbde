"""What a risk score means at the bedside: the counts and rates at a threshold, PPV and NPV at a
disease's real prevalence, the top risk decile, and the Brier score against the no-skill reference.

Pure numpy on (labels, risks) arrays, so the run report and any experiment compute these numbers
the same way. Every rate whose denominator is zero is None ("not measured"), never 0 or NaN: a
cohort without a flagged person has no PPV, and a report must not print one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The share of people a "top risk decile" call flags.
TOP_DECILE = 0.1


@dataclass(frozen=True)
class ThresholdMetrics:
    """The confusion counts of calling `risk >= threshold` high risk, and the rates read from them.

    `ppv` and `npv` are at the cohort's own case share (`prevalence`); `ppv_npv_at` gives them at
    another prevalence. Rates with an empty denominator are None.
    """

    threshold: float
    true_positives: int
    false_positives: int
    true_negatives: int
    false_negatives: int

    @property
    def n(self) -> int:
        return self.true_positives + self.false_positives + self.true_negatives + self.false_negatives

    @property
    def flagged(self) -> int:
        """How many people the threshold calls high risk."""
        return self.true_positives + self.false_positives

    @property
    def prevalence(self) -> float | None:
        return _ratio(self.true_positives + self.false_negatives, self.n)

    @property
    def sensitivity(self) -> float | None:
        return _ratio(self.true_positives, self.true_positives + self.false_negatives)

    @property
    def specificity(self) -> float | None:
        return _ratio(self.true_negatives, self.true_negatives + self.false_positives)

    @property
    def ppv(self) -> float | None:
        return _ratio(self.true_positives, self.flagged)

    @property
    def npv(self) -> float | None:
        return _ratio(self.true_negatives, self.true_negatives + self.false_negatives)

    def ppv_npv_at(self, prevalence: float) -> tuple[float | None, float | None]:
        """(PPV, NPV) this threshold would have where the disease has `prevalence` (Bayes' rule)."""
        return ppv_npv_at_prevalence(self.sensitivity, self.specificity, prevalence)


def threshold_metrics(labels: np.ndarray, risks: np.ndarray, threshold: float) -> ThresholdMetrics:
    """The confusion counts of calling `risks >= threshold` high risk.

    Args:
        labels: 1 = has the disease, 0 = does not (any array of 0/1 values).
        risks: the predicted risks, one per person, in [0, 1].
        threshold: the risk at and above which a person is flagged.
    """
    y = np.asarray(labels).astype(bool)
    flagged = np.asarray(risks, dtype=np.float64) >= threshold
    return ThresholdMetrics(
        threshold=float(threshold),
        true_positives=int(np.sum(flagged & y)),
        false_positives=int(np.sum(flagged & ~y)),
        true_negatives=int(np.sum(~flagged & ~y)),
        false_negatives=int(np.sum(~flagged & y)),
    )


def top_fraction_threshold(risks: np.ndarray, fraction: float = TOP_DECILE) -> float | None:
    """The risk at and above which the highest `fraction` of people lie (ties can flag a few more).

    None for an empty cohort. The threshold is the `ceil(fraction * n)`-th highest risk, so at least
    that many people are flagged.
    """
    values = np.sort(np.asarray(risks, dtype=np.float64))[::-1]
    if not len(values):
        return None
    k = max(1, int(np.ceil(fraction * len(values))))
    return float(values[k - 1])


def ppv_npv_at_prevalence(
    sensitivity: float | None, specificity: float | None, prevalence: float
) -> tuple[float | None, float | None]:
    """(PPV, NPV) of a test with this sensitivity and specificity where the disease has `prevalence`.

    Sensitivity and specificity do not depend on how many people have the disease, PPV and NPV do:
    a test cohort enriched for cases (a case-control design) shows a PPV far above what a clinic
    screening the general population would see. None where undefined (no one flagged, no one clear).
    """
    if sensitivity is None or specificity is None or not 0.0 < prevalence < 1.0:
        return None, None
    true_pos = sensitivity * prevalence
    false_pos = (1.0 - specificity) * (1.0 - prevalence)
    true_neg = specificity * (1.0 - prevalence)
    false_neg = (1.0 - sensitivity) * prevalence
    return _ratio(true_pos, true_pos + false_pos), _ratio(true_neg, true_neg + false_neg)


def brier_score(labels: np.ndarray, risks: np.ndarray) -> float | None:
    """Mean squared difference between predicted risk and outcome (0 = perfect); None when empty."""
    y = np.asarray(labels, dtype=np.float64)
    if not len(y):
        return None
    return float(np.mean((np.asarray(risks, dtype=np.float64) - y) ** 2))


def no_skill_brier(prevalence: float) -> float:
    """The Brier score of giving everyone the cohort's prevalence p: p (1 - p).

    A model scoring worse than this tells a clinician less than the base rate alone does.
    """
    return prevalence * (1.0 - prevalence)


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator > 0 else None
