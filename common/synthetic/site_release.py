"""What a site releases about its patients so that a synthetic cohort can be drawn without them:
its class counts, per-class allele frequencies and per-class covariate histogram, as ONE Gaussian
mechanism charged to the site's privacy ledger (or exactly, without DP, when the site spends no
privacy on its synthetic data and keeps the records at home).

The mechanism. Every patient contributes one vector, zero except in its own class's block:

    [ w_g * clip(x - 2p, C) / C,   w_n * 1,   w_c * onehot(sex, age decade) ]   (own class)
    [ w_a * onehot(nearest panel population) ]                                   (shared)

where x is the patient's dosages at the released variants, p the PUBLIC reference panel's
ALT-allele frequency (so the vector is centred before anything is seen), C the clipping norm and
w_g^2 + w_n^2 + w_c^2 + w_a^2 = 1, so one patient moves the sum by at most 1 in L2 (add/remove). The site
releases the sum plus N(0, sigma^2) per coordinate: one Gaussian mechanism with noise multiplier
sigma, which the RDP accountant composes like one DP-SGD step at sample rate 1
(`common.privacy.release.release_step`). Everything the reference generator learns from patients
passes through it.

Why these public rules (no tuning on patients):
- C = `clip_margin` x sqrt(sum_j 2 p_j (1 - p_j)): the expected norm of a centred genotype under
  Hardy-Weinberg at the panel's frequencies; a margin of 1.25 leaves room for a site that differs
  from the panel without letting one patient dominate.
- The shares (0.7 genotypes, 0.1 counts, 0.1 covariates, 0.1 ancestry of the squared norm): the
  counts, the covariate histogram and the ancestry histogram are a handful of numbers that need
  little of the budget; the genotype block is the expensive one.
- The ancestry block counts the patients by the panel population a public classifier assigns
  them to (`reference.assign_populations`): a few numbers with sensitivity 1, so the site's
  ancestry mix comes out more precise than the per-variant frequencies; at a small site with many
  panel populations the counts are still noisy (sd sigma / w_a each, 13 patients at sigma 4), and
  `reference.ancestry_counts` reads them under a sparse prior rather than as they are.

How much the genotype block can carry is a matter of arithmetic, not of tuning: the noise of a
class frequency is sigma C / (2 w_g n_class), and C grows like the square root of the number of
released variants. `SiteRelease.class_frequencies` therefore shrinks each noisy frequency towards
the matched reference frequency, by the public ratio of how far a population's class frequency
can honestly differ (a small divergence) to the noise (sampling at the class size plus DP).
At 20,000 variants, 200 patients and epsilon 3 the shrinkage leaves almost nothing of the site's
own case/control differences (docs/synthetic-data.md shows the measured effect); a public gene
list (`focus`) narrows the release and buys precision where clinicians expect the signal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from genofed.common.data.readers.phenotypes import AGE_RANGE
from genofed.common.privacy.secret_noise import SecretNoise, gaussian, noise_key_from

#: Squared-norm shares of one patient's release vector (they sum to 1).
GENOTYPE_SHARE = 0.7
COUNT_SHARE = 0.1
COVARIATE_SHARE = 0.1
ANCESTRY_SHARE = 0.1
#: The clipping norm's margin over the expected norm of a centred genotype (see the module docstring).
CLIP_MARGIN = 1.25
#: Public prior spread of a site's allele frequency around its population's (an F_ST-like
#: divergence of 1 %, on top of sampling at the class size): the scale of the shrinkage.
DIVERGENCE = 0.01
#: Age decades of the covariate histogram: [0, 10), [10, 20), ... up to the readers' range.
AGE_BIN_YEARS = 10.0
#: Noise multiplier of the (controls, cases) counts a VAE or GAN site releases under DP so that
#: its synthetic labels follow a released case share, not the exact one (sd 4 patients), unless
#: the generator's epsilon is so small that more is needed (`case_count_noise`).
CASE_COUNT_NOISE = 4.0
#: The largest share of a generator's epsilon its case-count release may cost on its own.
CASE_COUNT_SHARE = 0.25


def case_count_noise(epsilon: float, delta: float) -> float:
    """The case-count release's noise multiplier for a generator allowed `epsilon`: sd
    CASE_COUNT_NOISE patients, or more when that alone would cost over CASE_COUNT_SHARE of
    `epsilon` (at epsilon 0.75 the fixed sd 4 would cost more than the whole share)."""
    from genofed.common.privacy.accountant import SIGMA_MAX, BudgetExhausted, calibrate_noise

    if math.isinf(epsilon):
        return CASE_COUNT_NOISE
    try:
        fitted = calibrate_noise(
            [], sample_rate=1.0, steps=1, target_epsilon=CASE_COUNT_SHARE * epsilon, delta=delta
        )
    except BudgetExhausted:  # a budget this small: the generator's own calibration refuses it
        fitted = SIGMA_MAX
    return max(CASE_COUNT_NOISE, fitted)


def age_bins() -> int:
    """The number of age decades covering the readers' age range."""
    return math.ceil(AGE_RANGE[1] / AGE_BIN_YEARS)


