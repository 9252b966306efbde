"""Stratified train/validation splits, shared by hospitals (local validation) and pretraining."""

from __future__ import annotations

import numpy as np


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation): `fraction` of every class (cases, controls; or ancestries)
    goes to validation, so a small cohort's few cases are never all on one side."""
    rng = np.random.default_rng(seed)
    val = []
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        rng.shuffle(members)
        val.extend(members[: int(round(fraction * len(members)))])
    val_idx = np.sort(np.asarray(val, dtype=np.int64))
    train_idx = np.setdiff1d(np.arange(len(labels)), val_idx)
    return train_idx, val_idx
