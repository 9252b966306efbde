"""The genotype pool: the large population that clinics, the test cohort and sources draw from.

A rare disease (1-2 %) needs a large population to find a few hundred cases. The pool's
genotypes are simulated once; only the causal variants are decoded for everyone (to draw
liabilities), and the full panel only for the few thousand people actually selected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


class GenotypePool(Protocol):
    """What the cohort builder needs from a pool, simulated or real."""

    variant_ids: list[str]  # the panel, ordered by chromosome and position
    alt_freq: np.ndarray  # alt-allele frequency of each panel variant in the pool
    populations: np.ndarray  # population name of each pool individual
    #: population -> the group whose liability offset applies (itself, or a superpopulation)
    offset_groups: dict[str, str]
    male: np.ndarray | None  # recorded sex (1 = male) where the pool has it, else None

    def haplotypes(self, individuals: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
        """(len(individuals), len(columns), 2) int8 alleles, 1 = alt; all panel columns if None."""
        ...


def dosages(pool: GenotypePool, individuals: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
    """Alt-allele dosages (individuals x columns, int8) from the pool's haplotypes."""
    return pool.haplotypes(individuals, columns).sum(axis=2, dtype=np.int8)


@dataclass(frozen=True)
class Covariates:
    """Person-level covariates of every pool individual, drawn once and shared by all traits."""

    male: np.ndarray  # int8 0/1
    age: np.ndarray  # int16 years

    @classmethod
    def draw(cls, n: int, rng: np.random.Generator, male: np.ndarray | None = None) -> Covariates:
        """Sex 50/50 unless recorded; age uniform 1-85: rare genetic diseases reach clinics at
        every age."""
        drawn_male = rng.integers(0, 2, n).astype(np.int8)
        age = rng.integers(1, 86, n).astype(np.int16)
        return cls(male=drawn_male if male is None else np.asarray(male, dtype=np.int8), age=age)
