"""Simulated federations: genotype pools, a disease model, clinics, a test cohort and sources.

Modules:

- `build`: `simulate_cohorts`: write a whole simulated federation (clinic folders, test cohort,
  panel, truth) from a preset; `ensure_cohorts` reuses one already written.
- `presets`: named presets: every number that shapes a simulated federation, in one place.
- `demography`: a demographic history for the Southern Federal District's main ancestries.
- `genotypes`: a simulated genotype pool: msprime ancestry and mutations under that demography.
- `real`: a pool of real genotypes: the 1000 Genomes haplotypes in the shared data folder.
- `pool`: the genotype pool that clinics, the test cohort and sources draw from.
- `disease`: the liability-threshold disease model and its exact true risk.
- `sampling`: case-enriched sampling of clinic cohorts from the pool.
- `sources`: source cohorts for transfer learning, on the clinics' panel.
- `gene_list`: the federation's simulated list of known disease genes (`known_genes.bed`), a
  stand-in for clinicians' public prior knowledge.

`pool` and `real` need only numpy and pandas and are imported here; the names of the modules
that import msprime, scipy or scikit-learn (all the others) load on first use.
"""

from __future__ import annotations

from typing import Any

from genofed.simulations.cohorts.pool import Covariates, GenotypePool, dosages
from genofed.simulations.cohorts.real import (
    RealPool,
    RegionGenotypes,
    SharedDataMissing,
    load_1000g,
    load_chr1_region,
    shared_data_dir,
)

_BUILD = {
    "CohortSummary",
    "OutputExists",
    "SimulationResult",
    "build_pool",
    "ensure_cohorts",
    "simulate_cohorts",
}
_PRESETS = {"PRESETS", "CohortSpec", "GenomeSpec", "Preset", "SourceSpec", "TraitSpec", "get_preset"}
_DEMOGRAPHY = {"POPULATIONS", "district_demography"}
_GENOTYPES = {"SimulatedPool", "simulate_pool"}
_DISEASE = {"LiabilityModel", "draw_labels", "fit_trait"}
_SAMPLING = {"draw_cohort", "draw_population_sample", "sample_ids"}
_SOURCES = {"source_models", "write_ancestry_source", "write_sources"}


def __getattr__(name: str) -> Any:
    """The names of the msprime, scipy and scikit-learn modules, imported on first use."""
    if name in _BUILD:
        import genofed.simulations.cohorts.build as build

        return getattr(build, name)
    if name in _PRESETS:
        import genofed.simulations.cohorts.presets as presets

        return getattr(presets, name)
    if name in _DEMOGRAPHY:
        import genofed.simulations.cohorts.demography as demography

        return getattr(demography, name)
    if name in _GENOTYPES:
        import genofed.simulations.cohorts.genotypes as genotypes

        return getattr(genotypes, name)
    if name in _DISEASE:
        import genofed.simulations.cohorts.disease as disease

        return getattr(disease, name)
    if name in _SAMPLING:
        import genofed.simulations.cohorts.sampling as sampling

        return getattr(sampling, name)
    if name in _SOURCES:
        import genofed.simulations.cohorts.sources as sources

        return getattr(sources, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "RealPool",
    "RegionGenotypes",
    "SharedDataMissing",
    "load_1000g",
    "load_chr1_region",
    "shared_data_dir",
    "Covariates",
    "GenotypePool",
    "dosages",
]
#: and every name `__getattr__` loads on first use
__all__ += sorted(_BUILD | _PRESETS | _DEMOGRAPHY | _GENOTYPES | _DISEASE | _SAMPLING | _SOURCES)
