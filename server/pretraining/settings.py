"""The settings of `genofed pretrain`, apart from the training itself (no torch: the CLI builds
its options from these defaults without importing the model code)."""

from __future__ import annotations

from dataclasses import dataclass

from genofed.common.errors import GenofedError

TASKS = ("binary", "multiclass")


@dataclass(frozen=True)
class PretrainSettings:
    """Hyper-parameters of pretraining; recorded in the model's provenance.

    The best epoch on a held-out share of the source (validation AUC, or accuracy for a
    multi-class task) is kept, so more epochs cannot overfit the saved model.
    """

    task: str = "binary"
    label: str = "label"
    epochs: int = 12
    batch_size: int = 64
    lr: float = 0.05
    weight_decay: float = 0.0
    validation_fraction: float = 0.1
    hidden: int = 16
    block_size: int = 20
    seed: int = 42

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise GenofedError(f"task must be one of {', '.join(TASKS)}, not {self.task!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.hidden < 1 or self.block_size < 1:
            raise GenofedError("epochs, batch-size, hidden and block-size must be >= 1")
        if not 0 < self.validation_fraction < 0.5:
            raise GenofedError("validation-fraction must be in (0, 0.5)")
        if self.lr <= 0 or self.weight_decay < 0:
            raise GenofedError("lr must be > 0 and weight-decay >= 0")
