"""The liability-threshold disease model and its exact true risk.

The environmental noise is normal, so given genotype, covariates and population the chance of
being a case is exactly Phi((mean liability - threshold) / sigma_e): the Bayes-optimal risk
that every experiment's AUC is compared with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import brentq
from scipy.stats import norm

from genofed.simulations.cohorts.pool import Covariates, GenotypePool, dosages
from genofed.simulations.cohorts.presets import TraitSpec

AGE_CENTER = 40.0
AGE_SCALE = 10.0


@dataclass(frozen=True)
class LiabilityModel:
    """A fitted trait: effects per alt allele, covariate effects, offsets, threshold."""

    columns: np.ndarray  # panel indices of the causal variants, increasing
    variant_ids: tuple[str, ...]
    effects: np.ndarray  # per alt allele, aligned with columns
    kinds: tuple[str, ...]  # "rare" / "common" per causal variant
    threshold: float
    sigma_e: float
    sex_effect: float
    age_effect: float
    population_offsets: dict[str, float]

    def mean_liability(
        self, causal_dosages: np.ndarray, male: np.ndarray, age: np.ndarray, populations: np.ndarray
    ) -> np.ndarray:
        """Liability without the noise; `causal_dosages` columns follow `self.columns`."""
        offsets = np.array([self.population_offsets[p] for p in populations])
        return (
            causal_dosages @ self.effects
            + self.sex_effect * male
            + self.age_effect * (age - AGE_CENTER) / AGE_SCALE
            + offsets
        )

    def true_risk(
        self, causal_dosages: np.ndarray, male: np.ndarray, age: np.ndarray, populations: np.ndarray
    ) -> np.ndarray:
        """P(case | genotype, sex, age, population), exactly."""
        mean = self.mean_liability(causal_dosages, male, age, populations)
        return norm.cdf((mean - self.threshold) / self.sigma_e)

    def to_dict(self, alt_freq: np.ndarray) -> dict[str, Any]:
        """The model as truth.json records it: enough to recompute every true risk."""
        return {
            "liability": "effects . alt_dosage + sex_effect * male + age_effect * (age - age_center) / "
            "age_scale + population_offset[pop] + Normal(0, sigma_e^2); case if > threshold",
            "threshold": self.threshold,
            "sigma_e": self.sigma_e,
            "sex_effect": self.sex_effect,
            "age_effect": self.age_effect,
            "age_center": AGE_CENTER,
            "age_scale": AGE_SCALE,
            "population_offsets": self.population_offsets,
            "causal_variants": [
                {"id": vid, "effect": float(effect), "alt_freq": float(alt_freq[col]), "kind": kind}
                for vid, effect, col, kind in zip(
                    self.variant_ids, self.effects, self.columns, self.kinds, strict=False
                )
            ],
        }


def fit_trait(
    spec: TraitSpec,
    pool: GenotypePool,
    covariates: Covariates,
    rng: np.random.Generator,
    *,
    rare_columns: np.ndarray | None = None,
    common_columns: np.ndarray | None = None,
    common_template: np.ndarray | None = None,
    correlation: float = 0.0,
    exclude: np.ndarray | None = None,
) -> LiabilityModel:
    """Choose causal variants and effects for `spec`, then solve the threshold on the pool.

    Source traits reuse part of the disease's architecture: `rare_columns` are rare causal
    variants to keep (the rest are drawn), `common_columns` fixes the common ones, and
    `common_template` (standardised effects aligned with `common_columns`) with `correlation`
    draws correlated effects. `exclude` keeps variants out of every draw.
    """
    rare, common = _causal_columns(spec, pool, rng, rare_columns, common_columns, exclude)
    rare_effects, raw = _raw_effects(spec, pool, rng, rare, common, common_template, correlation)
    columns = np.concatenate([rare, common])
    order = np.argsort(columns)
    everyone = np.arange(len(pool.populations))
    causal = dosages(pool, everyone, columns[order]).astype(np.float64)
    common_dosages = (
        causal[:, np.searchsorted(columns[order], common)] if len(common) else np.zeros((len(everyone), 0))
    )
    scale = _polygenic_scale(
        common_dosages @ raw if len(common) else np.zeros(len(everyone)), spec.polygenic_variance
    )
    effects = np.concatenate([rare_effects, raw * scale])[order]
    kinds = np.array(["rare"] * len(rare) + ["common"] * len(common))[order]
    model = _unthresholded_model(spec, pool, columns[order], effects, tuple(kinds))
    mean = model.mean_liability(causal, covariates.male, covariates.age, pool.populations)
    threshold = _solve_threshold(mean, spec.sigma_e, spec.prevalence)
    return LiabilityModel(**{**model.__dict__, "threshold": threshold})


def _causal_columns(
    spec: TraitSpec,
    pool: GenotypePool,
    rng: np.random.Generator,
    rare_columns: np.ndarray | None,
    common_columns: np.ndarray | None,
    exclude: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The rare causal columns (sorted; `rare_columns` kept, the rest drawn from the rare band)
    and then the common ones (`common_columns`, else drawn), never a column in `exclude`."""
    maf = np.minimum(pool.alt_freq, 1 - pool.alt_freq)
    taken = np.zeros(len(maf), dtype=bool)
    if exclude is not None:
        taken[exclude] = True
    keep = np.asarray(rare_columns if rare_columns is not None else [], dtype=np.int64)
    taken[keep] = True
    rare_band = (maf >= spec.rare_freq_range[0]) & (maf < spec.rare_freq_range[1])
    rare = np.sort(
        np.concatenate([keep, _pick(None, spec.n_rare - len(keep), rare_band, taken, rng, "rare")])
    )
    taken[rare] = True
    common = _pick(common_columns, spec.n_common, maf >= spec.common_min_maf, taken, rng, "common")
    return rare, common


