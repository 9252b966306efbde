"""The site's own generator: trained once (at the largest synthetic : real ratio, within its
share of the privacy budget) and sampled again for the smaller ratios, each batch filtered and
validated; every ratio then yields its classifier arms."""

from __future__ import annotations

import time
from typing import Any

from genofed.common.data.panel import VariantPanel
from genofed.common.errors import GenofedError
from genofed.common.model.network import ModelConfig
from genofed.common.privacy.accountant import BudgetExhausted
from genofed.common.synthetic.checks import record_failures, validate_synthetic
from genofed.common.synthetic.generators import generator_settings, noise_for_budget
from genofed.common.synthetic.pipeline import ValidatedBatch, generate_validated, split_for_generator
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
) -> list[dict[str, Any]]:
    """Train the site's generator once (largest ratio), then for every ratio: the validated arm
    (accepted records only) and the unvalidated arm (every generated record)."""
    started = time.perf_counter()
    n_real = len(site.labels)
    counts = {ratio: max(1, round(ratio * n_real)) for ratio in config.ratios}
    gen_settings = generator_settings(kind, seed=seed, epochs=config.generator_epochs)
    noise = _generator_noise(site, settings, gen_settings, kind, seed, config) if settings.private else None
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


def _generator_noise(
    site: SiteData, settings: RunSettings, gen_settings: Any, kind: str, seed: int, config: SynthUtilityConfig
) -> float:
    """The generator's DP-SGD noise for its share of the site's budget, on the patients it trains
    on (the generator's own split)."""
    n_gen = len(split_for_generator(site.labels, seed)[0])
    try:
        return noise_for_budget(
            kind,
            n_gen,
            gen_settings,
            epsilon=settings.epsilon * config.generator_share,
            delta=settings.delta,
        )
    except BudgetExhausted as exc:
        raise GenofedError(
            f"{kind} generator cannot be trained within epsilon "
            f"{settings.epsilon * config.generator_share:g}: {exc}"
        ) from exc


def resample(batch: ValidatedBatch, site: SiteData, n: int, seed: int) -> ValidatedBatch:
    """`n` new records from the batch's trained generator, filtered and validated exactly as
    `generate_validated` does (same split, same checks): a smaller ratio without retraining."""
    train, holdout = batch.train_index, batch.holdout_index
    labels = site.labels
    records = batch.generator.sample(n, case_fraction=float(labels[train].mean()), seed=seed + 1)
    dropped = record_failures(
        real_train=site.dosages[train], real_holdout=site.dosages[holdout], synthetic=records.genotypes
    )
    keep = ~dropped
    report = validate_synthetic(
        site.dosages[train],
        site.dosages[holdout],
        records.genotypes[keep],
        labels_real=labels[train],
        labels_synth=records.labels[keep],
        labels_holdout=labels[holdout],
    )
    return ValidatedBatch(records, dropped, report, batch.history, batch.generator, train, holdout)
