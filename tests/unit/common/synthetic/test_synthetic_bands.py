"""The real-sample band (`checks.bands`) on a simulated hospital of 200 patients (160 training, 40
held out): fresh real patients pass it, records without linkage fail it, the band widens as the
sample shrinks, it is seeded, and "fixed" fidelity limits give today's verdict. Plus the two
shortcuts (batched LD, Gram-matrix PCA) against the direct computations."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genofed.common.errors import ConfigError
from genofed.common.synthetic.checks import (
    BANDED_METRICS,
    Thresholds,
    linkage,
    population_structure,
    real_sample_bands,
    validate_synthetic,
)
from genofed.common.synthetic.checks.bands import _HoldoutLD, _PooledPCA

N_BLOCKS, BLOCK, N_FOUNDERS = 20, 20, 5
N_TRAIN, N_HOLDOUT = 160, 40


def draw(n: int, rng: np.random.Generator, founders: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Dosages of `n` people: each haplotype block copied from a founder (LD inside blocks), with
    2 % of alleles flipped."""
    g = np.zeros((n, N_BLOCKS * BLOCK), np.int8)
    for _ in range(2):
        for b in range(N_BLOCKS):
            which = rng.choice(N_FOUNDERS, n, p=weights[b])
            hap = founders[b, which] ^ (rng.random((n, BLOCK)) < 0.02)
            g[:, b * BLOCK : (b + 1) * BLOCK] += hap.astype(np.int8)
    return g


@pytest.fixture(scope="module")
def population():
    rng = np.random.default_rng(7)
    founders = rng.random((N_BLOCKS, N_FOUNDERS, BLOCK)) < rng.uniform(0.1, 0.9, (N_BLOCKS, 1, BLOCK))
    weights = rng.dirichlet(np.ones(N_FOUNDERS), N_BLOCKS)
    return lambda n, seed: draw(n, np.random.default_rng(seed), founders, weights)


@pytest.fixture(scope="module")
def site(population):
    return population(N_TRAIN, 1), population(N_HOLDOUT, 2)


def _failed(bands) -> set[str]:
    return {b.name for b in bands.metrics if not b.passed}


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_fresh_real_patients_pass_the_band(population, site, seed):
    bands = real_sample_bands(*site, population(N_TRAIN, seed), seed=seed)
    assert _failed(bands) == set(), [(b.name, b.synthetic, b.low, b.high) for b in bands.metrics]
    assert bands.sample_size == N_TRAIN and bands.resamples == 20 and bands.synthetic_draws == 1


def test_a_subsample_of_the_training_patients_passes_at_its_size(site):
    train, holdout = site
    batch = train[np.random.default_rng(0).permutation(N_TRAIN)[:100]]
    bands = real_sample_bands(train, holdout, batch)
    assert bands.sample_size == 100 and _failed(bands) == set()


def test_independent_genotypes_at_the_same_frequencies_fail_ld(site):
    train, holdout = site
    af = train.mean(axis=0) / 2
    batch = np.random.default_rng(0).binomial(2, af, (N_TRAIN, train.shape[1])).astype(np.int8)
    bands = real_sample_bands(train, holdout, batch)
    ld = bands.band("ld_correlation")
    assert not ld.passed and ld.synthetic < 0.3 < ld.low
    assert bands.band("allele_frequency_correlation").passed


def test_shuffled_columns_fail_the_ld_check_of_the_verdict(population, site):
    train, holdout = site
    batch = population(N_TRAIN, 9)
    rng = np.random.default_rng(3)
    for j in range(batch.shape[1]):
        batch[:, j] = batch[rng.permutation(N_TRAIN), j]
    report = _validate(site, batch)
    check = next(c for c in report.checks if c.name == "ld_correlation")
    assert not check.passed and "ld_correlation" in report.failed_checks()
    assert check.threshold.startswith(">= ") and check.threshold.endswith(
        "(real 160-patient samples vs holdout, 5th percentile of 20, widened x1.41)"
    )
    assert "allele_frequency_correlation" not in report.failed_checks()


def test_band_widens_as_the_sample_shrinks(population, site):
    small = real_sample_bands(*site, population(20, 11))
    large = real_sample_bands(*site, population(N_TRAIN, 11))
    assert small.sample_size == 20 and large.sample_size == N_TRAIN
    for name in ("allele_frequency_correlation", "ld_correlation", "genotype_tvd_mean"):
        s, b = small.band(name), large.band(name)
        assert s.high - s.low > 1.5 * (b.high - b.low), name
    # higher-is-better metrics are lower for small real samples: the limit follows the size
    assert small.band("ld_correlation").low < large.band("ld_correlation").low


def test_same_seed_same_band_other_seed_other_band(population, site):
    batch = population(300, 12)  # larger than the training set: 5 seeded subsamples of 160
    a, b = (real_sample_bands(*site, batch, seed=1) for _ in range(2))
    c = real_sample_bands(*site, batch, seed=2)
    assert a == b
    assert a.synthetic_draws == 5 and a.sample_size == N_TRAIN
    assert a.band("ld_correlation").real != c.band("ld_correlation").real


