"""Input checks and one small statistic shared by every metric family: dosage matrices and
labels are validated the same way everywhere, and an undefined correlation is NaN everywhere
(so it never passes a check)."""

from __future__ import annotations

import numpy as np


def as_dosages(x: np.ndarray, name: str, n_variants: int | None = None) -> np.ndarray:
    """int8 (n, m) with values in {0, 1, 2}; anything else (missing codes included) is an error."""
    a = np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (samples, variants) matrix, got shape {a.shape}")
    if n_variants is not None and a.shape[1] != n_variants:
        raise ValueError(
            f"{name}: {a.shape[1]} variants, expected {n_variants} (same columns as the real data)"
        )
    if a.size and (a.min() < 0 or a.max() > 2 or (a.dtype.kind == "f" and not np.all(a == np.round(a)))):
        raise ValueError(f"{name}: dosages must be 0, 1 or 2 with no missing values")
    return a.astype(np.int8, copy=False)


def as_labels(y: np.ndarray, n: int, name: str) -> np.ndarray:
    a = np.asarray(y).ravel()
    if a.size != n:
        raise ValueError(f"{name}: {a.size} labels for {n} records")
    if not np.all((a == 0) | (a == 1)):
        raise ValueError(f"{name}: labels must be 0/1")
    return a.astype(np.int8)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r; NaN when either side is constant (an undefined correlation never passes)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size < 2 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])
