"""The cohort data model shared by every reader, check, simulator and trainer.

A site's data arrives as two things that must be joined: a genotype matrix (from VCF, PLINK or a
table) and a phenotype table (labels and covariates). Keeping them separate until `join` lets
each reader stay simple and puts every cross-file check (ids in one but not the other) in one
place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Dosage value of a missing call. Dosages are int8 alt-allele counts 0, 1, 2.
MISSING: int = -1
DOSAGE_DTYPE = np.int8


class _DosageShape:
    """`n_samples` / `n_variants` of anything holding a samples x variants `dosages` matrix."""

    dosages: np.ndarray

    @property
    def n_samples(self) -> int:
        return self.dosages.shape[0]

    @property
    def n_variants(self) -> int:
        return self.dosages.shape[1]


@dataclass
class GenotypeMatrix(_DosageShape):
    """Alt-allele dosages of one file: samples x variants, int8, `MISSING` for no call."""

    dosages: np.ndarray
    sample_ids: list[str]
    variant_ids: list[str]
    source: str = "genotypes"
    #: Problems the reader saw but could repair or report as warnings (e.g. split multi-allelics).
    notes: list[str] = field(default_factory=list)
    #: Only when asked for (read_vcf(haplotypes=True)): the ordered alleles of every call,
    #: (samples, variants, 2) int8, 1 = alt, `MISSING` for no call; and how many heterozygous
    #: calls carry no phase (0 = fully phased, so the haplotypes are meaningful).
    haplotypes: np.ndarray | None = None
    unphased_heterozygous: int = 0
    #: With `haplotypes`: which calls carry no phase, (samples, variants) bool, True where the GT
    #: is written unphased ('0/1', '1/1', and a missing call, which holds no phase); both variants
    #: of a split multi-allelic record share their record's flags.
    unphased: np.ndarray | None = None
    #: With `haplotypes`: the VCF record (its order in the file) each variant came from, so the
    #: variants of one split multi-allelic record are known: a heterozygous '1/2' puts its two ALTs
    #: on opposite haplotypes.
    variant_records: np.ndarray | None = None
    #: PLINK only: the .bed holds calls past the .fam's last sample (its padding bits, which PLINK
    #: and bed-reader write as 0, are not): a sign that the .fam lost a line, which gives every later
    #: sample its neighbour's genotypes. `checks.join_cohort` then refuses phenotype rows that have
    #: no genotypes, which it otherwise leaves out: the lost line's sample is one of them.
    calls_past_samples: bool = False

    def __post_init__(self) -> None:
        if self.dosages.dtype != DOSAGE_DTYPE:
            raise TypeError(f"dosages must be {np.dtype(DOSAGE_DTYPE)}, got {self.dosages.dtype}")
        n, m = self.dosages.shape
        if n != len(self.sample_ids) or m != len(self.variant_ids):
            raise ValueError(
                f"dosages are {n} x {m} but there are {len(self.sample_ids)} sample ids "
                f"and {len(self.variant_ids)} variant ids"
            )


@dataclass
class Phenotypes:
    """Binary disease labels and covariates, one row per sample, in file order."""

    sample_ids: list[str]
    labels: np.ndarray  # int8, 0 = control, 1 = case
    covariates: pd.DataFrame  # index = sample_ids; the model's covariate columns (sex, age) present
    source: str = "phenotypes"
    #: The file's other columns (besides sample_id and the label), in file order: left unread,
    #: since no model reads them.
    unused_columns: list[str] = field(default_factory=list)
    #: What a caller should print for the user (e.g. which columns were not used), as `GenotypeMatrix.notes`.
    notes: list[str] = field(default_factory=list)


@dataclass
class Cohort(_DosageShape):
    """One site's joined data: what a local trainer sees and what never leaves the site."""

    dosages: np.ndarray  # (n_samples, n_variants) int8, MISSING for no call
    sample_ids: list[str]
    variant_ids: list[str]
    labels: np.ndarray  # (n_samples,) int8 0/1
    covariates: pd.DataFrame  # index = sample_ids
    genotype_source: str = "genotypes"
    phenotype_source: str = "phenotypes"

    @property
    def n_cases(self) -> int:
        return int((self.labels == 1).sum())

    @property
    def n_controls(self) -> int:
        return int((self.labels == 0).sum())

    def missing_rate(self) -> float:
        if self.dosages.size == 0:
            return 0.0
        return float((self.dosages == MISSING).mean())