@dataclass(frozen=True)
class SiteRelease:
    """A site's released statistics (noisy under DP, exact without).

    class_counts: (2,) float, (controls, cases), at least 1 each.
    centred_sums: (2, V) float, per class the sum over its patients of (x_j - 2 p_j) at the released
        variants (clipped per patient under DP); 0 where not released.
    released: (V,) bool, the variants whose class sums were released.
    reference_freq: (V,) the public frequencies p the sums are centred on.
    covariates: (2, 2, age_bins()) float counts per class, sex (0 = male, 1 = female; the readers'
        coding) and age decade; None when the site has no complete sex and age.
    noise_sd: (4,) the noise standard deviation of one released centred sum, one count, one
        covariate cell and one ancestry count (0 without DP).
    noise_multiplier: the Gaussian mechanism's sigma (None: released exactly, no DP).
    ancestry: (K,) float count of patients per panel population as assigned (`ancestry` argument
        of `release_site`), noisy under DP and then possibly negative (an unbiased count:
        `reference.match_populations` shrinks it); None when not released.
    """

    class_counts: np.ndarray
    centred_sums: np.ndarray
    released: np.ndarray
    reference_freq: np.ndarray
    covariates: np.ndarray | None
    noise_sd: np.ndarray
    noise_multiplier: float | None
    ancestry: np.ndarray | None = None

    @property
    def case_fraction(self) -> float:
        """The released share of cases."""
        return float(self.class_counts[1] / self.class_counts.sum())

    def raw_class_frequencies(self) -> np.ndarray:
        """(2, V) unbiased but noisy ALT frequency per class at the released variants (NaN elsewhere)."""
        mean_dosage = 2.0 * self.reference_freq + self.centred_sums / self.class_counts[:, None]
        return np.where(self.released, np.clip(mean_dosage / 2.0, 0.0, 1.0), np.nan)

    def class_frequencies(self, prior: np.ndarray) -> np.ndarray:
        """(2, V) per-class ALT frequencies to generate from: the empirical-Bayes estimate of the
        class's frequency in the site's POPULATION, i.e. the raw released frequency shrunk towards
        `prior` (the matched reference frequency) by tau^2 / (tau^2 + m^2 + s^2), where
        tau^2 = DIVERGENCE p(1-p) is the public spread of a class frequency around its population's,
        m^2 = p(1-p) / (2 n_class) the sampling noise of a class of n_class patients and s^2 the
        release's DP noise (0 without DP). Shrinking the sampling noise too matters even without
        DP: 64 cases' frequencies are mostly sampling noise, and matching them exactly would flip
        alleles that carry no signal (eroding the copied LD) and copy the training patients'
        chance frequencies (what membership inference detects). Variants not released get `prior`."""
        prior = np.asarray(prior, dtype=np.float64)
        raw = self.raw_class_frequencies()
        n = self.class_counts[:, None]
        het = prior * (1.0 - prior)
        spread = DIVERGENCE * het
        noise = het / (2.0 * n) + (self.noise_sd[0] / (2.0 * n)) ** 2
        keep = np.divide(spread, spread + noise, out=np.zeros_like(raw), where=(spread + noise) > 0)
        out = prior + keep * (np.nan_to_num(raw, nan=0.0) - prior)
        return np.where(self.released, np.clip(out, 0.0, 1.0), prior)

    def pooled_frequencies(self) -> np.ndarray:
        """(V,) noisy ALT frequency of the whole site at the released variants (NaN elsewhere)."""
        total = self.class_counts.sum()
        mean_dosage = 2.0 * self.reference_freq + self.centred_sums.sum(axis=0) / total
        return np.where(self.released, mean_dosage / 2.0, np.nan)


def clipping_norm(reference_freq: np.ndarray, released: np.ndarray) -> float:
    """C of the module docstring, from the public frequencies of the released variants."""
    p = np.asarray(reference_freq, dtype=np.float64)[released]
    return CLIP_MARGIN * math.sqrt(max(float(np.sum(2.0 * p * (1.0 - p))), 1e-12))


