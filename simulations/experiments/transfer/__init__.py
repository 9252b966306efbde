"""The transfer-learning experiment: scratch vs near/far pretrained models, alone and federated.

- `config`: `TransferConfig`, the pretraining sources, the paper's figures, `finetune_mode`.
- `run`: `run_transfer_experiment`, every arm on every (size, seed, epsilon), and its summary.
- `report`: `write_transfer_report`, OUT/report.md with tables and a plot.

`config` is light and imported here; `run` (torch, Flower) and `report` load on first use.
"""

from __future__ import annotations

from typing import Any

from genofed.simulations.experiments.transfer.config import (
    EQUIVALENT_AUC_GAIN,
    PAPER,
    SOURCES,
    TransferConfig,
    finetune_mode,
)

__all__ = [
    "EQUIVALENT_AUC_GAIN",
    "PAPER",
    "SOURCES",
    "TransferConfig",
    "finetune_mode",
    "run_transfer_experiment",
    "write_transfer_report",
]


def __getattr__(name: str) -> Any:
    """The names of `run` and `report`, imported on first use."""
    if name == "run_transfer_experiment":
        import genofed.simulations.experiments.transfer.run as run

        return run.run_transfer_experiment
    if name == "write_transfer_report":
        import genofed.simulations.experiments.transfer.report as report

        return report.write_transfer_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
