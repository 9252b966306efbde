"""The settings of `genofed pretrain`, apart from the training itself (no torch: the CLI builds
its options from these defaults without importing the model code)."""

from __future__ import annotations

from dataclasses import dataclass

from genofed.common.util.checks import require_at_least, require_choice, require_in_range, require_positive

TASKS = ("binary", "multiclass")
#: The source model's architecture: the GenNet-style network (what a federation fine-tunes) or the
#: linear score (one weight per variant plus covariates; mirrors genofed.common.model.network
#: ARCHITECTURES, not imported: settings load without torch).
PRETRAIN_MODELS = ("network", "logistic")
#: The L2 strengths a logistic source model tries, strongest first (`PretrainSettings.l2` = 0): the
#: penalty is l2/2 x the squared norm of the variant weights, added to the mean log-loss, so the
#: values are per-person. A grid a decade apart at half-decades covers the useful range from
#: "a few variants' worth of signal" to "nearly unpenalised" on sources of 1,000-100,000 people.
L2_GRID = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4)


@dataclass(frozen=True)
class PretrainSettings:
    """Hyper-parameters of pretraining; recorded in the model's provenance.

    The network: the best epoch on a held-out share of the source (validation AUC, or accuracy for
    a multi-class task) is kept, so more epochs cannot overfit the saved model.

    The logistic model (`model` = "logistic"): a convex problem, so it is solved rather than
    trained: full-batch L-BFGS to convergence (at most `max_iter` iterations) for each L2 strength
    of `L2_GRID` in turn, each warm-started from the last, keeping the strength with the best
    validation score (`l2` > 0: that strength alone). `epochs`, `batch_size`, `lr`, `hidden` and
    `block_size` are the network's only. The source is public, so choosing the strength on its
    validation split costs no one any privacy.
    """

    task: str = "binary"
    label: str = "label"  # the phenotype file's column to predict (`genofed pretrain --label-column`)
    epochs: int = 12
    batch_size: int = 64
    lr: float = 0.05
    weight_decay: float = 0.0
    validation_fraction: float = 0.1
    hidden: int = 16
    block_size: int = 20
    seed: int = 42
    model: str = "network"
    l2: float = 0.0
    max_iter: int = 100

    def __post_init__(self) -> None:
        require_choice("task", self.task, TASKS)
        require_choice("model", self.model, PRETRAIN_MODELS)
        for name, value in (
            ("epochs", self.epochs),
            ("batch-size", self.batch_size),
            ("hidden", self.hidden),
            ("block-size", self.block_size),
            ("max-iter", self.max_iter),
        ):
            require_at_least(name, value, 1)
        require_in_range(
            "validation-fraction", self.validation_fraction, 0, 0.5, low_open=True, high_open=True
        )
        require_positive("lr", self.lr)
        require_at_least("weight-decay", self.weight_decay, 0)
        require_at_least("l2", self.l2, 0, hint="0 chooses it on the source's validation split")

    @property
    def l2_path(self) -> tuple[float, ...]:
        """The L2 strengths a logistic source tries, strongest first."""
        return (float(self.l2),) if self.l2 > 0 else L2_GRID
