"""Train/validation splits: keyed per patient (hospitals) and stratified (pretraining, generators)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np


def keyed_split(sample_ids: Sequence[str], fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation): each patient goes to validation when a keyed hash of its own
    sample id (SHA-256 of the seed and the id) falls below `fraction`.

    Why not a shuffle: with a shuffled or stratified split, adding or removing one patient moves
    OTHER patients between training and validation, so the training sets of two neighbouring
    cohorts differ in more than the one patient that differential privacy is accounted for. A
    per-patient hash decides each patient alone; with a secret seed nobody can predict it. The
    price: a small cohort's validation share varies around `fraction`, and its few cases are not
    guaranteed to fall on both sides.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"the validation fraction must be in [0, 1), got {fraction}")
    key = str(int(seed)).encode()
    draws = np.array(
        [
            int.from_bytes(hashlib.sha256(key + b"\0" + str(s).encode()).digest()[:8], "big") / 2**64
            for s in sample_ids
        ]
    )
    in_validation = draws < fraction
    return np.flatnonzero(~in_validation), np.flatnonzero(in_validation)


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
