"""The synthetic-data utility experiment: a small site's classifier on real patients only vs
real + validated (or unvalidated) synthetic records of a generator it trained itself.

- `config`: `SynthUtilityConfig`, the paper's figures, the targets.
- `run`: `run_synth_utility_experiment`, the entry point over every (size, seed) folder.
- `site_data`: one small site's patients, its synthetic records as features, its held-out reference.
- `site_rows`: the cached pieces of one (size, seed) folder, per clinic and privacy level.
- `site_generator`: the site's generator, trained once and resampled for each ratio.
- `arms`: the classifier arms (real only, validated, unvalidated) and their privacy spend.
- `summary`: means per cell, paired error reductions, the targets.
- `report`: `write_utility_report`, OUT/report.md with tables and a plot.

`config` is light and imported here; `run` (torch, Opacus) and `report` load on first use.
"""

from __future__ import annotations

from typing import Any

from genofed.simulations.experiments.synthetic_utility.config import (
    PAPER,
    TARGET_ERROR_REDUCTION,
    TARGET_SPURIOUS,
    SynthUtilityConfig,
)

__all__ = [
    "PAPER",
    "TARGET_ERROR_REDUCTION",
    "TARGET_SPURIOUS",
    "SynthUtilityConfig",
    "run_synth_utility_experiment",
    "write_utility_report",
]


def __getattr__(name: str) -> Any:
    """The names of `run` and `report`, imported on first use."""
    if name == "run_synth_utility_experiment":
        import genofed.simulations.experiments.synthetic_utility.run as run

        return run.run_synth_utility_experiment
    if name == "write_utility_report":
        import genofed.simulations.experiments.synthetic_utility.report as report

        return report.write_utility_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
