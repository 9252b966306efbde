"""`simulate_cohorts`: write a simulated federation (clinics, test cohort, panel, truth, gene list,
the public reference panel).

The whole folder is built in a hidden staging folder next to the target and renamed into place
only at the end, so an interrupted run never leaves a folder that looks complete. Outputs are a
pure function of (preset, seed): htslib's BGZF carries no timestamp, so the same seed gives
byte-identical files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from genofed.common.data.cohort import MISSING
from genofed.common.data.layout import (
    GENOTYPES,
    GENOTYPES_PLINK,
    PANEL,
    PHENOTYPES,
    REFERENCE,
    TEST,
    TRUTH,
)
from genofed.common.data.panel import VariantPanel
from genofed.common.data.variants import parse_variant_id
from genofed.common.data.writers import write_phenotypes, write_plink, write_vcf
from genofed.common.errors import GenofedError
from genofed.common.util.atomic import atomic_dir, write_text_atomic
from genofed.common.util.progress import Progress
from genofed.simulations.cohorts.disease import LiabilityModel, draw_labels, fit_trait
from genofed.simulations.cohorts.gene_list import write_gene_list
from genofed.simulations.cohorts.pool import Covariates, GenotypePool, dosages
from genofed.simulations.cohorts.presets import CohortSpec, Preset, get_preset
from genofed.simulations.cohorts.public_reference import write_reference
from genofed.simulations.cohorts.sampling import draw_cohort, sample_ids


class OutputExists(GenofedError):
    """The output folder already holds files and overwriting was not asked for."""


@dataclass(frozen=True)
class CohortSummary:
    name: str
    n: int
    cases: int
    ancestry: dict[str, int]
    missing_rate: float  # realised share of missing calls in the written VCF
    untyped: int  # panel variants absent from the written VCF


@dataclass(frozen=True)
class SimulationResult:
    """What `simulate_cohorts` wrote, for the CLI's summary and for callers."""

    out_dir: Path
    preset: str
    seed: int
    n_variants: int
    hospitals: list[CohortSummary]
    test: CohortSummary
    bayes_auc: float
    sources: list[str]
    #: people in the public reference panel (`reference/`); 0 when the preset writes none
    reference: int = 0


