"""The paper's experiments, each reproducing one of its results with our own measurements.

- `base/`: what every experiment shares: the grid of sizes x seeds x epsilons, the small sites
  drawn from the simulated clinics, the piece cache, statistics and the report writer.
- `transfer/`: transfer learning, scratch vs near/far pretrained models, alone and federated.
- `augmentation/`: genotype augmentation for a small site, next to a logistic baseline.
- `synthetic_fidelity/`: our synthetic genotypes on real 1000 Genomes data, next to references.
- `synthetic_utility/`: a small site's classifier on real vs real + synthetic records.

Each experiment folder holds `config.py` (what it runs), `run.py` (running it) and `report.py`
(OUT/report.md); `run` uses `config` and `report`, `report` uses `config` only, and no
experiment imports another. The two synthetic experiments split their running into modules
beside `run.py` (listed in their `__init__`), which `run` puts together. The entry points
load on first use (torch comes with them).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "run_augment_experiment",
    "run_fidelity_experiment",
    "run_synth_utility_experiment",
    "run_transfer_experiment",
]


def __getattr__(name: str) -> Any:
    """Each experiment's entry point, imported on first use."""
    if name == "run_transfer_experiment":
        import genofed.simulations.experiments.transfer.run as transfer

        return transfer.run_transfer_experiment
    if name == "run_augment_experiment":
        import genofed.simulations.experiments.augmentation.run as augmentation

        return augmentation.run_augment_experiment
    if name == "run_fidelity_experiment":
        import genofed.simulations.experiments.synthetic_fidelity.run as synthetic_fidelity

        return synthetic_fidelity.run_fidelity_experiment
    if name == "run_synth_utility_experiment":
        import genofed.simulations.experiments.synthetic_utility.run as synthetic_utility

        return synthetic_utility.run_synth_utility_experiment
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
