"""The README's reference rows (held-out real, independent sites, per-population independent
sites, a copy of the training data), rebuilt with our metric code."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from genofed.common.synthetic.checks import allele_frequencies
from genofed.common.util.progress import Progress
from genofed.simulations.experiments.synthetic_fidelity.config import REFERENCES, FidelityConfig
from genofed.simulations.experiments.synthetic_fidelity.datasets import Dataset, EvalSets, eval_sets
from genofed.simulations.experiments.synthetic_fidelity.metrics import Reference, measure
from genofed.simulations.experiments.synthetic_fidelity.summary import table_row


def reference_set(
    name: str, ds: Dataset, ref: Reference, sets: EvalSets, rng: np.random.Generator
) -> np.ndarray:
    """The README's reference generators, rebuilt from the training half only (except held-out)."""
    n = len(ds.records(sets.train_people))
    if name == "heldout":
        return ds.records(sets.heldout_people)
    if name == "memorised":
        return ds.records(sets.train_people).copy()
    if name == "naive":  # each site independently, at the training frequency (Hardy-Weinberg for dosages)
        return rng.binomial(ds.max_allele, ref.af * 2 / ds.max_allele, size=(n, ds.n_variants)).astype(
            np.int8
        )
    if name == "perpop":  # a population drawn as in training, then independent sites at its frequencies
        pops_train = ds.populations[ds.train]
        per = 2 if ds.phased else 1
        drawn = rng.choice(pops_train, size=n // per)
        out = np.empty((n, ds.n_variants), dtype=np.int8)
        rows = np.repeat(drawn, per)
        for pop in np.unique(rows):
            mask = rows == pop
            freq = allele_frequencies(ds.records(ds.train[pops_train == pop])) * 2 / ds.max_allele
            out[mask] = rng.binomial(ds.max_allele, freq, size=(int(mask.sum()), ds.n_variants))
        return out
    raise ValueError(f"unknown reference {name!r}")


def reference_rows(
    ds: Dataset, ref: Reference, config: FidelityConfig, say: Progress
) -> list[dict[str, Any]]:
    """Every reference row of one dataset at every seed, measured as a generator's row would be."""
    rows: list[dict[str, Any]] = []
    for seed in config.seeds:
        sets = eval_sets(ds, config, seed)
        rng = np.random.default_rng([config.split_seed, seed, 1])
        for name in REFERENCES:
            synthetic = reference_set(name, ds, ref, sets, rng)
            rows.append(table_row(ds, name, "reference", math.inf, seed, measure(ds, ref, sets, synthetic)))
        say(f"{ds.name}: reference rows, seed {seed}")
    return rows