def release_site(
    dosages: np.ndarray,
    labels: np.ndarray,
    *,
    reference_freq: np.ndarray,
    covariates: np.ndarray | None = None,
    released: np.ndarray | None = None,
    noise_multiplier: float | None,
    rng: np.random.Generator | None = None,
    ancestry: np.ndarray | None = None,
    n_populations: int = 0,
) -> SiteRelease:
    """The site's release (module docstring); exact when `noise_multiplier` is None.

    Args:
        dosages: (n, V) ALT dosages 0/1/2, no missing calls (impute first).
        labels: (n,) 0/1.
        reference_freq: (V,) public ALT frequencies of the variants (the panel's; NaN where the panel
            lacks the variant: those are centred on 0.5 and still released).
        covariates: (n, 2) sex (0/1) and age in years, or None.
        released: (V,) bool, the variants to release per class (default all): a public gene list
            narrows it, which shrinks C and the noise.
        noise_multiplier: sigma of the Gaussian mechanism at sensitivity 1, or None (exact).
        rng: seeds the noise's key (`secret_noise.noise_key_from`; experiments and tests pass a
            seeded one), default the OS's secret randomness.
        ancestry: (n,) each patient's panel population index in [0, n_populations) as a public
            classifier assigns it, or None (not released).
        n_populations: the number of panel populations.
    """
    x = np.asarray(dosages, dtype=np.float64)
    y = np.asarray(labels).astype(np.int64)
    n, v = x.shape
    p = np.where(np.isfinite(reference_freq), reference_freq, 0.5).astype(np.float64)
    mask = np.ones(v, dtype=bool) if released is None else np.asarray(released, dtype=bool)
    centred = np.where(mask, x - 2.0 * p, 0.0)
    hist = None if covariates is None else _covariate_cells(np.asarray(covariates, dtype=np.float64))
    if noise_multiplier is not None:  # per patient: clip the centred genotype to C
        clip = clipping_norm(p, mask)
        centred = (
            centred * np.minimum(1.0, clip / np.maximum(np.linalg.norm(centred, axis=1), 1e-12))[:, None]
        )
    sums = np.stack([centred[y == k].sum(axis=0) for k in (0, 1)])
    counts = np.array([(y == 0).sum(), (y == 1).sum()], dtype=np.float64)
    cov = None if hist is None else np.stack([hist[y == k].sum(axis=0) for k in (0, 1)])
    mix = None if ancestry is None else np.bincount(ancestry, minlength=n_populations).astype(np.float64)
    if noise_multiplier is None:
        return SiteRelease(np.maximum(counts, 1.0), sums, mask, p, cov, np.zeros(4), None, mix)
    sigma = float(noise_multiplier)
    w_g, w_n, w_c, w_a = (
        math.sqrt(s) for s in (GENOTYPE_SHARE, COUNT_SHARE, COVARIATE_SHARE, ANCESTRY_SHARE)
    )
    noise = SecretNoise(noise_key_from(rng), "reference site release")
    # each block is released at weight w and read back divided by w: noise sd sigma / w per unit
    genotype_sd = sigma * clip / w_g
    sums = np.where(mask, sums + gaussian(noise, genotype_sd, sums.shape), 0.0)
    counts = counts + gaussian(noise, sigma / w_n, 2)
    if cov is not None:
        cov = np.maximum(cov + gaussian(noise, sigma / w_c, cov.shape), 0.0)
    if mix is not None:  # not clipped at 0: clipping would add 0.4 noise sd to every absent population
        mix = mix + gaussian(noise, sigma / w_a, mix.shape)
    noise_sd = np.array([genotype_sd, sigma / w_n, sigma / w_c, sigma / w_a])
    return SiteRelease(np.maximum(counts, 1.0), sums, mask, p, cov, noise_sd, sigma, mix)


def release_case_count(
    labels: np.ndarray, *, noise_multiplier: float | None, rng: np.random.Generator | None = None
) -> float:
    """The share of cases a VAE or GAN samples its labels at: released with Gaussian noise of sd
    `noise_multiplier` patients on each of (controls, cases) (sensitivity 1; charge
    `release_step(noise_multiplier)`), or exact when None (no DP). Kept inside (0.01, 0.99).
    `rng` seeds the noise's key as in `release_site`."""
    y = np.asarray(labels).astype(np.int64)
    counts = np.array([(y == 0).sum(), (y == 1).sum()], dtype=np.float64)
    if noise_multiplier is not None:
        noise = SecretNoise(noise_key_from(rng), "case count release")
        counts = np.maximum(counts + gaussian(noise, float(noise_multiplier), 2), 1.0)
    return float(np.clip(counts[1] / counts.sum(), 0.01, 0.99))


def _covariate_cells(covariates: np.ndarray) -> np.ndarray:
    """(n, 2, age_bins()) one-hot of each patient's (sex, age decade)."""
    n = len(covariates)
    sex = np.clip(np.round(covariates[:, 0]).astype(np.int64), 0, 1)
    decade = np.clip((covariates[:, 1] // AGE_BIN_YEARS).astype(np.int64), 0, age_bins() - 1)
    cells = np.zeros((n, 2, age_bins()))
    cells[np.arange(n), sex, decade] = 1.0
    return cells
