"""The settings of `genofed pretrain`, apart from the training itself (no torch: the CLI builds
its options from these defaults without importing the model code)."""

from __future__ import annotations

from dataclasses import dataclass

from genofed.common.util.checks import require_at_least, require_choice, require_in_range, require_positive

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
        require_choice("task", self.task, TASKS)
        for name, value in (
            ("epochs", self.epochs),
            ("batch-size", self.batch_size),
            ("hidden", self.hidden),
            ("block-size", self.block_size),
        ):
            require_at_least(name, value, 1)
        require_in_range(
            "validation-fraction", self.validation_fraction, 0, 0.5, low_open=True, high_open=True
        )
        require_positive("lr", self.lr)
        require_at_least("weight-decay", self.weight_decay, 0)
