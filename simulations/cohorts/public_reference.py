"""The public reference panel of a simulated federation, and the 1000 Genomes reference/site split.

The reference-based synthetic-data generator copies mosaics of a PUBLIC panel's haplotypes, as a
real hospital would use 1000 Genomes. A simulated federation gets its own: `reference/`, phased
people of the same pool who are in no clinic, not in the test cohort and in no source cohort, so
that nothing in it is a patient's (what `docs/simulated-cohorts.md` explains). The 1000 Genomes
experiments have no such pool to spare, so `split_1000g` cuts the 2,504 people into a reference
part and a site part that never meet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from genofed.common.data.layout import GENOTYPES
from genofed.common.data.writers import write_vcf
from genofed.common.util.atomic import write_text_atomic
from genofed.common.util.progress import Progress
from genofed.simulations.cohorts.pool import GenotypePool
from genofed.simulations.cohorts.presets import REFERENCE_PREFIX
from genofed.simulations.cohorts.sampling import draw_proportional_sample, sample_ids

#: The reference folder's table of its people: sample_id, population.
SAMPLES = "samples.tsv"


@dataclass(frozen=True)
class ReferenceSummary:
    """What `write_reference` wrote, for truth.json."""

    n: int
    by_population: dict[str, int]
    note: str = (
        "public reference panel: pool people in no hospital, not in test/ and in no source cohort, "
        "in the pool's population proportions; phased, on the whole panel, no missing calls"
    )


def write_reference(
    folder: Path,
    n: int,
    pool: GenotypePool,
    available: np.ndarray,
    rng: np.random.Generator,
    say: Progress,
) -> ReferenceSummary:
    """Draw `n` unused pool people (`draw_proportional_sample`, which marks them used) and write
    `folder/genotypes.vcf.gz` (phased, every panel variant, the clinics' variant ids, no missing
    calls: a public panel as released, already imputed and phased) and `folder/samples.tsv`."""
    members = draw_proportional_sample(n, pool.populations, available, rng)
    ids = sample_ids(REFERENCE_PREFIX, len(members))
    say(f"writing the public reference panel: {len(members)} people")
    write_vcf(folder / GENOTYPES, pool.haplotypes(members), ids, pool.variant_ids, phased=True)
    table = pd.DataFrame({"sample_id": ids, "population": pool.populations[members]})
    write_text_atomic(folder / SAMPLES, table.to_csv(sep="\t", index=False, lineterminator="\n"))
    names, counts = np.unique(pool.populations[members], return_counts=True)
    return ReferenceSummary(len(members), {str(k): int(v) for k, v in zip(names, counts, strict=True)})


def split_1000g(
    superpopulations: np.ndarray, *, reference_share: float = 0.5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split people into a public reference part and a site part, stratified by superpopulation.

    Why: the reference-based generator must be judged on a site whose people are not in its
    reference panel (a real hospital's patients are not in 1000 Genomes); a plain random split
    could leave a superpopulation nearly absent from one side.

    Args:
        superpopulations: (N,) label of each person, e.g. the 1000 Genomes superpopulation
            (`RealPool.offset_groups[population]`); a label seen once (HG01783's "EUR,AFR") is its
            own stratum.
        reference_share: the share of each stratum that goes to the reference, rounded.
        seed: the split's random seed; the same seed gives the same split.

    Returns:
        (reference indices, site indices), each sorted, disjoint, together every person.
    """
    if not 0.0 < reference_share < 1.0:
        raise ValueError(f"reference_share must be in (0, 1), got {reference_share}")
    labels = np.asarray(superpopulations).astype(str)
    rng = np.random.default_rng(seed)
    reference = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        reference.append(members[: round(reference_share * len(members))])
    chosen = np.sort(np.concatenate(reference))
    return chosen, np.setdiff1d(np.arange(len(labels)), chosen)
