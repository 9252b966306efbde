"""The rows of the fidelity table and their summary: mean and sd over seeds per (dataset, row,
epsilon), with the targets judged on the means."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pandas as pd

from genofed.simulations.experiments.base import epsilon_key
from genofed.simulations.experiments.synthetic_fidelity.config import README_FIGURES, FidelityConfig
from genofed.simulations.experiments.synthetic_fidelity.datasets import Dataset
from genofed.simulations.experiments.synthetic_fidelity.metrics import TARGETS, targets


def table_row(
    ds: Dataset,
    name: str,
    kind: str,
    epsilon: float,
    seed: int,
    metrics: dict[str, Any],
    error: str | None = None,
) -> dict[str, Any]:
    """One seed's row of the table: the dataset, the row's name and kind (reference or generator),
    its privacy level, and its metrics (none, with `error` set, when the run failed)."""
    return {
        "dataset": ds.name,
        "phased": ds.phased,
        "row": name,
        "kind": kind,
        "epsilon": epsilon_key(epsilon),
        "seed": seed,
        "error": error,
        **metrics,
    }


METRICS = (
    "af_correlation",
    "ld_correlation",
    "ld_correlation_within_chrom",
    "aats_train",
    "aats_test",
    "privacy_loss",
    "aats_train_strict",
    "aats_test_strict",
    "privacy_loss_strict",
    "exact_copies",
    "exact_copies_genotypes",
    "exact_copies_heldout_real",
    "dcr_median",
    "dcr_median_heldout_real",
    "mia_auc",
    "mean_r2_real",
    "mean_r2_synthetic",
    "train_seconds",
    "noise_multiplier",
    "epsilon_spent",
    "epochs",
    "populations_matched",
)


def summarise(
    rows: list[dict[str, Any]], config: FidelityConfig, datasets: list[Dataset], unavailable: dict[str, str]
) -> dict[str, Any]:
    """Mean and sd over seeds per (dataset, row, epsilon), with the targets judged on the means."""
    frame = pd.DataFrame(rows)
    table = [
        _table_entry(dataset, name, eps, group)
        for (dataset, name, eps), group in frame.groupby(["dataset", "row", "epsilon"], sort=False)
    ]
    return {
        "config": {**asdict(config), "epsilons": [epsilon_key(e) for e in config.epsilons]},
        "datasets": [_dataset_facts(d) for d in datasets],
        "unavailable": unavailable,
        "readme_figures": _readme_figures(),
        "targets": asdict(TARGETS),
        # generator training time summed over runs, cached ones included: what a cold rerun costs
        "train_seconds_total": float(sum(r.get("train_seconds") or 0.0 for r in rows)),
        "table": table,
        "rows": rows,
    }


def _table_entry(dataset: str, name: str, eps: Any, group: pd.DataFrame) -> dict[str, Any]:
    """One table row: the seeds that ran without error, each metric's mean and sd over them,
    and the targets judged on the means."""
    ok = group[group["error"].isna()]
    entry: dict[str, Any] = {
        "dataset": dataset,
        "row": name,
        "kind": group["kind"].iloc[0],
        "epsilon": eps,
        "phased": bool(group["phased"].iloc[0]),
        "seeds": [int(s) for s in ok["seed"]],
        "errors": [e for e in group["error"] if isinstance(e, str)],
    }
    for metric in METRICS:
        values = (
            pd.to_numeric(ok[metric], errors="coerce").dropna() if metric in ok else pd.Series(dtype=float)
        )
        entry[metric] = float(values.mean()) if len(values) else None
        entry[f"{metric}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else None
    entry["targets"] = targets(entry) if len(ok) else {}
    entry["passed"] = bool(entry["targets"]) and all(entry["targets"].values())
    return entry


def _dataset_facts(d: Dataset) -> dict[str, Any]:
    """What the report says about one dataset: its title, size and what a record is."""
    return {
        "name": d.name,
        "title": d.title,
        "phased": d.phased,
        "n_variants": d.n_variants,
        "n_chromosomes": len(set(d.chromosomes.tolist())),
        "n_train_people": len(d.train),
        "n_test_people": len(d.test),
        "record": "haplotype" if d.phased else "person",
        **d.panel_facts,
    }


#: The metrics of the README's published reference figures, in the order `README_FIGURES` lists them.
README_METRICS = (
    "af_correlation",
    "ld_correlation",
    "aats_train_strict",
    "aats_test_strict",
    "privacy_loss_strict",
)


def _readme_figures() -> dict[str, dict[str, float]]:
    """The README's published figures per reference row, keyed by metric."""
    return {k: dict(zip(README_METRICS, v, strict=False)) for k, v in README_FIGURES.items()}
