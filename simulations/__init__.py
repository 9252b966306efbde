"""Simulated hospitals, the local simulation mode, and the paper's experiments.

Subpackages:

- `cohorts/`: simulated federations: msprime populations with a rare disease, and
  semi-synthetic cohorts on real 1000 Genomes genotypes (`simulate_cohorts`).
- `local/`: the local simulation mode (`simulate`: a whole federation on one machine), its
  reference models, and a deployed federation on loopback.
- `experiments/`: the paper's experiments on one shared base (transfer learning, genotype
  augmentation, synthetic-data fidelity and utility).

The front door: `simulate_cohorts` writes a federation folder, `simulate` runs a federation on
it. Both load on first use (msprime, torch and Flower come with them).
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """The front-door functions, imported on first use."""
    if name in {"ensure_cohorts", "simulate_cohorts"}:
        import genofed.simulations.cohorts.build as build

        return getattr(build, name)
    if name == "simulate":
        import genofed.simulations.local.simulate as simulate_module

        return simulate_module.simulate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ensure_cohorts", "simulate", "simulate_cohorts"]
