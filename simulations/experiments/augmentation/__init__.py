"""The genotype-augmentation experiment: a small site's classifier with and without each
augmentation, next to a penalised logistic baseline, with and without DP.

- `config`: `AugmentConfig`, the arms and their fixed rates, the paper's figures, the targets.
- `run`: `run_augment_experiment`, every arm on every (size, seed, epsilon), and its summary.
- `report`: `write_augment_report`, OUT/report.md with tables and a plot.

`config` is light and imported here; `run` (torch, scikit-learn) and `report` load on first use.
"""

from __future__ import annotations

from typing import Any

from genofed.simulations.experiments.augmentation.config import (
    ARMS,
    COMBINED_WITH,
    DP_REFUSED,
    MIN_RELEVANT_GAIN,
    NOT_PRIVATE,
    PAPER,
    TARGET_GAIN,
    TARGET_SIZE,
    THOUSAND_GENOMES_CLINICS,
    AugmentConfig,
)

__all__ = [
    "ARMS",
    "COMBINED_WITH",
    "DP_REFUSED",
    "MIN_RELEVANT_GAIN",
    "NOT_PRIVATE",
    "PAPER",
    "TARGET_GAIN",
    "TARGET_SIZE",
    "THOUSAND_GENOMES_CLINICS",
    "AugmentConfig",
    "run_augment_experiment",
    "write_augment_report",
]


def __getattr__(name: str) -> Any:
    """The names of `run` and `report`, imported on first use."""
    if name == "run_augment_experiment":
        import genofed.simulations.experiments.augmentation.run as run

        return run.run_augment_experiment
    if name == "write_augment_report":
        import genofed.simulations.experiments.augmentation.report as report

        return report.write_augment_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
