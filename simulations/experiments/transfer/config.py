"""What the transfer-learning experiment runs: its config, the paper's figures, the fixed rules."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from genofed.server.pretraining.settings import PretrainSettings
from genofed.server.settings import RunSettings
from genofed.server.training_rule import network_settings
from genofed.simulations.experiments.base import check_grid

#: The pretraining sources: a trait related to the rare disease (near) and a distant one (far).
SOURCES = ("near", "far")
#: The paper's figures this experiment is set against (BRIEF.md).
PAPER = {"accuracy_with_transfer": 0.794, "gain_points": 13.2, "patients": 200}
#: What we count as "an AUC gain equivalent to 13 points of accuracy" (our reading, stated in the
#: report): at our test cohort's 40 % case share a 0.10 AUC gain moved accuracy by 5-8 points, so
#: this is the more lenient of the two; both are reported.
EQUIVALENT_AUC_GAIN = 0.10


@dataclass(frozen=True)
class TransferConfig:
    """What the experiment runs. The defaults are the full experiment (about an hour on 2 cores);
    `small()` is the configuration the tests run end to end.

    modes_at: the site size at which every fine-tuning mode is compared (0 = none).
    federated_dp_modes: fine-tuning modes of arm (e) under DP: the rule's (frozen) and, for
    comparison, partial.
    run: run settings of every arm (rounds, local epochs, lr, batch size, clip, delta): the
    defaults of `genofed simulate`.
    """

    out_dir: str
    preset: str = "transfer"
    cohort_seed: int = 42
    sizes: tuple[int, ...] = (50, 100, 200, 400)
    seeds: tuple[int, ...] = (1, 2, 3)
    epsilons: tuple[float, ...] = (math.inf, 8.0, 3.0)
    modes_at: int = 200
    federated: bool = True
    federated_dp_modes: tuple[str, ...] = ("frozen", "partial")
    #: The network, as this experiment was designed and measured with (docs/models.md: the
    #: federation's default model is now the logistic one).
    run: RunSettings = field(default_factory=network_settings)
    pretrain: PretrainSettings = field(default_factory=PretrainSettings)

    def __post_init__(self) -> None:
        check_grid(self.sizes, self.seeds, self.epsilons)

    @classmethod
    def small(cls, out_dir: str) -> TransferConfig:
        """Minutes-scale: the small preset (3 clinics, ~500 variants), one site size, one seed,
        2 rounds."""
        return cls(
            out_dir=out_dir,
            preset="small",
            sizes=(40,),
            seeds=(1,),
            epsilons=(math.inf, 3.0),
            modes_at=40,
            federated_dp_modes=("frozen",),
            run=network_settings(rounds=2, local_epochs=1),
            pretrain=PretrainSettings(epochs=3),
        )


def finetune_mode(epsilon: float) -> str:
    """The fine-tuning mode the (b), (c) and (e) arms use, fixed in advance rather than picked on
    the test cohort: without DP everything is trained; under DP only the output layer, because
    DP-SGD's noise grows with every coordinate trained (the mode comparison measures this; arm
    (e) also runs `federated_dp_modes`, since a federation pools more signal than one site)."""
    return "full" if math.isinf(epsilon) else "frozen"
