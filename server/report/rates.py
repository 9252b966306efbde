"""The uncertainty of the rates a clinician acts on, and the prevalence-free likelihood ratios.

- `share_cell`: a share (sensitivity, specificity, share flagged) with Wilson's 95 % interval.
- `likelihood_ratios` lives in `genofed.common.reporting.ratios` (`genofed predict` reads them too):
  LR+ and LR-, each with the log-method 95 % interval.
- `ppv_npv_cell`: PPV and NPV at a prevalence, with the intervals the likelihood ratios' carry
  over (`genofed.common.reporting.ratios.predictive_values`).
- `reweighted_brier`: the Brier score with cases and controls reweighted to a prevalence.

A rate or ratio that is undefined (an empty denominator, no false alarm, no one flagged) is None and
reads "not measured" or says why; an interval that needs a zero count in a denominator is left out,
and one whose proportion is 0 or 1 (no case flagged, every case flagged) takes half a count each way,
not a zero width.
"""

from __future__ import annotations

import numpy as np

from genofed.common.reporting.calibration import wilson_interval
from genofed.common.reporting.clinical import ThresholdMetrics
from genofed.common.reporting.formatting import NOT_MEASURED, fmt_percent
from genofed.common.reporting.ratios import percent_with_interval, predictive_values


def share_cell(successes: int, trials: int) -> str:
    """'74.6% (68.7-79.7)': a share with its Wilson 95 % interval; not measured for no trials."""
    if trials <= 0:
        return NOT_MEASURED
    low, high = wilson_interval(successes, trials)
    return f"{fmt_percent(successes / trials)} ({100 * low:.1f}-{100 * high:.1f})"


def ppv_npv_cell(metrics: ThresholdMetrics, prevalence: float) -> str:
    """'2.7% (2.3-3.2) / 99.4% (99.2-99.5)': PPV and NPV where the disease has `prevalence`, each
    with the interval its likelihood ratio's maps to (none where that ratio has none)."""
    ppv, npv = predictive_values(metrics, prevalence)
    return f"{percent_with_interval(ppv)} / {percent_with_interval(npv)}"


def reweighted_brier(labels: np.ndarray, risks: np.ndarray, prevalence: float) -> float | None:
    """The Brier score in a population with this prevalence: the cases' mean (1 - risk)^2 weighted
    by `prevalence`, the controls' mean risk^2 by 1 - `prevalence`. None without both classes."""
    y = np.asarray(labels).astype(bool)
    r = np.asarray(risks, dtype=np.float64)
    if not y.any() or y.all() or not 0.0 < prevalence < 1.0:
        return None
    return float(prevalence * np.mean((1.0 - r[y]) ** 2) + (1.0 - prevalence) * np.mean(r[~y] ** 2))
