"""Binary classification metrics a clinician can read, as JSON-ready plain floats.

AUC ranks patients (what screening needs); sensitivity/specificity at a threshold say what a
cut-off does; Brier and ECE say whether the predicted risks can be read as probabilities, which
matters because clinic cohorts are case-enriched and a federated model may be miscalibrated for
one site's case mix.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

ECE_BINS = 10


def binary_metrics(labels: np.ndarray, probs: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """auc, accuracy, sensitivity, specificity, threshold, brier, ece, n, cases.

    auc is None when only one class is present (undefined, not 0.5); sensitivity/specificity are
    None when there are no cases/controls.
    """
    y = np.asarray(labels).astype(np.int64).ravel()
    p = np.asarray(probs, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"{y.size} labels but {p.size} probabilities")
    predicted = p >= threshold
    cases, controls = int((y == 1).sum()), int((y == 0).sum())
    both = cases > 0 and controls > 0
    return {
        "auc": float(roc_auc_score(y, p)) if both else None,
        "accuracy": float((predicted == (y == 1)).mean()) if y.size else None,
        "sensitivity": float(predicted[y == 1].mean()) if cases else None,
        "specificity": float((~predicted[y == 0]).mean()) if controls else None,
        "threshold": float(threshold),
        "brier": float(np.mean((p - y) ** 2)) if y.size else None,
        "ece": expected_calibration_error(y, p) if y.size else None,
        "n": int(y.size),
        "cases": cases,
    }


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray, bins: int = ECE_BINS) -> float:
    """Sum over equal-width probability bins of (bin share) * |mean prob - case rate|.

    Bins are [0, 0.1), [0.1, 0.2), ..., [0.9, 1.0]; probability 1.0 falls in the last bin.
    """
    y = np.asarray(labels, dtype=np.float64).ravel()
    p = np.asarray(probs, dtype=np.float64).ravel()
    index = np.clip((p * bins).astype(np.int64), 0, bins - 1)
    gap = np.abs(
        np.bincount(index, weights=p, minlength=bins) - np.bincount(index, weights=y, minlength=bins)
    )
    return float(gap.sum() / max(len(p), 1))
