"""Fidelity of allele and genotype frequencies: is each variant as common in the synthetic batch
as in the real cohort, with the right mix of homozygotes and heterozygotes?

Inputs follow the data model in the package docstring (`genofed.common.synthetic.checks`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genofed.common.synthetic.checks.arrays import as_dosages, pearson


@dataclass(frozen=True)
class FidelityResult:
    """Allele- and genotype-frequency agreement."""

    af_correlation: float  # Pearson r of per-variant allele frequencies (dosage mean / 2)
    af_mean_abs_diff: float
    genotype_tvd_mean: float  # per-variant total variation distance of the (0, 1, 2) frequencies
    genotype_tvd_max: float


def allele_frequencies(genotypes: np.ndarray) -> np.ndarray:
    """Per-variant frequency of the counted allele: mean dosage / 2."""
    return np.asarray(genotypes, dtype=np.float64).mean(axis=0) / 2.0


def genotype_frequencies(genotypes: np.ndarray) -> np.ndarray:
    """(n_variants, 3): per-variant share of dosage 0, 1 and 2."""
    g = np.asarray(genotypes)
    return np.stack([(g == k).mean(axis=0) for k in (0, 1, 2)], axis=1)


def fidelity(*, real: np.ndarray, synthetic: np.ndarray) -> FidelityResult:
    """Allele frequencies say whether each variant is as common as in reality; genotype
    frequencies (0/1/2) also catch a wrong heterozygosity (e.g. broken Hardy-Weinberg) at the
    right allele frequency. TVD = 0.5 * sum |p_real - p_synth| over the three genotypes."""
    real = as_dosages(real, "real")
    synthetic = as_dosages(synthetic, "synthetic", real.shape[1])
    af_r, af_s = allele_frequencies(real), allele_frequencies(synthetic)
    tvd = 0.5 * np.abs(genotype_frequencies(real) - genotype_frequencies(synthetic)).sum(axis=1)
    return FidelityResult(
        af_correlation=pearson(af_r, af_s),
        af_mean_abs_diff=float(np.mean(np.abs(af_r - af_s))),
        genotype_tvd_mean=float(tvd.mean()),
        genotype_tvd_max=float(tvd.max()),
    )
