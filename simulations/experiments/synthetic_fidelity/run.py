"""Experiment: fidelity and privacy of our synthetic genotypes on real genomes.

The shared 1000 Genomes README publishes reference figures for synthetic haplotypes (held-out
real, independent sites, per-population independent sites, a copy of the training data) on its
805 SNPs. This experiment recomputes those reference rows with OUR metric code, so that a
mismatch in protocol shows up before anyone trusts a generator row, and then puts our
generators (VAE, GAN; without DP and at a DP budget; several seeds) in the same table, each row
judged against the synthetic-data targets (`checks.Thresholds` with its fixed fidelity limits).
The reference-based generator needs a public panel whose people are not the site's: it runs on
"805site", the site part of `split_1000g` (see `datasets`), next to that dataset's own
reference rows.

Protocol (the README's, with the details it leaves open fixed here and stated in the report):

- People, not haplotypes, are split in two halves with a fixed seed (`split_seed`): training
  and test. A generator trains on every training person (phased states, `n_states=4`, one
  person per example as under DP; labels all 0, as no phenotype is involved).
- Per seed, three evaluation sets of whole people: T (training), E (test) and, for the held-out
  reference, H (other test people, disjoint from E). On the phased 805 SNPs each set is 500
  people = 1,000 haplotypes and records are haplotypes; on the unphased 162-SNP file records
  are people (dosages, `n_people` per set), as there is no phase to read (see `load_chr1_region`).
- Allele-frequency and LD correlations compare the synthetic set with ALL training records;
  LD is the Pearson correlation of the r^2 of every pair of polymorphic variants (the README's
  figures are reproduced only with all pairs; within-chromosome pairs are reported as well).
- AATS (Yale et al. 2020) with cityblock distances, AATS(train) on (T, S) and AATS(test) on
  (E, S), privacy loss = AATS(test) - AATS(train). Two tie conventions: ties count 1/2 (our
  `checks`, what the targets are judged on) and ties count as a miss (strict `>`, Yale's
  code, which reproduces the README's figures).
- Extra checks from `checks.privacy`: exact copies of training records (haplotypes, and
  genotypes of whole synthetic people), distance to closest record, membership-inference AUC.

The modules beside this one, each with one job: `datasets` (the real people and their splits),
`metrics` (every metric of a synthetic set, the targets), `references` (the README's reference
rows), `generators` (our generators' rows), `pieces` (one generator run, cached under
OUT/pieces) and `summary` (the table rows and their means over seeds).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from genofed.common.util.atomic import write_text_atomic
from genofed.common.util.progress import Progress, silent
from genofed.server.results import json_default
from genofed.simulations.experiments.synthetic_fidelity.config import REFERENCES, FidelityConfig
from genofed.simulations.experiments.synthetic_fidelity.datasets import (
    Dataset,
    EvalSets,
    eval_sets,
    load_datasets,
    split_people,
)
from genofed.simulations.experiments.synthetic_fidelity.generators import (
    GENERATOR_API,
    generator_available,
    generator_rows,
    row_name,
    runs_on,
)
from genofed.simulations.experiments.synthetic_fidelity.metrics import (
    TARGETS,
    Reference,
    aats_from_distances,
    measure,
    reference,
    targets,
)
from genofed.simulations.experiments.synthetic_fidelity.pieces import generator_piece
from genofed.simulations.experiments.synthetic_fidelity.references import reference_rows, reference_set
from genofed.simulations.experiments.synthetic_fidelity.report import write_fidelity_report
from genofed.simulations.experiments.synthetic_fidelity.summary import METRICS, summarise

__all__ = [
    "GENERATOR_API",
    "METRICS",
    "REFERENCES",
    "TARGETS",
    "Dataset",
    "EvalSets",
    "FidelityConfig",
    "Reference",
    "aats_from_distances",
    "eval_sets",
    "generator_available",
    "generator_rows",
    "load_datasets",
    "measure",
    "reference",
    "reference_set",
    "row_name",
    "run_fidelity_experiment",
    "split_people",
    "summarise",
    "targets",
]


def run_fidelity_experiment(config: FidelityConfig, progress: Progress | None = None) -> dict[str, Any]:
    """Run (or finish) the experiment in `config.out_dir`; writes synth_fidelity.json and report.md.
    Generator rows are cached one file per (dataset, generator, epsilon, seed) under OUT/pieces."""
    say = progress or silent
    started = time.perf_counter()
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    unavailable = {kind: why for kind in config.generators if (why := generator_available(kind))}
    for why in unavailable.values():
        say(why)
    rows: list[dict[str, Any]] = []
    datasets = load_datasets(config)
    for ds in datasets:
        ref = reference(ds)
        rows.extend(reference_rows(ds, ref, config, say))
        for kind in config.generators:
            if kind not in unavailable and runs_on(kind, ds):
                rows.extend(_generator_rows_of(out, kind, ds, ref, config, say))
    results = summarise(rows, config, datasets, unavailable)
    results["wall_seconds"] = time.perf_counter() - started
    write_text_atomic(out / "synth_fidelity.json", json.dumps(results, indent=2, default=json_default) + "\n")
    results["report"] = str(write_fidelity_report(out, results))
    return results


def _generator_rows_of(
    out: Path, kind: str, ds: Dataset, ref: Reference, config: FidelityConfig, say: Progress
) -> list[dict[str, Any]]:
    """Every (epsilon, seed) piece of one generator on one dataset; under DP only the first
    `config.dp_seeds` seeds (at least one)."""
    rows: list[dict[str, Any]] = []
    for epsilon in config.epsilons:
        seeds = config.seeds if math.isinf(epsilon) else config.seeds[: max(1, config.dp_seeds)]
        for seed in seeds:
            rows.extend(generator_piece(out, kind, epsilon, seed, ds, ref, config, say))
    return rows
