"""The classifier arms of one site: real patients only, and real + synthetic records (validated:
the accepted ones; unvalidated: every generated one), each with its privacy spend checked
against the budget."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from genofed.common.data.panel import VariantPanel
from genofed.common.model.network import ModelConfig
from genofed.common.privacy.accountant import Step, epsilon_of
from genofed.common.synthetic.checks import associations
from genofed.common.synthetic.pipeline import ValidatedBatch
from genofed.server.evaluation import TestCohort
from genofed.server.settings import RunSettings
from genofed.simulations.experiments.base import epsilon_key
from genofed.simulations.experiments.synthetic_utility.site_data import SiteData, encode_records
from genofed.simulations.local.baselines import classifier_step, fit_alone


def real_row(
    site: SiteData,
    settings: RunSettings,
    model_config: ModelConfig,
    test: TestCohort,
    name: str,
    size: int,
    seed: int,
) -> dict[str, Any]:
    """The real-only arm: the site's classifier on its real training patients."""
    started = time.perf_counter()
    x, y = site.tensors.train_x, site.tensors.train_y
    weights = fit_alone(x, y, settings, model_config, name)
    budget = _budget(len(y), settings, [])
    return _row(
        "real",
        None,
        0.0,
        size,
        seed,
        settings.epsilon,
        name,
        test.evaluate(model_config, weights),
        len(y),
        0,
        time.perf_counter() - started,
        **budget,
    )


def ratio_rows(
    site: SiteData,
    batch: ValidatedBatch,
    settings: RunSettings,
    model_config: ModelConfig,
    test: TestCohort,
    panel: VariantPanel,
    kind: str,
    ratio: float,
    name: str,
    size: int,
    seed: int,
) -> list[dict[str, Any]]:
    """The validated and unvalidated arms at one ratio: the classifier on the real patients plus
    the batch's accepted records, then plus every generated record, both with the generator's
    steps as earlier privacy history."""
    verdict = _verdict(site, batch)
    rows = []
    for arm, records in (("validated", batch.accepted()), ("unvalidated", batch.records)):
        started = time.perf_counter()
        x, y = site.tensors.train_x, site.tensors.train_y
        if len(records.labels):
            x = np.concatenate([x, encode_records(records, site, panel)])
            y = np.concatenate([y, records.labels.astype(np.float32)])
        weights = fit_alone(x, y, settings, model_config, name, history=batch.history)
        budget = _budget(len(y), settings, batch.history)
        rows.append(
            _row(
                arm,
                kind,
                ratio,
                size,
                seed,
                settings.epsilon,
                name,
                test.evaluate(model_config, weights),
                len(site.tensors.train_y),
                len(records.labels),
                time.perf_counter() - started,
                **budget,
                **verdict,
            )
        )
    return rows


def _verdict(site: SiteData, batch: ValidatedBatch) -> dict[str, Any]:
    """What the validation said of the batch, and the spurious associations of every generated
    record (unfiltered) next to those of the accepted ones."""
    report = batch.report
    train = batch.train_index
    everything = associations(
        real=site.dosages[train],
        labels_real=site.labels[train],
        synthetic=batch.records.genotypes,
        labels_synth=batch.records.labels,
    )
    return {
        "generated": int(len(batch.records.labels)),
        "dropped": int(batch.dropped.sum()),
        "passed": bool(report.passed),
        "failed_checks": report.failed_checks(),
        "spurious_rate_validated": float(report.associations.spurious_rate),
        "n_significant_validated": int(report.associations.n_significant_synthetic),
        "spurious_rate_unfiltered": float(everything.spurious_rate),
        "n_significant_unfiltered": int(everything.n_significant_synthetic),
        "spurious_rate_holdout": report.associations.spurious_rate_holdout,
        "association_recall": report.associations.association_recall,
        "af_correlation": report.fidelity.af_correlation,
        "ld_correlation": report.ld.ld_correlation,
        "pca_mixing": report.structure.mixing_synthetic,
        "aats_train": report.privacy.aats_train,
        "mia_auc": report.privacy.mia_auc,
    }


def _budget(n_rows: int, settings: RunSettings, history: list[Step]) -> dict[str, Any]:
    """The arm's privacy spend, recomputed from the steps and checked against the budget."""
    if not settings.private:
        return {"epsilon_generator": None, "epsilon_total": None, "classifier_noise": None}
    step = classifier_step(n_rows, settings, history)
    total = epsilon_of([*history, step], settings.delta)
    if total > settings.epsilon * (1 + 1e-6):
        raise AssertionError(f"arm spends epsilon {total:.4f}, more than the budget {settings.epsilon:g}")
    return {
        "epsilon_generator": epsilon_of(list(history), settings.delta),
        "epsilon_total": total,
        "classifier_noise": step[0],
    }


def _row(
    arm: str,
    generator: str | None,
    ratio: float,
    size: int,
    seed: int,
    epsilon: float,
    site: str,
    metrics: dict[str, Any],
    n_real: int,
    n_synthetic: int,
    seconds: float,
    **extra: Any,
) -> dict[str, Any]:
    accuracy = metrics.get("accuracy")
    return {
        "arm": arm,
        "generator": generator,
        "ratio": ratio,
        "size": size,
        "seed": seed,
        "epsilon": epsilon_key(epsilon),
        "site": site,
        "auc": metrics.get("auc"),
        "accuracy": accuracy,
        "error": None if accuracy is None else 1.0 - accuracy,
        "n_real": n_real,
        "n_synthetic": n_synthetic,
        "seconds": seconds,
        **extra,
    }