def simulate_cohorts(
    out_dir: str | Path,
    *,
    preset: str | Preset = "default",
    seed: int = 42,
    with_sources: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> SimulationResult:
    """Simulate hospitals and write them to `out_dir` (see the module and README for the layout).

    Raises OutputExists if `out_dir` is a non-empty folder and `overwrite` is False, or, with
    `overwrite`, holds no earlier cohorts (no truth.json: `_check_target`).
    """
    spec = get_preset(preset) if isinstance(preset, str) else preset
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if with_sources and spec.sources is None and spec.genotypes != "1000g":
        raise GenofedError(f"preset {spec.name} has no source cohorts (they need a simulated pool)")
    out_dir = Path(out_dir)
    _check_target(out_dir, overwrite)
    say = progress or (lambda _message: None)
    with atomic_dir(out_dir) as staging:
        result = _generate(staging, spec, seed, with_sources, say)
    return SimulationResult(**{**result.__dict__, "out_dir": out_dir})


def ensure_cohorts(
    folder: str | Path,
    *,
    preset: str,
    seed: int,
    with_sources: bool = False,
    progress: Progress | None = None,
) -> Path:
    """`folder` holding the cohorts of (preset, seed): simulated once, reused by later runs.

    Cohorts of another preset or seed (or without the sources asked for) are refused, never
    silently reused or overwritten.
    """
    folder = Path(folder)
    truth = folder / TRUTH
    if truth.exists():
        made = json.loads(truth.read_text())
        if (made.get("preset"), made.get("seed")) == (preset, seed) and (
            made.get("sources") or not with_sources
        ):
            return folder
        raise GenofedError(
            f"{folder} holds cohorts of preset {made.get('preset')} seed "
            f"{made.get('seed')}{'' if made.get('sources') else ' without sources'}, not {preset} seed "
            f"{seed}{' with sources' if with_sources else ''}: use another output folder, or pass those "
            "cohorts with --data"
        )
    say = progress or (lambda _message: None)
    say(f"simulating the {preset} cohorts{' with their sources' if with_sources else ''} into {folder}")
    simulate_cohorts(
        folder, preset=preset, seed=seed, with_sources=with_sources, overwrite=True, progress=progress
    )
    return folder


def _check_target(out_dir: Path, overwrite: bool) -> None:
    """An output folder that is new, empty, or (with `overwrite`, --force) earlier cohorts of this
    command (its truth.json): --force replaces an earlier output, never a folder of other files (a
    fuzzing review's `--force` into a folder of notes deleted them)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExists(f"{out_dir} exists and is not a folder")
    if not out_dir.is_dir() or not any(out_dir.iterdir()):
        return
    if not overwrite:
        raise OutputExists(f"{out_dir} already holds files; choose another folder or overwrite it (--force)")
    if not (out_dir / TRUTH).is_file():
        raise OutputExists(
            f"{out_dir} holds files that are not cohorts of `genofed simulate-cohorts` (no {TRUTH}): only "
            "earlier simulated cohorts are replaced; choose another folder"
        )


def build_pool(spec: Preset, seeds: np.random.SeedSequence) -> GenotypePool:
    """The preset's genotype pool: simulated with msprime, or the real 1000 Genomes people."""
    if spec.genotypes == "1000g":
        from genofed.simulations.cohorts.real import load_1000g

        return load_1000g()
    from genofed.simulations.cohorts.genotypes import simulate_pool

    assert spec.genome is not None  # checked by Preset
    return simulate_pool(spec.genome, dict(spec.pool_sizes), seeds)


def _generate(staging: Path, spec: Preset, seed: int, with_sources: bool, say: Progress) -> SimulationResult:
    # a sixth stream for the reference panel: the first five are what they were before it existed
    pool_seed, trait_seed, sample_seed, source_seed, quality_seed, reference_seed = np.random.SeedSequence(
        seed
    ).spawn(6)
    quality = np.random.default_rng(quality_seed)
    rng = np.random.default_rng(trait_seed)
    say(f"simulating the genotype pool ({spec.name})")
    pool = build_pool(spec, pool_seed)
    say(f"pool: {len(pool.populations)} people, {len(pool.variant_ids)} panel variants")
    covariates = Covariates.draw(len(pool.populations), rng, pool.male)
    model = fit_trait(spec.disease, pool, covariates, rng)
    labels = draw_labels(model, pool, covariates, rng)
    available = np.ones(len(labels), dtype=bool)
    sampler = np.random.default_rng(sample_seed)
    hospitals = []
    for cohort in spec.hospitals:
        members = draw_cohort(cohort, pool.populations, labels, available, sampler)
        say(f"writing {cohort.name}: {len(members)} patients, {int(labels[members].sum())} cases")
        hospitals.append(
            _write_cohort(staging / cohort.name, cohort, members, pool, labels, covariates, quality)
        )
    test_members = draw_cohort(spec.test, pool.populations, labels, available, sampler)
    say(f"writing test: {len(test_members)} people")
    test = _write_cohort(staging / TEST, spec.test, test_members, pool, labels, covariates, quality)
    bayes_auc = _write_true_risk(
        staging / TEST / "true_risk.csv", spec.test, test_members, pool, labels, covariates, model
    )
    VariantPanel(list(pool.variant_ids), pool.alt_freq).save(staging / PANEL)
    sources: list[str] = []
    if with_sources and spec.genotypes == "1000g":
        from genofed.simulations.cohorts.real import RealPool
        from genofed.simulations.cohorts.sources import write_ancestry_source

        assert isinstance(pool, RealPool)
        sources = write_ancestry_source(staging / "sources", pool, available, say)
    elif with_sources:
        from genofed.simulations.cohorts.sources import write_sources

        assert spec.sources is not None
        sources = write_sources(
            staging / "sources", spec.sources, model, pool, covariates, available, source_seed, say
        )
    # drawn last, so clinics, test and sources are the people they were before the panel existed
    reference = (
        write_reference(
            staging / REFERENCE,
            spec.reference_size,
            pool,
            available,
            np.random.default_rng(reference_seed),
            say,
        )
        if spec.reference_size
        else None
    )
    truth = _truth(spec, seed, pool, model, labels, hospitals, test, bayes_auc, sources)
    if reference is not None:
        truth["reference"] = reference.__dict__
    write_text_atomic(staging / TRUTH, json.dumps(truth, indent=2) + "\n")
    write_gene_list(staging)  # known_genes.bed, recorded in truth.json; its own random stream
    return SimulationResult(
        staging,
        spec.name,
        seed,
        len(pool.variant_ids),
        hospitals,
        test,
        bayes_auc,
        sources,
        reference.n if reference else 0,
    )


def _write_cohort(
    folder: Path,
    spec: CohortSpec,
    members: np.ndarray,
    pool: GenotypePool,
    labels: np.ndarray,
    covariates: Covariates,
    quality: np.random.Generator,
) -> CohortSummary:
    """A clinic's hand-over: phased VCF and phenotypes.csv (no ancestry: clinics don't record it),
    with the clinic's genotyping quality: some calls missing, some panel variants not typed."""
    ids = sample_ids(spec.id_prefix, len(members))
    haplotypes = pool.haplotypes(members)
    typed = quality.random(haplotypes.shape[1]) >= spec.untyped_fraction
    missing = quality.random(haplotypes.shape[:2]) < spec.missing_rate
    if missing.any():
        haplotypes = haplotypes.astype(np.int8)
        haplotypes[missing] = MISSING
    variant_ids = [v for v, keep in zip(pool.variant_ids, typed, strict=False) if keep]
    if spec.genotype_format == "plink":
        _write_plink_minor_a1(folder / Path(GENOTYPES_PLINK).stem, haplotypes[:, typed], ids, variant_ids)
    else:
        write_vcf(folder / GENOTYPES, haplotypes[:, typed], ids, variant_ids, phased=True)
    frame = pd.DataFrame(
        {"sex": np.where(covariates.male[members] == 1, "M", "F"), "age": covariates.age[members]}
    )
    write_phenotypes(folder / PHENOTYPES, ids, labels[members], frame)
    names, counts = np.unique(pool.populations[members], return_counts=True)
    return CohortSummary(
        spec.name,
        len(members),
        int(labels[members].sum()),
        {str(k): int(v) for k, v in zip(names, counts, strict=False)},
        missing_rate=float(missing[:, typed].mean()),
        untyped=int((~typed).sum()),
    )


def _write_plink_minor_a1(
    prefix: Path, haplotypes: np.ndarray, ids: list[str], variant_ids: list[str]
) -> None:
    """PLINK 1 files with A1 = the clinic's minor allele, as plink 1.9 writes them: wherever the
    ALT allele is the commoner one at this clinic, REF/ALT are swapped relative to the panel."""
    missing = (haplotypes == MISSING).any(axis=2)
    alt = np.where(missing, 0, haplotypes.sum(axis=2)).astype(np.int8)
    called = (~missing).sum(axis=0)
    alt_freq = np.divide(alt.sum(axis=0), 2 * called, out=np.zeros(alt.shape[1]), where=called > 0)
    swap = alt_freq > 0.5
    counted = np.where(swap, 2 - alt, alt)
    written_ids = [
        parse_variant_id(v).swapped_id if s else v for v, s in zip(variant_ids, swap, strict=False)
    ]
    write_plink(prefix, np.where(missing, MISSING, counted).astype(np.int8), ids, written_ids)


def _write_true_risk(
    path: Path,
    spec: CohortSpec,
    members: np.ndarray,
    pool: GenotypePool,
    labels: np.ndarray,
    covariates: Covariates,
    model: LiabilityModel,
) -> float:
    """test/true_risk.csv (with each person's population, which the true risk conditions on);
    returns the Bayes-optimal AUC on the test cohort."""
    risk = model.true_risk(
        dosages(pool, members, model.columns),
        covariates.male[members],
        covariates.age[members],
        pool.populations[members],
    )
    frame = pd.DataFrame(
        {
            "sample_id": sample_ids(spec.id_prefix, len(members)),
            "true_risk": risk,
            "population": pool.populations[members],
        }
    )
    write_text_atomic(path, frame.to_csv(index=False, lineterminator="\n", float_format="%.10g"))
    return float(roc_auc_score(labels[members], risk))


def _truth(
    spec: Preset,
    seed: int,
    pool: GenotypePool,
    model: LiabilityModel,
    labels: np.ndarray,
    hospitals: list[CohortSummary],
    test: CohortSummary,
    bayes_auc: float,
    sources: list[str],
) -> dict[str, Any]:
    populations = sorted(set(pool.populations))
    return {
        "preset": spec.name,
        "seed": seed,
        "genotypes": spec.genotypes,
        "n_variants": len(pool.variant_ids),
        "pool_size": len(labels),
        "prevalence_target": spec.disease.prevalence,
        "prevalence_realised": float(labels.mean()),
        "prevalence_by_population": {p: float(labels[pool.populations == p].mean()) for p in populations},
        "pool_by_population": {p: int((pool.populations == p).sum()) for p in populations},
        "model": model.to_dict(pool.alt_freq),
        "hospitals": [h.__dict__ for h in hospitals],
        "test": test.__dict__,
        "bayes_auc": bayes_auc,
        "bayes_auc_note": "AUC on test/ of the true risk P(case | genotype, sex, age, population) in "
        "test/true_risk.csv",
        "sources": sources,
    }
