"""The real people the fidelity experiment reads: the 805-SNP phased haplotypes and the 162-SNP
VCF, split by person into a training and a test half, and the per-seed evaluation sets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from genofed.common.errors import GenofedError
from genofed.common.synthetic.encoding import DOSAGE_STATES, PHASED_STATES, phased_states
from genofed.simulations.cohorts.real import load_1000g, load_chr1_region, shared_data_dir
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
    if "805" in config.datasets:
        pool = load_1000g()
        train, test = split_people(len(pool.haps), config.split_seed)
        chrom = np.array([v.split(":")[0] for v in pool.variant_ids])
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
    return out


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
