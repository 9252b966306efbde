"""What the synthetic-fidelity experiment runs: its config, the reference rows and the data
README's published figures."""

from __future__ import annotations

import math
from dataclasses import dataclass

from genofed.common.util.checks import require, require_at_least

#: The generators the experiment can train.
GENERATORS = ("vae", "gan")
#: "805": the phased 805 ancestry SNPs; "region": chr1_region_162snp.vcf.gz.
DATASETS = ("805", "region")
#: The data README's reference generators, recomputed with our metric code.
REFERENCES = ("heldout", "naive", "perpop", "memorised")
REFERENCE_TITLES = {
    "heldout": "held-out real haplotypes (ideal)",
    "naive": "independent sites (naive)",
    "perpop": "per-population independent sites",
    "memorised": "copy of the training data (memorised)",
}
#: The README's published figures (805 SNPs): AF corr., LD corr., AATS(train), AATS(test), privacy loss.
README_FIGURES = {
    "heldout": (0.996, 0.978, 0.472, 0.471, -0.001),
    "naive": (0.997, 0.004, 0.566, 0.561, -0.005),
    "perpop": (0.997, 0.974, 0.449, 0.523, 0.075),
    "memorised": (0.999, 0.991, 0.000, 0.466, 0.466),
}
#: The version of a cached generator piece (2: one piece holds the rows of every sampling temperature).
PIECE_VERSION = 2


@dataclass(frozen=True)
class FidelityConfig:
    """What the experiment runs. Defaults = the full experiment; `small()` is what the tests run.

    dp_seeds: seeds of the DP rows (the first k of `seeds`): DP-SGD is 2-3x slower, and these
    rows are secondary.
    n_haplotypes: records per evaluation set on phased data (the README's 1,000).
    n_people: records per evaluation set on unphased data (1,252 test people hold two disjoint
    sets of 600).
    epochs: generator epochs; None = the generator's default.
    temperatures: sampling temperatures, each a row from the same trained generator (no
    retraining): 1 = the generator's own distribution; < 1 sharpens every variant's categorical
    towards its mode. 0.7 was picked from {1, 0.9, 0.8, 0.7} on seed 1 by the metrics computed
    against the training half only (AF, LD, AATS(train)); seeds 2-3 and the privacy columns
    (test half) check it.
    train: False: only reuse finished generator runs from OUT/pieces (e.g. written by several
    processes in parallel) and report the others as not run, instead of training them.
    """

    out_dir: str
    generators: tuple[str, ...] = GENERATORS
    seeds: tuple[int, ...] = (1, 2, 3)
    epsilons: tuple[float, ...] = (math.inf, 8.0)
    dp_seeds: int = 1
    delta: float = 1e-5
    split_seed: int = 2504
    n_haplotypes: int = 1000
    n_people: int = 600
    epochs: int | None = None
    temperatures: tuple[float, ...] = (1.0, 0.7)
    datasets: tuple[str, ...] = DATASETS
    train: bool = True

    def __post_init__(self) -> None:
        unknown = sorted(set(self.generators) - set(GENERATORS))
        require(
            not unknown, f"unknown generator(s) {', '.join(unknown)}; choose from {', '.join(GENERATORS)}"
        )
        require(set(self.datasets) <= set(DATASETS), f"datasets must be among {', '.join(DATASETS)}")
        require(bool(self.seeds) and bool(self.epsilons), "give at least one seed and one epsilon")
        require(all(s >= 0 for s in self.seeds), "seeds must be non-negative integers")
        require(all(e > 0 for e in self.epsilons), "epsilons must be > 0 (inf = no DP)")
        require(
            self.n_haplotypes >= 20 and not self.n_haplotypes % 2 and self.n_people >= 10,
            "n_haplotypes must be even and >= 20, n_people >= 10",
        )
        require_at_least("dp_seeds", self.dp_seeds, 1)
        if self.epochs is not None:
            require_at_least("epochs", self.epochs, 1)
        require(
            bool(self.temperatures) and all(t > 0 for t in self.temperatures),
            "temperatures must be > 0 (1 = the generator's own distribution)",
        )

    @classmethod
    def small(cls, out_dir: str) -> FidelityConfig:
        """Seconds-scale: the full evaluation sets (the reference rows are cheap, and smaller sets
        would let sampling noise fail held-out real data), 2 epochs, one seed, no DP, VAE only."""
        return cls(
            out_dir=out_dir,
            generators=("vae",),
            seeds=(1,),
            epsilons=(math.inf,),
            epochs=2,
            temperatures=(1.0,),
        )