def _validate(site, batch, **kw):
    train, holdout = site
    rng = np.random.default_rng(0)
    return validate_synthetic(
        train,
        holdout,
        batch,
        labels_real=rng.integers(0, 2, len(train)),
        labels_synth=rng.integers(0, 2, len(batch)),
        **kw,
    )


def test_fixed_limits_give_todays_checks(population, site):
    batch = population(N_TRAIN, 13)
    fixed = _validate(site, batch, thresholds=Thresholds(fidelity_limits="fixed"))
    band = _validate(site, batch)
    assert fixed.bands is None and fixed.fixed_targets == {} and "real band" not in fixed.to_markdown()
    by_name = {c.name: c for c in fixed.checks}
    assert by_name["allele_frequency_correlation"].value == fixed.fidelity.af_correlation
    assert by_name["allele_frequency_correlation"].threshold == ">= 0.99"
    assert by_name["ld_correlation"].value == fixed.ld.ld_correlation
    assert by_name["pca_mixing"].value == fixed.structure.mixing_synthetic
    assert not by_name["genotype_tvd_mean"].applicable
    # same check names in the same order; the label and privacy checks are the same either way
    assert [c.name for c in band.checks] == [c.name for c in fixed.checks]
    others = [c for c in fixed.checks if c.name not in BANDED_METRICS]
    assert others == [c for c in band.checks if c.name not in BANDED_METRICS]
    assert band.fidelity == fixed.fidelity and band.ld == fixed.ld  # vs training: still reported


def test_report_shows_band_and_fixed_target(population, site):
    report = _validate(site, population(N_TRAIN, 14))
    d = report.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["bands"]["sample_size"] == N_TRAIN and len(d["bands"]["metrics"]) == 4
    assert len(d["bands"]["metrics"][0]["real"]) == 20
    assert d["fixed_targets"] == {
        "allele_frequency_correlation": ">= 0.99",
        "genotype_tvd_mean": "none",
        "ld_correlation": ">= 0.95",
        "pca_mixing": ">= 0.8",
    }
    md = report.to_markdown()
    ld = report.bands.band("ld_correlation")
    row = next(line for line in md.splitlines() if line.startswith("| ld_correlation | ") and "/" in line)
    assert f"{ld.low:.4g} / {ld.median:.4g} / {ld.high:.4g}" in row and "| >= 0.95 |" in row
    assert f"{report.ld.ld_correlation:.4g}" in row  # the vs-training value beside it


def test_too_few_records_fail_every_band_check(site):
    bands = real_sample_bands(*site, site[0][:1])
    assert _failed(bands) == set(BANDED_METRICS)


def test_thresholds_refuse_bad_band_settings():
    with pytest.raises(ConfigError, match="fidelity_limits must be one of band, fixed"):
        Thresholds(fidelity_limits="loose")
    with pytest.raises(ConfigError, match="band_resamples"):
        Thresholds(band_resamples=1)
    with pytest.raises(ConfigError, match="band_quantile"):
        Thresholds(band_quantile=0.5)


def test_limit_text_names_the_percentile_and_the_widening(population, site):
    batch = population(N_TRAIN, 15)
    bands = real_sample_bands(*site, batch, resamples=10, quantile=0.1, widening=1.0)
    assert bands.limit_text("genotype_tvd_mean").endswith(
        "(real 160-patient samples vs holdout, 90th percentile of 10)"
    )
    tvd = bands.band("genotype_tvd_mean")
    assert tvd.high == pytest.approx(np.quantile(tvd.real, 0.9))  # widening 1: the plain quantile
    wide = real_sample_bands(*site, batch, resamples=10, quantile=0.1)
    assert wide.limit_text("pca_mixing").endswith("10th percentile of 10, widened x1.41)")
    mix, wide_mix = bands.band("pca_mixing"), wide.band("pca_mixing")
    # measured from the band's centre: the median, or 1 when the median lies above it
    width, wide_width = min(mix.median, 1.0) - mix.low, min(wide_mix.median, 1.0) - wide_mix.low
    assert wide_width == pytest.approx(np.sqrt(2) * width)


def test_shortcuts_match_the_direct_computations(population, site):
    train, holdout = site
    sample = population(N_TRAIN, 16)
    chromosomes = np.repeat([1, 2, 3], [130, 150, 120])  # windows of unequal width: padding
    ld = _HoldoutLD(holdout, 50, chromosomes)
    direct = linkage(real=holdout, synthetic=sample, window=50, chromosomes=chromosomes)
    assert ld.correlation(sample) == pytest.approx(direct.ld_correlation, abs=1e-5)
    assert ld.reference.size == direct.n_pairs
    # PCA mixing: from the Gram matrix (fewer records than variants) and from the covariance
    for n_variants in (train.shape[1], 40):
        rows = np.vstack([train, holdout, sample])[:, :n_variants]
        pca = _PooledPCA(rows, N_TRAIN, N_HOLDOUT, 10, 5)
        mixing = pca.mixing(N_TRAIN + N_HOLDOUT + np.arange(N_TRAIN))
        expected = population_structure(real=holdout[:, :n_variants], synthetic=sample[:, :n_variants])
        assert mixing == pytest.approx(expected.mixing_synthetic, abs=1e-9), n_variants
