"""Exact nearest-record distances between genotype sets, the primitive of every privacy check.

Distances between records are cityblock (L1) distances between dosage vectors, which is the
Hamming distance between haplotypes when the inputs are haplotypes (0/1); they are computed
exactly with two matrix products per block (see `_l1_distances`), in blocks bounded in memory.
"""

from __future__ import annotations

import numpy as np

# Memory bound for one block of the distance matrix (float32 entries).
_DISTANCE_BLOCK_ENTRIES = 4_000_000


def _l1_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact L1 distances between rows of two 0/1/2 matrices via BLAS: |x - y| = sum over
    t in {1, 2} of |[x >= t] - [y >= t]|, and for 0/1 vectors |u - v| summed = |u| + |v| - 2 u.v.
    float32 is exact for integer distances below 2^24."""
    out = np.zeros((len(a), len(b)), dtype=np.float32)
    for t in (1, 2):
        u = (a >= t).astype(np.float32)
        v = (b >= t).astype(np.float32)
        out += u.sum(axis=1)[:, None] + v.sum(axis=1)[None, :] - 2.0 * (u @ v.T)
    return out


def nearest_distances(
    queries: np.ndarray, reference: np.ndarray, *, exclude_self: bool = False
) -> np.ndarray:
    """L1 distance from each query row to its nearest reference row, in blocks bounded in memory.
    exclude_self: queries and reference are the same set and row i may not match itself (another
    identical record still counts, at distance 0)."""
    q = np.asarray(queries)
    r = np.asarray(reference)
    if len(r) == 0 or (exclude_self and len(r) < 2):
        raise ValueError("nearest_distances needs a reference set with another record")
    step = max(1, _DISTANCE_BLOCK_ENTRIES // max(1, len(r)))
    out = np.empty(len(q), dtype=np.float64)
    for start in range(0, len(q), step):
        block = _l1_distances(q[start : start + step], r)
        if exclude_self:
            rows = np.arange(block.shape[0])
            block[rows, start + rows] = np.inf
        out[start : start + step] = np.rint(block.min(axis=1))
    return out
