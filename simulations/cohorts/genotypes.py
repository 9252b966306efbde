"""A simulated genotype pool: msprime ancestry and mutations under the district demography."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import msprime
import numpy as np
import tskit

from genofed.common.data.variants import make_variant_id
from genofed.simulations.cohorts.demography import district_demography
from genofed.simulations.cohorts.presets import GenomeSpec

#: Each region lives on its own chromosome, starting here (away from the telomere).
_REGION_START = 5_000_001
_BASES = np.array(list("ACGT"))
#: Transition partner of A, C, G, T (A<->G, C<->T): transitions are ~2x as common as transversions.
_TRANSITION = np.array([2, 3, 0, 1])


@dataclass
class SimulatedPool:
    """The pool's tree sequence, reduced to the panel sites, and the panel built from it."""

    ts: tskit.TreeSequence
    variant_ids: list[str]
    alt_freq: np.ndarray
    populations: np.ndarray
    offset_groups: dict[str, str] = field(default_factory=dict)
    male: np.ndarray | None = None

    def haplotypes(self, individuals: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
        ts = self.ts
        if columns is not None:
            columns = np.asarray(columns)
            if np.any(np.diff(columns) <= 0):
                raise ValueError("columns must be strictly increasing panel indices")
            ts = ts.delete_sites(np.setdiff1d(np.arange(ts.num_sites), columns))
        individuals = np.asarray(individuals)
        nodes = np.stack([2 * individuals, 2 * individuals + 1], axis=1).ravel()
        # simplify keeps the sample order given, so genotype columns follow `individuals`
        ts = ts.simplify(
            samples=nodes, filter_sites=False, filter_populations=False, filter_individuals=False
        )
        matrix = ts.genotype_matrix()  # sites x haplotypes
        return matrix.T.reshape(len(individuals), 2, -1).transpose(0, 2, 1).astype(np.int8, copy=False)


def simulate_pool(
    genome: GenomeSpec, pool_sizes: dict[str, int], seeds: np.random.SeedSequence
) -> SimulatedPool:
    """Simulate the pool and keep single-mutation sites with pool MAF >= genome.min_maf.

    Sites hit by more than one mutation are dropped, so every kept variant is a clean
    biallelic SNV whose alt (derived) count is the size of one subtree.
    """
    ancestry_seed, mutation_seed, allele_seed = (int(s.generate_state(1)[0]) or 1 for s in seeds.spawn(3))
    positions, recombination, mutation = _rate_maps(genome)
    ts = msprime.sim_ancestry(
        samples=pool_sizes,
        demography=district_demography(),
        recombination_rate=msprime.RateMap(position=positions, rate=recombination),
        random_seed=ancestry_seed,
    )
    ts = msprime.sim_mutations(
        ts,
        rate=msprime.RateMap(position=positions, rate=mutation),
        model=msprime.BinaryMutationModel(),
        random_seed=mutation_seed,
    )
    keep, freq = _panel_sites(ts, genome.min_maf)
    ts = ts.delete_sites(np.flatnonzero(~keep))
    variant_ids = _variant_ids(ts.tables.sites.position, genome, np.random.default_rng(allele_seed))
    node_population = ts.tables.nodes.population[ts.samples()[0::2]]
    names = np.array([ts.population(p).metadata["name"] for p in range(ts.num_populations)])
    populations = names[node_population]
    return SimulatedPool(
        ts=ts,
        variant_ids=variant_ids,
        alt_freq=freq[keep],
        populations=populations,
        offset_groups={p: p for p in set(populations)},
    )


def _rate_maps(genome: GenomeSpec) -> tuple[list[float], list[float], list[float]]:
    """One genome of unlinked regions: a 1-bp gap with recombination rate ln 2 between regions
    (probability 1/2 of a crossover: independent assortment) and no mutations in the gap."""
    positions, recombination, mutation = [0.0], [], []
    for region in range(genome.n_regions):
        positions.append(positions[-1] + genome.region_length)
        recombination.append(genome.recombination_rate)
        mutation.append(genome.mutation_rate)
        if region < genome.n_regions - 1:
            positions.append(positions[-1] + 1)
            recombination.append(math.log(2))
            mutation.append(0.0)
    return positions, recombination, mutation


def _panel_sites(ts: tskit.TreeSequence, min_maf: float) -> tuple[np.ndarray, np.ndarray]:
    """(keep mask, alt frequency) of every site, from subtree sizes: no genotype decoding of
    the whole pool is needed."""
    keep = np.zeros(ts.num_sites, dtype=bool)
    freq = np.zeros(ts.num_sites)
    n = ts.num_samples
    for tree in ts.trees():
        for site in tree.sites():
            if len(site.mutations) == 1:
                freq[site.id] = tree.num_samples(site.mutations[0].node) / n
                keep[site.id] = min_maf <= min(freq[site.id], 1 - freq[site.id])
    return keep, freq


def _variant_ids(positions: np.ndarray, genome: GenomeSpec, rng: np.random.Generator) -> list[str]:
    """`chrom:pos:ref:alt` ids: region k on chromosome k + 1, REF = ancestral allele,
    ALT = derived, with a transition:transversion ratio of 2."""
    stride = genome.region_length + 1
    region = (positions // stride).astype(int)
    offset = (positions - region * stride).astype(int)
    chrom = region + 1
    start = np.full(len(positions), _REGION_START)
    ref = rng.integers(0, 4, len(positions))
    transversion = (ref + rng.choice([1, 3], len(positions))) % 4
    alt = np.where(rng.random(len(positions)) < 2 / 3, _TRANSITION[ref], transversion)
    return [
        make_variant_id(str(c), int(s + o), _BASES[r], _BASES[a])
        for c, s, o, r, a in zip(chrom, start, offset, ref, alt, strict=False)
    ]
