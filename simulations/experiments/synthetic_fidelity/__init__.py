"""The synthetic-fidelity experiment: our generators on real 1000 Genomes data, next to the data
README's reference rows recomputed with our metric code.

- `config`: `FidelityConfig`, the generators, data sets and reference rows, the README's figures.
- `run`: `run_fidelity_experiment`, the entry point that puts the rows and their summary together.
- `datasets`: the real people (805 phased SNPs, the 162-SNP VCF), split by person, evaluation sets.
- `metrics`: every metric of one synthetic set, and the targets judged on them.
- `references`: the README's reference rows, rebuilt with our metric code.
- `generators`: our generators' rows (trained once, measured at each sampling temperature).
- `pieces`: one generator run cached under OUT/pieces.
- `summary`: the table rows and their means and sds over seeds.
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
