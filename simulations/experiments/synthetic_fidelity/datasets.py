"""The real people the fidelity experiment reads: the 805-SNP phased haplotypes and the 162-SNP
VCF, split by person into a training and a test half, and the per-seed evaluation sets; and
"805site", the 805 SNPs of a site whose people are in no public panel: `split_1000g` gives a
public reference part (the reference generator's panel) and a site part, split in halves."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from genofed.common.errors import GenofedError
from genofed.common.synthetic.encoding import DOSAGE_STATES, PHASED_STATES, phased_states
from genofed.common.synthetic.reference_panel import ReferencePanel, reference_from_haplotypes
from genofed.simulations.cohorts.public_reference import split_1000g
from genofed.simulations.cohorts.real import RealPool, load_1000g, load_chr1_region, shared_data_dir
from genofed.simulations.experiments.synthetic_fidelity.config import FidelityConfig


@dataclass
class Dataset:
    """One panel of real people, with how its records (haplotypes or people) are built."""

    name: str
    title: str
    phased: bool  # records are haplotypes (2 per person) if True, dosage vectors of people if not
    alleles: np.ndarray  # people x variants x 2 if phased, people x variants (dosages) if not
    populations: np.ndarray  # per person
    chromosomes: np.ndarray  # per variant
    train: np.ndarray  # person indices, sorted
    test: np.ndarray
    panel: ReferencePanel | None = None  # the public panel, people in neither half ("805site" only)
    panel_facts: dict = field(default_factory=dict)  # how the panel was cut, for the cache key and report

    @property
    def n_variants(self) -> int:
        return int(self.alleles.shape[1])

    @property
    def max_allele(self) -> int:
        """Largest value of a record entry: 1 for a haplotype, 2 for a dosage."""
        return 1 if self.phased else 2

    @property
    def n_states(self) -> int:
        return PHASED_STATES if self.phased else DOSAGE_STATES

    def records(self, people: np.ndarray) -> np.ndarray:
        """Rows of the people's records; phased: rows 2i and 2i+1 are the two haplotypes of person i."""
        x = self.alleles[np.asarray(people)]
        return (
            x.transpose(0, 2, 1).reshape(-1, self.n_variants).astype(np.int8)
            if self.phased
            else x.astype(np.int8)
        )

    def dosages(self, people: np.ndarray) -> np.ndarray:
        """(people, variants) ALT dosages: what the reference generator's site release reads."""
        x = self.alleles[np.asarray(people)]
        return (x.sum(axis=2) if self.phased else x).astype(np.int8)

    def states(self, people: np.ndarray) -> np.ndarray:
        """What a generator trains on: phased states (0..3) or dosages (0..2), one row per person."""
        x = self.alleles[np.asarray(people)]
        return phased_states(x) if self.phased else x.astype(np.int8)

    def people_dosages(self, records: np.ndarray) -> np.ndarray:
        """Records -> one dosage row per person (consecutive haplotype pairs summed)."""
        return records.reshape(-1, 2, self.n_variants).sum(axis=1).astype(np.int8) if self.phased else records


def split_people(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two halves by person, fixed by `seed`, so every row of the table shares them."""
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2 :])


def load_datasets(config: FidelityConfig) -> list[Dataset]:
    """The 805-SNP phased haplotypes and the 162-SNP VCF, split by person with `split_seed`."""
    out = []
    pool = load_1000g() if {"805", "805site"} & set(config.datasets) else None
    if pool is not None:
        chrom = np.array([v.split(":")[0] for v in pool.variant_ids])
    if pool is not None and "805" in config.datasets:
        train, test = split_people(len(pool.haps), config.split_seed)
        out.append(
            Dataset(
                "805",
                "805 ancestry SNPs, chromosomes 1-22 (phased haplotypes)",
                True,
                pool.haps,
                pool.populations,
                chrom,
                train,
                test,
            )
        )
    if "region" in config.datasets:
        region = load_chr1_region()
        samples = pd.read_csv(shared_data_dir() / "samples.tsv", sep="\t").set_index("sample_id")
        pops = samples.loc[region.sample_names, "population"].to_numpy(dtype=str)
        train, test = split_people(len(region.dosages), config.split_seed)
        n_chrom = len(set(region.chromosomes.tolist()))
        kind = "phased haplotypes" if region.phased else "unphased, so records are people (dosages)"
        title = (
            f"`chr1_region_162snp.vcf.gz`: {region.dosages.shape[1]} SNPs on {n_chrom} chromosome(s), {kind}"
        )
        alleles = region.haplotypes if region.phased else region.dosages
        out.append(Dataset("region", title, region.phased, alleles, pops, region.chromosomes, train, test))
    if pool is not None and "805site" in config.datasets:
        out.append(site_dataset(pool, chrom, config))
    return out


def site_dataset(pool: RealPool, chromosomes: np.ndarray, config: FidelityConfig) -> Dataset:
    """The 805 SNPs of the site part of `split_1000g` (stratified by superpopulation, seed
    `split_seed`), split in halves by person like "805"; the reference part becomes the public
    panel, labelled with `config.panel_labels` from the 1000 Genomes samples.tsv."""
    superpopulations = np.array([pool.offset_groups[p] for p in pool.populations])
    panel_people, site = split_1000g(
        superpopulations, reference_share=config.reference_share, seed=config.split_seed
    )
    first, second = split_people(len(site), config.split_seed)
    labels = superpopulations if config.panel_labels == "superpopulation" else pool.populations
    panel = reference_from_haplotypes(
        pool.haps[panel_people],
        pool.variant_ids,
        labels[panel_people],
        sample_ids=[str(s) for s in pool.sample_names[panel_people]],
        source="1000 Genomes 805 SNPs, reference part of split_1000g",
    )
    facts = {
        "reference_share": config.reference_share,
        "panel_labels": config.panel_labels,
        "panel_people": len(panel_people),
        "site_people": len(site),
    }
    title = (
        f"805 ancestry SNPs, site part of the 1000 Genomes split ({len(site)} people; the other "
        f"{len(panel_people)} are the reference generator's public panel, labelled by {config.panel_labels})"
    )
    return Dataset(
        "805site",
        title,
        True,
        pool.haps,
        pool.populations,
        chromosomes,
        site[first],
        site[second],
        panel,
        facts,
    )


@dataclass
class EvalSets:
    """Per seed: training people T, test people E, and other test people H (the held-out reference)."""

    train_people: np.ndarray
    test_people: np.ndarray
    heldout_people: np.ndarray


def eval_sets(ds: Dataset, config: FidelityConfig, seed: int) -> EvalSets:
    k = config.n_haplotypes // 2 if ds.phased else config.n_people
    if 2 * k > len(ds.test) or k > len(ds.train):
        raise GenofedError(
            f"{ds.name}: {k} people per set need {2 * k} test people, the half has {len(ds.test)}"
        )
    rng = np.random.default_rng([config.split_seed, seed])
    train = np.sort(rng.choice(ds.train, size=k, replace=False))
    test = rng.permutation(ds.test)
    return EvalSets(train, np.sort(test[:k]), np.sort(test[k : 2 * k]))
