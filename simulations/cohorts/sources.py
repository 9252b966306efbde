"""Source cohorts for transfer learning: large biobank-style cohorts on the clinics' panel.

`near` is a related disease (part of the rare architecture shared, common effects correlated):
the paper's "source of similar disease nature". `far` is an unrelated common trait on other
variants: the paper's distant source, which should transfer worse. Both come from the same
simulated pool as the clinics, so they share the panel and the population structure; they are
PLINK files because 20,000 x 20,000 genotypes as VCF text would be needlessly large.

`ancestry` (1000g preset only) is real: the 1000 Genomes people that no clinic and not the test
cohort drew, labelled with their population and superpopulation, as reference genomes with known
ancestry for representation learning (`genofed pretrain --task multiclass --label
superpopulation`). It is a VCF like the clinics' (the pool is only 2,504 people).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from genofed.common.data.writers import write_phenotypes, write_plink, write_vcf
from genofed.common.util.atomic import write_text_atomic
from genofed.common.util.progress import Progress
from genofed.simulations.cohorts.disease import LiabilityModel, draw_labels, fit_trait
from genofed.simulations.cohorts.pool import Covariates, GenotypePool, dosages
from genofed.simulations.cohorts.presets import SourceSpec
from genofed.simulations.cohorts.real import RealPool
from genofed.simulations.cohorts.sampling import draw_population_sample, sample_ids

#: The 1000 Genomes superpopulations; a sample listed under anything else (the shared table
#: gives HG01783 as population `IBS,MSL`, superpopulation `EUR,AFR`) has no single class.
SUPERPOPULATIONS = ("AFR", "AMR", "EAS", "EUR", "SAS")
ANCESTRY = "ancestry"


def source_models(
    spec: SourceSpec,
    disease: LiabilityModel,
    pool: GenotypePool,
    covariates: Covariates,
    rng: np.random.Generator,
) -> dict[str, LiabilityModel]:
    """The near and far traits, built from the disease's architecture as SourceSpec says."""
    rare = disease.columns[np.array(disease.kinds) == "rare"]
    common_mask = np.array(disease.kinds) == "common"
    template = disease.effects[common_mask]
    template = template / template.std() if len(template) > 1 and template.std() > 0 else template
    shared = rare[: round(len(rare) * spec.shared_rare_fraction)]
    near = fit_trait(
        spec.near,
        pool,
        covariates,
        rng,
        rare_columns=shared[: spec.near.n_rare],
        common_columns=disease.columns[common_mask] if spec.near.n_common == common_mask.sum() else None,
        common_template=template if spec.near.n_common == common_mask.sum() else None,
        correlation=spec.effect_correlation,
        exclude=disease.columns[~np.isin(disease.columns, shared)],
    )
    far = fit_trait(spec.far, pool, covariates, rng, exclude=np.union1d(disease.columns, near.columns))
    return {"near": near, "far": far}


def write_sources(
    folder: Path,
    spec: SourceSpec,
    disease: LiabilityModel,
    pool: GenotypePool,
    covariates: Covariates,
    available: np.ndarray,
    seeds: np.random.SeedSequence,
    say: Progress,
) -> list[str]:
    """Write `near/` and `far/` (genotypes.bed/.bim/.fam, phenotypes.csv, truth.json)."""
    rng = np.random.default_rng(seeds)
    models = source_models(spec, disease, pool, covariates, rng)
    written = []
    for name, model in models.items():
        labels = draw_labels(model, pool, covariates, rng)
        members = draw_population_sample(spec.n, available, rng)
        ids = sample_ids("SRC" + name[0].upper(), len(members))
        say(f"writing source {name}: {len(members)} people, {int(labels[members].sum())} cases")
        write_plink(folder / name / "genotypes", dosages(pool, members), ids, pool.variant_ids)
        frame = pd.DataFrame(
            {"sex": np.where(covariates.male[members] == 1, "M", "F"), "age": covariates.age[members]}
        )
        write_phenotypes(folder / name / "phenotypes.csv", ids, labels[members], frame)
        shared = sorted(set(model.variant_ids) & set(disease.variant_ids))
        truth = {
            "trait": name,
            "n": len(members),
            "cases": int(labels[members].sum()),
            "prevalence_realised": float(labels.mean()),
            "shared_causal_variants_with_disease": shared,
            "model": model.to_dict(pool.alt_freq),
        }
        write_text_atomic(folder / name / "truth.json", json.dumps(truth, indent=2) + "\n")
        written.append(name)
    return written


def write_ancestry_source(folder: Path, pool: RealPool, available: np.ndarray, say: Progress) -> list[str]:
    """Write `ancestry/` (genotypes.vcf.gz, phenotypes.csv, truth.json) from the real pool's unused people.

    `available` marks the pool people no clinic and not the test cohort drew (`draw_cohort`
    clears it); they are written in pool order under their 1000 Genomes ids, on the whole panel
    and without missing calls (reference genomes, not a clinic's hand-over), and then marked
    used. People whose superpopulation is not a single one of SUPERPOPULATIONS are left out and
    listed in truth.json.
    """
    superpopulations = np.array([pool.offset_groups.get(p, "") for p in pool.populations])
    labelled = np.isin(superpopulations, SUPERPOPULATIONS)
    members = np.flatnonzero(available & labelled)
    left_out = np.flatnonzero(available & ~labelled)
    if len(members) == 0:
        raise ValueError("no unused 1000 Genomes people are left for the ancestry source")
    ids = [str(name) for name in pool.sample_names[members]]
    out = folder / ANCESTRY
    say(f"writing source {ANCESTRY}: {len(members)} unused 1000 Genomes people")
    write_vcf(out / "genotypes.vcf.gz", pool.haplotypes(members), ids, pool.variant_ids, phased=True)
    frame = pd.DataFrame(
        {
            "sample_id": ids,
            "superpopulation": superpopulations[members],
            "population": pool.populations[members],
        }
    )
    if pool.male is not None:
        frame["sex"] = np.where(pool.male[members] == 1, "M", "F")
    write_text_atomic(out / "phenotypes.csv", frame.to_csv(index=False, lineterminator="\n"))
    names, counts = np.unique(superpopulations[members], return_counts=True)
    populations, population_counts = np.unique(pool.populations[members], return_counts=True)
    truth = {
        "trait": ANCESTRY,
        "n": len(members),
        "classes": {str(k): int(v) for k, v in zip(names, counts, strict=False)},
        "populations": {str(k): int(v) for k, v in zip(populations, population_counts, strict=False)},
        "left_out": [
            {
                "sample_id": str(pool.sample_names[i]),
                "population": str(pool.populations[i]),
                "superpopulation": str(superpopulations[i]),
                "why": "no single superpopulation",
            }
            for i in left_out
        ],
        "note": (
            "real 1000 Genomes genotypes; people disjoint from the federation's hospitals and test cohort"
        ),
    }
    write_text_atomic(out / "truth.json", json.dumps(truth, indent=2) + "\n")
    available[members] = False
    return [ANCESTRY]