def _raw_effects(
    spec: TraitSpec,
    pool: GenotypePool,
    rng: np.random.Generator,
    rare: np.ndarray,
    common: np.ndarray,
    common_template: np.ndarray | None,
    correlation: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The rare variants' effects and the common ones' standardised effects (before the polygenic
    scale; correlated with `common_template` when given), drawn in that order."""
    # the minor allele is the risk allele of a rare variant, whichever of REF/ALT it is
    rare_effects = (
        spec.rare_effect * rng.uniform(0.8, 1.2, len(rare)) * np.where(pool.alt_freq[rare] < 0.5, 1.0, -1.0)
    )
    raw = rng.standard_normal(len(common))
    if common_template is not None:
        raw = correlation * common_template + np.sqrt(1 - correlation**2) * raw
    return rare_effects, raw


def _unthresholded_model(
    spec: TraitSpec, pool: GenotypePool, columns: np.ndarray, effects: np.ndarray, kinds: tuple[str, ...]
) -> LiabilityModel:
    """The liability model of these causal columns (sorted) with threshold 0, to be solved."""
    offsets = dict(spec.population_offsets)
    return LiabilityModel(
        columns=columns,
        variant_ids=tuple(pool.variant_ids[c] for c in columns),
        effects=effects,
        kinds=kinds,
        threshold=0.0,
        sigma_e=spec.sigma_e,
        sex_effect=spec.sex_effect,
        age_effect=spec.age_effect,
        population_offsets={
            p: float(offsets.get(pool.offset_groups[p], 0.0)) for p in sorted(set(pool.populations))
        },
    )


def _pick(
    fixed: np.ndarray | None,
    count: int,
    eligible: np.ndarray,
    taken: np.ndarray,
    rng: np.random.Generator,
    kind: str,
) -> np.ndarray:
    if fixed is not None:
        return np.asarray(fixed, dtype=np.int64)
    candidates = np.flatnonzero(eligible & ~taken)
    if len(candidates) < count:
        raise ValueError(
            f"the panel has only {len(candidates)} eligible {kind} variants, {count} needed; enlarge the "
            "genome or relax the frequency range"
        )
    return np.sort(rng.choice(candidates, count, replace=False))


def _polygenic_scale(score: np.ndarray, variance: float) -> float:
    spread = score.var()
    return float(np.sqrt(variance / spread)) if spread > 0 else 0.0


def _solve_threshold(mean: np.ndarray, sigma_e: float, prevalence: float) -> float:
    """The threshold at which the pool's expected prevalence is exactly `prevalence`."""

    def excess(t: float) -> float:
        return float(norm.cdf((mean - t) / sigma_e).mean()) - prevalence

    return float(brentq(excess, mean.min() - 10 * sigma_e, mean.max() + 10 * sigma_e, xtol=1e-10))


def draw_labels(
    model: LiabilityModel, pool: GenotypePool, covariates: Covariates, rng: np.random.Generator
) -> np.ndarray:
    """Case (1) / control (0) for every pool individual: liability plus noise over the threshold."""
    everyone = np.arange(len(pool.populations))
    mean = model.mean_liability(
        dosages(pool, everyone, model.columns), covariates.male, covariates.age, pool.populations
    )
    return (mean + model.sigma_e * rng.standard_normal(len(mean)) > model.threshold).astype(np.int8)
