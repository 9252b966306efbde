"""Statistics of experiment rows: means and spreads over seeds, and paired comparisons.

Rows carry None (or NaN) where a metric was not measured; every statistic ignores those and
returns None when nothing is left, so a table cell reads "not measured" instead of NaN.
"""

from __future__ import annotations

import pandas as pd


def _measured(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").dropna()


def mean(values: pd.Series) -> float | None:
    """The mean of the measured values, None if there are none."""
    values = _measured(values)
    return float(values.mean()) if len(values) else None


def sd(values: pd.Series) -> float | None:
    """The sample standard deviation (ddof 1) of the measured values, None below two."""
    values = _measured(values)
    return float(values.std(ddof=1)) if len(values) > 1 else None


def maximum(values: pd.Series | None) -> float | None:
    """The largest measured value, None if there are none (or no column at all)."""
    if values is None:
        return None
    values = _measured(values)
    return float(values.max()) if len(values) else None


def paired(rows: pd.DataFrame, reference: pd.DataFrame, keys: list[str], suffix: str) -> pd.DataFrame:
    """`rows` next to the `reference` row of the same cell (same values of `keys`), for paired
    differences: seeds and sites vary much more than an arm's effect, so an arm is compared with
    the reference on the same site and seed, never with the reference's mean.

    Args:
        rows: the arm's rows, with the `keys` columns.
        reference: the reference rows, already indexed by `keys`; their columns get `suffix`
            where `rows` has a column of the same name.
        keys: the columns that identify a cell, e.g. size, seed, epsilon, site.
        suffix: appended to the reference's overlapping columns, e.g. "_none".

    Returns:
        One row per cell present in both (an inner join), indexed by `keys`.
    """
    return rows.set_index(keys).join(reference, rsuffix=suffix, how="inner")
