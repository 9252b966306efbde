"""What the genotype-augmentation experiment runs: its config, the arms, the paper's figures and
the targets, all fixed before any run."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from genofed.common.util.checks import require
from genofed.server.settings import RunSettings
from genofed.server.training_rule import network_settings
from genofed.simulations.experiments.base import check_grid

#: The paper's figures (BRIEF.md): small-cohort AUC 0.71 without, 0.82 with augmentation.
PAPER = {"auc_without": 0.71, "auc_with": 0.82}
#: The benchmark's targets: +0.05 AUC at a 100-patient site from the best augmentation (no DP).
TARGET_GAIN = 0.05
TARGET_SIZE = 100
#: The smallest AUC gain that counts as a gain at all in "where the gain vanishes" (fixed in advance).
MIN_RELEVANT_GAIN = 0.01
#: The arms, at rates fixed before any run (the example string of `genofed simulate --augment`),
#: never tuned.
ARMS: dict[str, str] = {
    "none": "",
    "noise": "noise=0.01",
    "mutate": "mutate=0.005",
    "missing": "missing=0.02",
    "mix": "mix=0.3",
    "mixup": "mixup=0.2",
    "noise+mutate+missing": "noise=0.01,mutate=0.005,missing=0.02",
    "all+mix": "noise=0.01,mutate=0.005,missing=0.02,mix=0.3",
}
#: The network the combined model averages with the logistic baseline (fixed in advance).
COMBINED_WITH = "noise+mutate+missing"
#: Why the mixing arms have no DP rows.
DP_REFUSED = (
    "mixes two patients into one training example, so one patient could move two clipped gradients "
    "per step; refused under DP by design"
)
#: The 1000 Genomes clinics that each act as the small site in the second part.
THOUSAND_GENOMES_CLINICS = ("rostov", "krasnodar", "astrakhan", "elista", "sochi")
#: Why the logistic and combined models have no DP rows.
NOT_PRIVATE = "the penalised logistic baseline is trained without DP, so it is not reported under a DP budget"


@dataclass(frozen=True)
class AugmentConfig:
    """What the experiment runs; `small()` is what the tests run end to end.

    cohorts: an existing cohorts folder of (preset, cohort_seed) to use instead of OUT/cohorts.
    clinics: which simulated clinics act as the small site (the synthetic-utility experiment's
    choice, rostov: the largest Russian-majority clinic). error_rates: the injected miscall
    rates of the robustness test cohorts. thousand_genomes: also run the second part, on the
    semi-synthetic 1000 Genomes cohorts, into OUT/1000g.
    """

    out_dir: str
    preset: str = "synthetic"
    cohort_seed: int = 42
    cohorts: str = ""
    sizes: tuple[int, ...] = (25, 50, 100, 200)
    seeds: tuple[int, ...] = (1, 2, 3)
    epsilons: tuple[float, ...] = (math.inf, 8.0)
    arms: tuple[str, ...] = tuple(ARMS)
    clinics: tuple[str, ...] = ("rostov",)
    error_rates: tuple[float, ...] = (0.01, 0.05)
    logistic: bool = True
    thousand_genomes: bool = True
    #: The network, as this experiment was designed and measured with (docs/models.md: the
    #: federation's default model is now the logistic one).
    run: RunSettings = field(default_factory=network_settings)

    def __post_init__(self) -> None:
        check_grid(self.sizes, self.seeds, self.epsilons)
        unknown = set(self.arms) - set(ARMS)
        require(
            not unknown and "none" in self.arms,
            f"arms must include 'none' and come from {', '.join(ARMS)}; got {', '.join(self.arms)}",
        )
        require(all(0 < r < 1 for r in self.error_rates), "error rates must be in (0, 1)")

    @classmethod
    def small(cls, out_dir: str) -> AugmentConfig:
        """Seconds-scale: the small preset (~500 variants), one site of 40, one seed,
        2 rounds x 1 epoch."""
        return cls(
            out_dir=out_dir,
            preset="small",
            sizes=(40,),
            seeds=(1,),
            thousand_genomes=False,
            run=network_settings(rounds=2, local_epochs=1),
        )

    def thousand_genomes_part(self) -> AugmentConfig:
        """The second part: preset `1000g` (real 1000 Genomes genotypes, simulated disease). Its
        clinics hold 40-60 patients, so sites of 25 and 50 only (100 and 200 do not exist there);
        the five clinics of 60 each act as the small site, for more replicates per size."""
        return replace(
            self,
            out_dir=str(Path(self.out_dir) / "1000g"),
            preset="1000g",
            cohorts="",
            sizes=(25, 50),
            clinics=THOUSAND_GENOMES_CLINICS,
            thousand_genomes=False,
        )
