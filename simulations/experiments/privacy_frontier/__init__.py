"""The privacy-frontier experiment: test AUC against epsilon for every design of the shared model.

- `config`: `FrontierConfig`, the designs (`DESIGNS`), the federations.
- `references`: pooled and site-alone logistic regressions and the plain DP logistic regression
  federation, on the federation's own splits.
- `run`: `run_frontier_experiment`, every design on every (federation, epsilon, seed).
- `summary`: tables, targets and run time from the rows.
- `report`: `write_frontier_report`, OUT/report.md and a plot per federation.

`config` is light and imported here; the others (torch, Opacus, Flower, pandas) load on first use.
"""

from __future__ import annotations

from typing import Any

from genofed.simulations.experiments.privacy_frontier.config import (
    DEFAULT_DESIGN,
    DESIGNS,
    SIMULATED_FEDERATIONS,
    Design,
    FederationSpec,
    FrontierConfig,
)

_RUN = {"run_frontier_experiment"}
_REPORT = {"write_frontier_report"}


def __getattr__(name: str) -> Any:
    """The names of `run` and `report`, imported on first use."""
    if name in _RUN:
        import genofed.simulations.experiments.privacy_frontier.run as run

        return getattr(run, name)
    if name in _REPORT:
        import genofed.simulations.experiments.privacy_frontier.report as report

        return getattr(report, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DEFAULT_DESIGN", "DESIGNS", "SIMULATED_FEDERATIONS", "Design", "FederationSpec", "FrontierConfig"]
#: and every name `__getattr__` loads on first use
__all__ += sorted(_RUN | _REPORT)
