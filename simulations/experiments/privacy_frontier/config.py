"""What the privacy-frontier experiment runs: the federations, the designs and the grid.

Light (no torch): the CLI builds and checks a config without importing the federation code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from genofed.common.errors import ConfigError
from genofed.common.util.checks import require, require_at_least
from genofed.server.pretraining.settings import PretrainSettings
from genofed.server.settings import DEFAULT_MODEL, RunSettings


@dataclass(frozen=True)
class Design:
    """One way to train the shared model: what it sets on top of the product's defaults.

    name: how results and the report call it.
    model: "logistic" or "network" (`RunSettings.model`).
    prior: "" (from scratch), "source" (a logistic model pretrained on the federation's related
        source cohort: its top variants and weights, `RunSettings.prior`) or "genes" (the
        federation's known-gene list, `RunSettings.gene_prior`).
    distributed: noise shares under secure aggregation (`privacy=distributed`, `secagg`) instead
        of per-site DP against anyone.
    """

    name: str
    model: str
    prior: str = ""
    distributed: bool = False

    @property
    def robust(self) -> bool:
        """Per-site DP against anyone (the coordinator and the other sites included)."""
        return not self.distributed


def _designs() -> dict[str, Design]:
    bases = (
        Design("network", "network"),
        Design("logistic", "logistic"),
        Design("logistic-source", "logistic", prior="source"),
        Design("logistic-genes", "logistic", prior="genes"),
    )
    distributed = [Design(f"{d.name}-distributed", d.model, d.prior, distributed=True) for d in bases]
    return {d.name: d for d in (*bases, *distributed)}


#: Every design, local ones first: the four models and each also under distributed DP.
DESIGNS: dict[str, Design] = _designs()
#: The design the product trains by default (from scratch, robust): the one the targets hold to.
DEFAULT_DESIGN = DEFAULT_MODEL


@dataclass(frozen=True)
class FederationSpec:
    """One federation: simulated from a preset and seed into OUT/federations/<name>, or an
    existing folder (`data_dir`, then `preset` and `seed` are not used)."""

    name: str
    preset: str = ""
    seed: int = 0
    data_dir: str = ""

    def __post_init__(self) -> None:
        require(
            bool(self.name) and self.name.replace("-", "").replace("_", "").isalnum(),
            f"federation name {self.name!r} must be letters, digits, '-' or '_' (it names a folder)",
        )
        require(
            bool(self.preset) != bool(self.data_dir),
            f"federation {self.name}: give a preset (simulated) or a data folder, not both",
        )

    @classmethod
    def from_folder(cls, folder: str) -> FederationSpec:
        """An existing federation folder, named after it (`cohorts` folders after their parent)."""
        path = Path(folder).resolve()
        name = path.parent.name if path.name == "cohorts" and path.parent.name else path.name
        return cls(name=name, data_dir=str(path))


#: The default federation, and a second one no setting was tuned on (another seed and demography).
SIMULATED_FEDERATIONS = {
    "default": FederationSpec("default", preset="default", seed=42),
    "heldout": FederationSpec("heldout", preset="heldout", seed=7),
}


@dataclass(frozen=True)
class FrontierConfig:
    """The grid: federations x designs x epsilons x seeds. The defaults are the full experiment
    (2 x 8 x 4 x 3 = 192 federated runs); `small()` is what the tests run.

    seeds: each changes the hospitals' train/validation splits, the model's initialisation and
        every noise draw (`RunSettings.seed`), for the designs and the references alike.
    prior_variants: k, the source model's top variants a source-prior design reads (0 = all, the
        product's default).
    reference_rounds: rounds of the plain DP logistic regression reference (its rule, fixed).
    run: the product's defaults; every design changes only what `Design` names.
    pretrain: how the source model of a source-prior design is pretrained (once per federation).
    """

    out_dir: str
    federations: tuple[FederationSpec, ...] = tuple(SIMULATED_FEDERATIONS.values())
    designs: tuple[str, ...] = tuple(DESIGNS)
    epsilons: tuple[float, ...] = (1.0, 3.0, 8.0, math.inf)
    seeds: tuple[int, ...] = (1, 2, 3)
    prior_variants: int = RunSettings.prior_variants
    reference_rounds: int = 10
    run: RunSettings = field(default_factory=RunSettings)
    pretrain: PretrainSettings = field(default_factory=lambda: PretrainSettings(model="logistic"))

    def __post_init__(self) -> None:
        require(bool(self.federations), "give at least one federation")
        names = [f.name for f in self.federations]
        require(
            len(set(names)) == len(names),
            f"two federations share a name ({', '.join(names)}): each names its folder and results",
        )
        unknown = [d for d in self.designs if d not in DESIGNS]
        if not self.designs or unknown:
            raise ConfigError(
                f"designs must be a non-empty list of {', '.join(DESIGNS)}; unknown: {', '.join(unknown)}"
            )
        require(bool(self.seeds) and bool(self.epsilons), "give at least one seed and one epsilon")
        require(all(e > 0 for e in self.epsilons), "epsilons must be > 0 (inf = no DP)")
        require_at_least("prior-variants", self.prior_variants, 0, hint="0 = every panel variant")
        require_at_least("reference-rounds", self.reference_rounds, 1)

    @classmethod
    def small(cls, out_dir: str, data_dir: str = "") -> FrontierConfig:
        """Minutes-scale: the small preset (or the small federation in `data_dir`), two designs,
        two privacy levels, one seed, 2 rounds."""
        federation = (
            FederationSpec.from_folder(data_dir)
            if data_dir
            else FederationSpec("small", preset="small", seed=42)
        )
        return cls(
            out_dir=out_dir,
            federations=(federation,),
            designs=("network", "logistic"),
            epsilons=(3.0, math.inf),
            seeds=(1,),
            prior_variants=100,
            reference_rounds=2,
            run=RunSettings(rounds=2),
        )
