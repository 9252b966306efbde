"""Label-genotype associations: per-variant effects and trend tests on real and synthetic data,
the synthetic findings the real data does not back (spurious, the paper's "false correlations")
and the real findings the synthetic data replicates (recall).

Inputs follow the data model in the package docstring (`genofed.common.synthetic.checks`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from genofed.common.synthetic.checks.arrays import as_dosages, as_labels, pearson


@dataclass(frozen=True)
class AssociationResult:
    """Per-variant label associations on real vs synthetic data."""

    effect_correlation: float  # Pearson r of allelic log odds ratios (Haldane-corrected)
    n_significant_real: int  # significant in real data (same rule as synthetic)
    n_significant_synthetic: int  # significant at synthetic_alpha after the correction
    n_spurious: int  # of those, not nominally significant in real data, or opposite sign
    spurious_rate: float  # n_spurious / n_significant_synthetic (0 when nothing is significant)
    association_recall: float | None  # real findings replicated (nominal, same sign); None: no finding
    correction: str = "bonferroni"
    # The same spurious rate for the real holdout (when its labels are given): the noise floor of
    # the metric at this sample size, what "as good as real data" scores.
    spurious_rate_holdout: float | None = None
    log_or_real: list[float] = field(repr=False, default_factory=list)
    log_or_synthetic: list[float] = field(repr=False, default_factory=list)
    p_real: list[float] = field(repr=False, default_factory=list)
    p_synthetic: list[float] = field(repr=False, default_factory=list)


def allelic_log_odds_ratios(genotypes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-variant allelic log odds ratio (counted allele, cases vs controls) with the Haldane
    correction (+0.5 to every cell) so that rare variants give finite estimates."""
    g = np.asarray(genotypes, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    alt_case, alt_ctrl = g[y].sum(axis=0), g[~y].sum(axis=0)
    ref_case, ref_ctrl = 2 * y.sum() - alt_case, 2 * (~y).sum() - alt_ctrl
    return np.log((alt_case + 0.5) * (ref_ctrl + 0.5) / ((ref_case + 0.5) * (alt_ctrl + 0.5)))


def trend_test_pvalues(genotypes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cochran-Armitage trend test per variant (additive dosage model, robust to departures from
    Hardy-Weinberg unlike the allelic test): statistic N * r^2 with r the Pearson correlation of
    dosage and label, chi-square with 1 df. p = 1 for monomorphic variants or a single class."""
    g = np.asarray(genotypes, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    gc, yc = g - g.mean(axis=0), y - y.mean()
    denom = np.sqrt((gc**2).sum(axis=0) * (yc**2).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (gc * yc[:, None]).sum(axis=0) / denom
    r[~np.isfinite(r)] = 0.0
    return stats.chi2.sf(len(y) * r**2, df=1)


def benjamini_hochberg(pvalues: np.ndarray, *, q: float) -> np.ndarray:
    """Boolean mask of discoveries at false discovery rate q (Benjamini-Hochberg step-up)."""
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    if m == 0:
        return np.zeros(0, bool)
    order = np.argsort(p)
    below = p[order] <= q * np.arange(1, m + 1) / m
    out = np.zeros(m, bool)
    if below.any():
        out[order[: np.flatnonzero(below).max() + 1]] = True
    return out


def significant(pvalues: np.ndarray, *, alpha: float, correction: str = "bonferroni") -> np.ndarray:
    """Mask of findings after multiple-testing correction: "bonferroni" (p < alpha / m) or "bh"."""
    p = np.asarray(pvalues, dtype=np.float64)
    if correction == "bonferroni":
        return p < alpha / max(1, p.size)
    if correction == "bh":
        return benjamini_hochberg(p, q=alpha)
    raise ValueError(f"unknown correction {correction!r}: use 'bonferroni' or 'bh'")


def _backed(p_ref: np.ndarray, lor_ref: np.ndarray, lor_other: np.ndarray, alpha: float) -> np.ndarray:
    """Variants where the reference data show the association nominally, in the same direction."""
    return (p_ref < alpha) & (np.sign(lor_ref) == np.sign(lor_other))


def associations(
    *,
    real: np.ndarray,
    labels_real: np.ndarray,
    synthetic: np.ndarray,
    labels_synth: np.ndarray,
    synthetic_alpha: float = 0.05,
    correction: str = "bonferroni",
    real_nominal_alpha: float = 0.05,
    holdout: np.ndarray | None = None,
    labels_holdout: np.ndarray | None = None,
) -> AssociationResult:
    """Effects (allelic log OR) and trend-test p-values on both sets. A synthetic finding is a
    variant significant at `synthetic_alpha` after `correction` in the synthetic data; it is
    spurious when the real data does not back it even at the looser nominal `real_nominal_alpha`
    or backs it with the opposite sign (the paper's "false correlations"). The recall is the
    converse: real findings (same correction) replicated in the synthetic data at the nominal
    level, same sign. Compare sets of similar size: a much larger synthetic set has more power
    than the real one and its true-but-weak findings would count as spurious."""
    real = as_dosages(real, "real")
    synthetic = as_dosages(synthetic, "synthetic", real.shape[1])
    y_r = as_labels(labels_real, len(real), "labels_real")
    y_s = as_labels(labels_synth, len(synthetic), "labels_synth")
    lor_r, lor_s = allelic_log_odds_ratios(real, y_r), allelic_log_odds_ratios(synthetic, y_s)
    p_r, p_s = trend_test_pvalues(real, y_r), trend_test_pvalues(synthetic, y_s)
    sig_s = significant(p_s, alpha=synthetic_alpha, correction=correction)
    sig_r = significant(p_r, alpha=synthetic_alpha, correction=correction)
    spurious = sig_s & ~_backed(p_r, lor_r, lor_s, real_nominal_alpha)
    replicated = sig_r & _backed(p_s, lor_s, lor_r, real_nominal_alpha)
    n_sig_s = int(sig_s.sum())
    rate_holdout = None
    if holdout is not None and labels_holdout is not None:
        holdout = as_dosages(holdout, "holdout", real.shape[1])
        y_h = as_labels(labels_holdout, len(holdout), "labels_holdout")
        lor_h, p_h = allelic_log_odds_ratios(holdout, y_h), trend_test_pvalues(holdout, y_h)
        sig_h = significant(p_h, alpha=synthetic_alpha, correction=correction)
        spur_h = sig_h & ~_backed(p_r, lor_r, lor_h, real_nominal_alpha)
        rate_holdout = float(spur_h.sum() / sig_h.sum()) if sig_h.any() else 0.0
    return AssociationResult(
        effect_correlation=pearson(lor_r, lor_s),
        n_significant_real=int(sig_r.sum()),
        n_significant_synthetic=n_sig_s,
        n_spurious=int(spurious.sum()),
        spurious_rate=float(spurious.sum() / n_sig_s) if n_sig_s else 0.0,
        association_recall=float(replicated.sum() / sig_r.sum()) if sig_r.any() else None,
        correction=correction,
        spurious_rate_holdout=rate_holdout,
        log_or_real=lor_r.tolist(),
        log_or_synthetic=lor_s.tolist(),
        p_real=p_r.tolist(),
        p_synthetic=p_s.tolist(),
    )
