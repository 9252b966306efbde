"""The synthetic-fidelity experiment: our generators on real 1000 Genomes data, next to the data
README's reference rows recomputed with our metric code.

- `config`: `FidelityConfig`, the generators, data sets and reference rows, the README's figures.
- `run`: `run_fidelity_experiment`, the reference and generator rows and their summary.
- `report`: `write_fidelity_report` (OUT/report.md) and `summary_lines` for the terminal.

`config` is light and imported here; `run` (torch, scikit-learn) and `report` load on first use.
"""

from __future__ import annotations

from typing import Any

from genofed.simulations.experiments.synthetic_fidelity.config import (
    DATASETS,
    GENERATORS,
    README_FIGURES,
    REFERENCE_TITLES,
    REFERENCES,
    FidelityConfig,
)

__all__ = [
    "DATASETS",
    "GENERATORS",
    "README_FIGURES",
    "REFERENCES",
    "REFERENCE_TITLES",
    "FidelityConfig",
    "run_fidelity_experiment",
    "summary_lines",
    "write_fidelity_report",
]


def __getattr__(name: str) -> Any:
    """The names of `run` and `report`, imported on first use."""
    if name == "run_fidelity_experiment":
        import genofed.simulations.experiments.synthetic_fidelity.run as run

        return run.run_fidelity_experiment
    if name in {"summary_lines", "write_fidelity_report"}:
        import genofed.simulations.experiments.synthetic_fidelity.report as report

        return getattr(report, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
