"""Population structure: do synthetic records overlap the real ones in the top principal
components (ancestry clusters), as well as unseen real records do?

Inputs follow the data model in the package docstring (`genofed.common.synthetic.checks`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from genofed.common.synthetic.checks.arrays import as_dosages


@dataclass(frozen=True)
class StructureResult:
    """Population structure: overlap in a PCA fitted on real training data and the other set pooled."""

    n_components: int
    explained_variance_ratio: list[float]
    mixing_synthetic: float  # normalised k-NN mixing of synthetic with real train in PC space
    mixing_holdout: float | None  # the same for the real holdout vs train: what "as good as real" scores
    mean_shift: float  # max over PCs of |mean(synthetic) - mean(real)| / sd(real)


def knn_mixing(reference: np.ndarray, other: np.ndarray, *, k: int = 5) -> float:
    """Two-sample nearest-neighbour mixing, classifier-free: pool both point sets; for every
    point, the share of its k nearest neighbours (itself excluded) from the other set, divided by
    that share's expectation if the sets were drawn from one distribution, n_other / (n - 1).
    The two sets' means are averaged so that set sizes do not weigh in. About 1 when the sets
    overlap, 0 when they are separated (Schilling's / Henze's mixing statistic, normalised)."""
    a, b = np.asarray(reference, dtype=np.float64), np.asarray(other, dtype=np.float64)
    n_a, n_b = len(a), len(b)
    if n_a < 2 or n_b < 2:
        return float("nan")
    pooled = np.vstack([a, b])
    is_b = np.r_[np.zeros(n_a, bool), np.ones(n_b, bool)]
    k = min(k, len(pooled) - 1)
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(pooled).kneighbors(pooled)
    # Drop each point's own index; with more than k duplicates it may be missing, then drop the last.
    own = idx == np.arange(len(pooled))[:, None]
    keep = ~own
    keep[~own.any(axis=1), -1] = False
    cross = ((is_b[idx] != is_b[:, None]) & keep).sum(axis=1) / k
    exp_a, exp_b = n_b / (n_a + n_b - 1), n_a / (n_a + n_b - 1)
    return float(0.5 * (cross[~is_b].mean() / exp_a + cross[is_b].mean() / exp_b))


def population_structure(
    *,
    real: np.ndarray,
    synthetic: np.ndarray,
    holdout: np.ndarray | None = None,
    n_components: int = 10,
    k: int = 5,
    seed: int = 0,
) -> StructureResult:
    """Overlap of synthetic and real training data in the top PCs (ancestry clusters, which also
    carry most LD on panels like the 805 ancestry SNPs): `knn_mixing` in a PCA fitted on both
    sets pooled, and the largest standardised mean shift along one PC. The holdout's mixing with
    the training data, measured the same way, shows what real data scores.

    Why pooled (as in Yelmen et al. 2021) and not fitted on the real data alone: with more
    variants than people, PCs fitted on the training people overfit them, and any unseen set,
    real or synthetic, projects with shrunken variance, so even the real holdout would 'fail'."""
    real = as_dosages(real, "real")
    synthetic = as_dosages(synthetic, "synthetic", real.shape[1])
    n_comp = int(max(1, min(n_components, real.shape[0] + len(synthetic) - 1, real.shape[1])))
    mixing, shift, ratios = _pooled_pca_overlap(real, synthetic, n_comp, k, seed)
    mixing_holdout = None
    if holdout is not None:
        holdout = as_dosages(holdout, "holdout", real.shape[1])
        mixing_holdout = _pooled_pca_overlap(real, holdout, n_comp, k, seed)[0]
    return StructureResult(
        n_components=n_comp,
        explained_variance_ratio=ratios,
        mixing_synthetic=mixing,
        mixing_holdout=mixing_holdout,
        mean_shift=shift,
    )


def _pooled_pca_overlap(
    real: np.ndarray, other: np.ndarray, n_comp: int, k: int, seed: int
) -> tuple[float, float, list[float]]:
    """(mixing, max standardised mean shift, explained variance ratios) in a PCA of both sets."""
    pooled = np.vstack([real, other]).astype(np.float64)
    # covariance_eigh builds the V x V covariance: exact and fast for a few hundred variants, but
    # GBs and minutes at 20,000; there, a seeded randomized SVD of the n x V data is O(n V k).
    solver = "covariance_eigh" if pooled.shape[1] <= max(pooled.shape[0], 2000) else "randomized"
    n_comp = min(n_comp, len(pooled) - 1)
    z = PCA(n_components=n_comp, svd_solver=solver, random_state=seed).fit(pooled)
    z_all = z.transform(pooled)
    z_r, z_o = z_all[: len(real)], z_all[len(real) :]
    sd = z_r.std(axis=0)
    sd[sd == 0] = 1.0
    shift = float(np.max(np.abs(z_o.mean(axis=0) - z_r.mean(axis=0)) / sd))
    return knn_mixing(z_r, z_o, k=k), shift, [float(v) for v in z.explained_variance_ratio_]
