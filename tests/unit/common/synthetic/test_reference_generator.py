"""The reference-based generator on a population with known answers: haplotype blocks copied
from a few founders (LD inside blocks), two populations with different founder mixes (structure),
and a disease on one block. The synthetic cohort must take its LD and ancestry from the public
panel, its case/control differences from the site's release (exactly without DP, shrunk away
under heavy noise), and charge exactly one Gaussian step."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from genofed.common.errors import ConfigError
from genofed.common.privacy.accountant import epsilon_of
from genofed.common.privacy.release import release_step
from genofed.common.synthetic.checks import linkage
from genofed.common.synthetic.generators import generator_settings, noise_for_budget, train_generator
from genofed.common.synthetic.pipeline import generate_validated
from genofed.common.synthetic.reference import (
    PopulationClassifier,
    ReferenceSettings,
    match_populations,
    train_reference,
)
from genofed.common.synthetic.reference_panel import reference_from_haplotypes
from genofed.common.synthetic.site_release import CASE_COUNT_NOISE

BLOCKS, BLOCK, FOUNDERS = 6, 10, 4
V = BLOCKS * BLOCK
IDS = [f"{1 + b // 3}:{(b % 3) * 1_000_000 + j * 1_000 + 1}:A:G" for b in range(BLOCKS) for j in range(BLOCK)]
CAUSAL = 25  # in block 2


def _world(seed: int = 0):
    rng = np.random.default_rng(seed)
    founders = (rng.random((BLOCKS, FOUNDERS, BLOCK)) < 0.5).astype(np.int8)
    founders[CAUSAL // BLOCK, :, CAUSAL % BLOCK] = [0, 1, 0, 1]  # polymorphic in every mix
    mix = {
        "north": rng.dirichlet(np.ones(FOUNDERS), BLOCKS),
        "south": rng.dirichlet(np.ones(FOUNDERS), BLOCKS),
    }
    mix["south"][:, 0], mix["north"][:, 0] = 0.7, 0.05  # founder 0 common in the south only
    for m in mix.values():
        m /= m.sum(axis=1, keepdims=True)
    return founders, mix


def _people(n: int, population: str, world, rng) -> np.ndarray:
    founders, mix = world
    haps = np.zeros((n, V, 2), dtype=np.int8)
    for h in range(2):
        for b in range(BLOCKS):
            which = (mix[population][b].cumsum() > rng.random(n)[:, None]).argmax(axis=1)
            haps[:, b * BLOCK : (b + 1) * BLOCK, h] = founders[b, which]
    return haps


def _site(n: int, world, rng, population: str = "south"):
    haps = _people(n, population, world, rng)
    x = haps.sum(axis=2)
    logit = 1.5 * (x[:, CAUSAL] - x[:, CAUSAL].mean())
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    return x.astype(np.int8), y


@pytest.fixture(scope="module")
def world():
    world = _world()
    rng = np.random.default_rng(1)
    panel_haps = np.concatenate([_people(150, "north", world, rng), _people(150, "south", world, rng)])
    panel = reference_from_haplotypes(panel_haps, IDS, ["north"] * 150 + ["south"] * 150)
    x, y = _site(400, world, rng)
    return dict(
        world=world, panel=panel, x=x, y=y, cov=np.c_[rng.integers(0, 2, 400), rng.uniform(20, 70, 400)]
    )


def _train(w, **kw):
    return train_reference(
        w["x"],
        w["y"],
        reference=w["panel"],
        settings=ReferenceSettings(seed=0),
        noise_rng=np.random.default_rng(2),
        **kw,
    )


def test_without_dp_the_site_s_case_control_differences_are_reproduced(world):
    g = _train(world, covariates=world["cov"])
    assert g.history == []
    rec = g.sample(2000, seed=3)
    x, y = world["x"], world["y"]
    real_diff = x[y == 1, CAUSAL].mean() - x[y == 0, CAUSAL].mean()
    syn_diff = rec.genotypes[rec.labels == 1, CAUSAL].mean() - rec.genotypes[rec.labels == 0, CAUSAL].mean()
    # the population-level estimate keeps most of a strong effect (sampling noise shrunk away)
    assert real_diff > 0.3 and 0.6 * real_diff < syn_diff < 1.05 * real_diff
    assert abs(rec.labels.mean() - y.mean()) < 0.04
    np.testing.assert_array_equal(rec.haplotypes.sum(axis=2), rec.genotypes)
    assert rec.sex is not None and rec.age.min() >= 20 - 10 and rec.age.max() <= 70 + 10


def test_ancestry_and_linkage_come_from_the_panel(world):
    g = _train(world)
    assert g.population_weights.get("south", 0) > 0.8  # the site is southern
    rec = g.sample(400, seed=4)
    ld = linkage(real=world["x"], synthetic=rec.genotypes)
    assert ld.ld_correlation > 0.9
    # against a cohort of independent variants at the same frequencies, which has no LD
    freq = rec.genotypes.mean(axis=0) / 2
    shuffled = np.random.default_rng(0).binomial(2, freq, rec.genotypes.shape)
    assert linkage(real=world["x"], synthetic=shuffled).ld_correlation < 0.5


def test_population_matching_follows_the_site(world):
    rng = np.random.default_rng(5)
    x, y = _site(300, world["world"], rng, population="north")
    g = train_reference(x, y, reference=world["panel"], settings=ReferenceSettings(), noise_rng=rng)
    assert g.population_weights.get("north", 0) > 0.8
    # the released ancestry counts, undone through the public classifier's confusion on the panel
    assert g.release.ancestry is not None and g.release.ancestry.sum() == 300
    classifier = PopulationClassifier.fit(world["panel"])
    assert classifier.confusion.trace() / 2 > 0.9
    assert match_populations(world["panel"], g.release, classifier) == g.population_weights
    # without those counts the mix still comes from the released frequencies, less precisely
    frequencies_only = replace(g.release, ancestry=None)
    assert match_populations(world["panel"], frequencies_only).get("north", 0) > 0.6


def test_under_heavy_noise_the_site_s_own_differences_are_shrunk_away(world):
    g = _train(world, noise_multiplier=50.0)
    assert g.history == [release_step(50.0)]
    assert np.abs(g.class_freq[1] - g.class_freq[0]).max() < 0.02
    rec = g.sample(3000, seed=6)
    diff = rec.genotypes[rec.labels == 1, CAUSAL].mean() - rec.genotypes[rec.labels == 0, CAUSAL].mean()
    assert abs(diff) < 0.08


def test_sampling_is_deterministic_and_refuses_a_temperature(world):
    g = _train(world)
    a, b = g.sample(50, seed=9), g.sample(50, seed=9)
    np.testing.assert_array_equal(a.haplotypes, b.haplotypes)
    with pytest.raises(ConfigError, match="temperature"):
        g.sample(5, seed=1, temperature=0.7)
    with pytest.raises(ValueError, match="epochs"):
        generator_settings("reference", seed=1, epochs=3)


def test_focus_releases_only_the_listed_variants(world):
    focus = np.zeros(V, dtype=bool)
    focus[20:30] = True
    g = _train(world, focus=focus)
    assert g.release.released.sum() == 10
    assert np.all(g.release.centred_sums[:, ~focus] == 0)


def test_switch_between_kinds_and_budget(world):
    sigma = noise_for_budget("reference", 0, None, epsilon=3.0, delta=1e-5)
    assert epsilon_of([release_step(sigma)], 1e-5) <= 3.0
    trained = train_generator(
        "reference",
        world["x"],
        world["y"],
        settings=ReferenceSettings(),
        reference=world["panel"],
        noise_multiplier=sigma,
    )
    assert trained.history == [release_step(sigma)]
    with pytest.raises(ValueError, match="reference panel"):
        train_generator("reference", world["x"], world["y"], settings=ReferenceSettings())


def test_pipeline_charges_the_vae_s_case_count_and_samples_at_the_released_share(world):
    """The VAE under DP: the released (noisy) case count leads the batch's history, and the VAE's
    own noise is calibrated with it inside the budget."""
    settings = generator_settings("vae", seed=0, epochs=1)
    x, y = world["x"][:120], world["y"][:120]
    sigma = noise_for_budget("vae", 96, settings, epsilon=8.0, delta=1e-5)
    batch = generate_validated(
        x,
        y,
        kind="vae",
        settings=settings,
        n=60,
        seed=0,
        noise_multiplier=sigma,
        noise_rng=np.random.default_rng(0),
    )
    assert batch.history[0] == release_step(CASE_COUNT_NOISE)
    assert epsilon_of(batch.history, 1e-5) <= 8.0 * 1.01


def test_save_writes_plain_arrays_only(world, tmp_path):
    g = _train(world, noise_multiplier=2.0)
    g.save(tmp_path / "generator.npz")
    saved = np.load(tmp_path / "generator.npz", allow_pickle=False)  # no pickles: nothing executes
    np.testing.assert_array_equal(saved["class_freq"], g.class_freq)
    np.testing.assert_array_equal(saved["ancestry"], g.release.ancestry)
    assert saved["history"].tolist() == [list(release_step(2.0))]


def test_columns_the_panel_lacks_follow_the_site_s_release_and_do_not_bias_ancestry(world):
    """Uncovered columns hold 0 in the panel: they must be generated from the site's own release
    (not at 0.5, not at 0) and left out of the ancestry classifier."""
    lacking = np.zeros(V, dtype=bool)
    lacking[::4] = True
    haps = world["panel"].haplotypes.copy()
    haps[:, lacking] = 0
    panel = replace(world["panel"], haplotypes=haps, covered=~lacking)
    g = train_reference(
        world["x"],
        world["y"],
        reference=panel,
        settings=ReferenceSettings(),
        noise_rng=np.random.default_rng(0),
    )
    assert g.population_weights.get("south", 0) > 0.8
    rec = g.sample(2000, seed=1)
    site = world["x"][:, lacking].mean(axis=0) / 2
    assert np.abs(rec.genotypes[:, lacking].mean(axis=0) / 2 - site).max() < 0.1


def _generate(world, noise_multiplier):
    return generate_validated(
        world["x"],
        world["y"],
        kind="reference",
        settings=ReferenceSettings(seed=0),
        n=300,
        seed=0,
        reference=world["panel"],
        noise_multiplier=noise_multiplier,
        noise_rng=np.random.default_rng(4),
    )


def test_a_dp_batch_keeps_every_record_and_a_non_dp_batch_drops_near_copies(world):
    """Under DP which records a site keeps must not depend on where each real patient sits (a
    near-copy filter reads them outside the release): every record stays and is validated, its
    copies still counted. Without DP (no guarantee to keep) the filter drops the near copies."""
    private = _generate(world, noise_multiplier=2.0)
    assert not private.dropped.any()
    assert len(private.records.labels) == 300
    assert private.report.privacy.near_copies > 0  # counted, not dropped
    exact = _generate(world, noise_multiplier=None)
    assert exact.dropped.any() and exact.report.privacy.near_copies == 0


def test_filter_and_validate_counts_a_planted_copy_either_way(world):
    """A batch holding an exact copy of a training patient fails validation whether or not the
    filter runs: with the filter the copy is dropped before the checks, without it the check
    sees it."""
    from genofed.common.synthetic.pipeline import filter_and_validate, split_for_generator

    batch = _generate(world, noise_multiplier=2.0)
    train, holdout = split_for_generator(world["y"], 0)
    records = batch.records
    records.genotypes[0] = world["x"][train[0]]
    x, y = world["x"], world["y"]
    kept, report = filter_and_validate(x, y, train, holdout, records, drop_near_copies=False)
    assert not kept.any() and report.privacy.exact_copies >= 1 and "exact_copies" in report.failed_checks()
    dropped, filtered = filter_and_validate(world["x"], world["y"], train, holdout, records)
    assert dropped[0] and filtered.privacy.exact_copies == 0
