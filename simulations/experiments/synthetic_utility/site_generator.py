"""The site's own generator: trained once (at the largest synthetic : real ratio, within its
share of the privacy budget) and sampled again for the smaller ratios, each batch filtered and
validated; every ratio then yields its classifier arms.

The reference generator trains nothing: its one DP release of the site's statistics (class
counts, per-class allele frequencies, covariate histogram) conditions mosaics of the public panel,
so it takes the panel and no epochs; its release noise is drawn from a generator seeded by the
run's seed, so a rerun reproduces the experiment (a hospital's `genofed synth` uses secret
randomness)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from genofed.common.data.panel import VariantPanel
from genofed.common.errors import GenofedError
from genofed.common.model.network import ModelConfig
from genofed.common.privacy.accountant import BudgetExhausted
from genofed.common.synthetic.generators import generator_settings, noise_for_budget
from genofed.common.synthetic.pipeline import (
    ValidatedBatch,
    filter_and_validate,
    generate_validated,
    split_for_generator,
)
from genofed.common.synthetic.reference import TrainedReference
from genofed.common.synthetic.reference_panel import ReferencePanel
from genofed.common.synthetic.site_release import case_count_noise
from genofed.server.evaluation import TestCohort
from genofed.server.settings import RunSettings
from genofed.simulations.experiments.synthetic_utility.arms import ratio_rows
from genofed.simulations.experiments.synthetic_utility.config import SynthUtilityConfig
from genofed.simulations.experiments.synthetic_utility.site_data import SiteData


def synthetic_rows(
    site: SiteData,
    settings: RunSettings,
    model_config: ModelConfig,
    test: TestCohort,
    panel: VariantPanel,
    kind: str,
    name: str,
    size: int,
    seed: int,
    config: SynthUtilityConfig,
    *,
    reference: ReferencePanel | None = None,
) -> list[dict[str, Any]]:
    """Train the site's generator once (largest ratio), then for every ratio: the validated arm
    (accepted records only) and the unvalidated arm (every generated record). `reference`: the
    public panel on the site's columns, needed by the reference generator only."""
    started = time.perf_counter()
    n_real = len(site.labels)
    counts = {ratio: max(1, round(ratio * n_real)) for ratio in config.ratios}
    gen_settings = generator_settings(kind, seed=seed, epochs=generator_epochs(kind, config))
    share = settings.epsilon * config.generator_share
    count_noise = case_count_noise(share, settings.delta)
    noise = (
        _generator_noise(site, settings, gen_settings, kind, seed, share, count_noise)
        if settings.private
        else None
    )
    largest = max(counts.values())
    batch = generate_validated(
        site.dosages,
        site.labels,
        kind=kind,
        settings=gen_settings,
        n=largest,
        seed=seed,
        covariates=site.covariates,
        noise_multiplier=noise,
        reference=reference if kind == "reference" else None,
        noise_rng=np.random.default_rng(seed),
        count_noise=count_noise,
    )
    generator_seconds = time.perf_counter() - started
    rows = []
    for ratio, n in counts.items():
        ratio_batch = batch if n == largest else resample(batch, site, n, seed)
        rows += ratio_rows(
            site, ratio_batch, settings, model_config, test, panel, kind, ratio, name, size, seed
        )
    for row in rows:
        row["generator_seconds"] = generator_seconds
    return rows


class GeneratorOverBudget(GenofedError):
    """The generator cannot be trained within its share of the site's budget: the run skips that
    arm family at that privacy level and the report says so."""


def generator_epochs(kind: str, config: SynthUtilityConfig) -> int | None:
    """The configured epochs, or None for the reference generator (it trains none)."""
    return None if kind == "reference" else config.generator_epochs


def _generator_noise(
    site: SiteData,
    settings: RunSettings,
    gen_settings: Any,
    kind: str,
    seed: int,
    share: float,
    count_noise: float,
) -> float:
    """The generator's DP noise for its `share` of the site's budget, on the patients it trains
    on (the generator's own split), its case-count release at `count_noise` included."""
    n_gen = len(split_for_generator(site.labels, seed)[0])
    try:
        return noise_for_budget(
            kind, n_gen, gen_settings, epsilon=share, delta=settings.delta, count_noise=count_noise
        )
    except BudgetExhausted as exc:
        raise GeneratorOverBudget(
            f"{kind} generator cannot be trained within epsilon {share:g}: {exc}"
        ) from exc


def resample(batch: ValidatedBatch, site: SiteData, n: int, seed: int) -> ValidatedBatch:
    """`n` new records from the batch's trained generator, filtered and validated exactly as
    `generate_validated` does (same split, same checks): a smaller ratio without retraining.

    The labels follow what the first batch's did: the reference generator's released case share
    (its default); under DP for the VAE and GAN the first batch's share of cases, drawn at their
    released case count (post-processing: the exact training share would be an uncharged release);
    without DP the exact training share, as `generate_validated` uses."""
    train, holdout = batch.train_index, batch.holdout_index
    labels = site.labels
    if isinstance(batch.generator, TrainedReference):
        share = None
    elif batch.history:
        share = float(batch.records.labels.mean())
    else:
        share = float(labels[train].mean())
    records = batch.generator.sample(n, case_fraction=share, seed=seed + 1)
    dropped, report = filter_and_validate(
        site.dosages, labels, train, holdout, records, drop_near_copies=not batch.history
    )
    return ValidatedBatch(records, dropped, report, batch.history, batch.generator, train, holdout)
