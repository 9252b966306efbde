"""Linkage disequilibrium: r^2 matrices of contiguous variant windows on real and synthetic data,
their agreement, and with positions the decay of r^2 with distance.

Inputs follow the data model in the package docstring (`genofed.common.synthetic.checks`).
Positions (base pairs) and chromosomes are optional, per variant: for r^2 decay by distance and
for keeping windows inside one chromosome.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from genofed.common.synthetic.checks.arrays import as_dosages, pearson

# Pairs of variants farther apart than this many columns are not put in one LD matrix: the
# matrices of contiguous regions are what the fidelity targets ask for, and long windows are O(m^2).
DEFAULT_LD_WINDOW = 200
# Distance bins (bp) for r^2 decay; the last bin is open-ended.
DEFAULT_DISTANCE_BINS: tuple[float, ...] = (0.0, 1e3, 5e3, 1e4, 2.5e4, 5e4, 1e5, 5e5, 1e6, math.inf)


@dataclass(frozen=True)
class LDResult:
    """Linkage disequilibrium: r^2 (squared genotype correlation) in contiguous windows."""

    ld_correlation: float  # Pearson r of real vs synthetic r^2 over all within-window pairs
    ld_mean_abs_diff: float
    n_pairs: int
    n_windows: int
    # r^2 decay (positions given): bin edges in bp, pairs and mean r^2 per bin (None: empty bin).
    decay_bins: list[float] | None = None
    decay_pairs: list[int] | None = None
    decay_real: list[float | None] | None = None
    decay_synthetic: list[float | None] | None = None


def r2_matrix(genotypes: np.ndarray) -> np.ndarray:
    """Squared genotype (dosage) correlation between all columns; 0 where a column is constant
    (r is undefined there, and a monomorphic variant carries no linkage)."""
    g = np.asarray(genotypes, dtype=np.float64)
    centred = g - g.mean(axis=0)
    sd = np.sqrt((centred**2).sum(axis=0))
    cov = centred.T @ centred
    with np.errstate(divide="ignore", invalid="ignore"):
        r = cov / np.outer(sd, sd)
    r[~np.isfinite(r)] = 0.0
    return np.clip(r**2, 0.0, 1.0)


def ld_windows(
    n_variants: int, *, window: int = DEFAULT_LD_WINDOW, chromosomes: np.ndarray | None = None
) -> list[slice]:
    """Consecutive non-overlapping column windows of at most `window` variants, never crossing a
    chromosome boundary (columns are assumed sorted by chromosome and position)."""
    if window < 2:
        raise ValueError("LD window must hold at least 2 variants")
    if chromosomes is None:
        runs = [(0, n_variants)]
    else:
        chrom = np.asarray(chromosomes)
        if chrom.size != n_variants:
            raise ValueError(f"{chrom.size} chromosomes for {n_variants} variants")
        breaks = np.flatnonzero(chrom[1:] != chrom[:-1]) + 1
        edges = [0, *breaks.tolist(), n_variants]
        runs = list(zip(edges[:-1], edges[1:], strict=False))
    out = []
    for start, stop in runs:
        for s in range(start, stop, window):
            if min(s + window, stop) - s >= 2:
                out.append(slice(s, min(s + window, stop)))
    return out


def linkage(
    *,
    real: np.ndarray,
    synthetic: np.ndarray,
    window: int = DEFAULT_LD_WINDOW,
    positions: np.ndarray | None = None,
    chromosomes: np.ndarray | None = None,
    distance_bins: tuple[float, ...] = DEFAULT_DISTANCE_BINS,
) -> LDResult:
    """LD correlation: r^2 matrices of contiguous windows for real and synthetic data, and the
    Pearson correlation of their upper triangles pooled over windows. Pairs with a variant that
    is monomorphic in the real data are left out (r^2 = 0 on both sides would inflate the
    agreement). With positions, also mean r^2 per distance bin (r^2 decay) for both sets."""
    real = as_dosages(real, "real")
    synthetic = as_dosages(synthetic, "synthetic", real.shape[1])
    m = real.shape[1]
    if positions is not None and np.asarray(positions).size != m:
        raise ValueError(f"{np.asarray(positions).size} positions for {m} variants")
    polymorphic = real.min(axis=0) != real.max(axis=0)
    r2_r_all, r2_s_all, dist_all = [], [], []
    windows = ld_windows(m, window=window, chromosomes=chromosomes)
    for w in windows:
        r2_r, r2_s = r2_matrix(real[:, w]), r2_matrix(synthetic[:, w])
        iu = np.triu_indices(w.stop - w.start, k=1)
        keep = polymorphic[w][iu[0]] & polymorphic[w][iu[1]]
        r2_r_all.append(r2_r[iu][keep])
        r2_s_all.append(r2_s[iu][keep])
        if positions is not None:
            pos = np.asarray(positions, dtype=np.float64)[w]
            dist_all.append(np.abs(pos[iu[1]] - pos[iu[0]])[keep])
    r2_r = np.concatenate(r2_r_all) if r2_r_all else np.zeros(0)
    r2_s = np.concatenate(r2_s_all) if r2_s_all else np.zeros(0)
    result = dict(
        ld_correlation=pearson(r2_r, r2_s),
        ld_mean_abs_diff=float(np.mean(np.abs(r2_r - r2_s))) if r2_r.size else float("nan"),
        n_pairs=int(r2_r.size),
        n_windows=len(windows),
    )
    if positions is not None:
        dist = np.concatenate(dist_all) if dist_all else np.zeros(0)
        bins = np.asarray(distance_bins, dtype=np.float64)
        which = np.digitize(dist, bins[1:-1], right=False)  # 0 .. len(bins) - 2
        pairs, dec_r, dec_s = [], [], []
        for b in range(len(bins) - 1):
            sel = which == b
            pairs.append(int(sel.sum()))
            dec_r.append(float(r2_r[sel].mean()) if sel.any() else None)
            dec_s.append(float(r2_s[sel].mean()) if sel.any() else None)
        result.update(decay_bins=bins.tolist(), decay_pairs=pairs, decay_real=dec_r, decay_synthetic=dec_s)
    return LDResult(**result)
