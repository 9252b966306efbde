"""What the synthetic-fidelity experiment runs: its config, the reference rows and the data
README's published figures."""

from __future__ import annotations

import math
from dataclasses import dataclass

from genofed.common.util.checks import require, require_at_least

#: The generators the experiment can train ("reference": mosaics of a public panel, which only a
#: dataset with a panel, "805site", offers).
GENERATORS = ("vae", "gan", "reference")
#: "805": the phased 805 ancestry SNPs; "region": chr1_region_162snp.vcf.gz; "805site": the 805 SNPs
#: of the site part of `split_1000g` (its other part is the reference generator's public panel).
DATASETS = ("805", "region", "805site")
#: The population labels the reference panel can carry (columns of the 1000 Genomes samples.tsv).
PANEL_LABELS = ("superpopulation", "population")
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
    epochs: generator epochs; None = the generator's default (the reference generator has none).
    temperatures: sampling temperatures, each a row from the same trained generator (no
    retraining): 1 = the generator's own distribution; < 1 sharpens every variant's categorical
    towards its mode. 0.7 was picked from {1, 0.9, 0.8, 0.7} on seed 1 by the metrics computed
    against the training half only (AF, LD, AATS(train)); seeds 2-3 and the privacy columns
    (test half) check it.
    train: False: only reuse finished generator runs from OUT/pieces (e.g. written by several
    processes in parallel) and report the others as not run, instead of training them.
    reference_share: the share of each superpopulation that `split_1000g` puts in the public
    panel of the "805site" dataset; the rest is the site, split in halves like "805". 0.2 keeps
    1,002 people per half, so the evaluation sets of 1,000 haplotypes fit and the training half's
    allele frequencies are nearly as precise as the 1,252 of "805" (at 0.5 even held-out real
    people fall below the AF target against a 626-person half).
    panel_labels: the population label of each panel person the reference generator matches the
    site's ancestry with: "superpopulation" (5 groups of ~100 panel people) or "population" (26
    of ~19: finer structure, but noisier frequencies and 26 weights to fit from DP-noisy ones).
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
    reference_share: float = 0.2
    panel_labels: str = "superpopulation"

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
        require(0.0 < self.reference_share < 1.0, "reference_share must be in (0, 1)")
        require(self.panel_labels in PANEL_LABELS, f"panel_labels must be one of {', '.join(PANEL_LABELS)}")
        if self.epochs is not None:
            require_at_least("epochs", self.epochs, 1)
        require(
            bool(self.temperatures) and all(t > 0 for t in self.temperatures),
            "temperatures must be > 0 (1 = the generator's own distribution)",
        )

    @classmethod
    def small(cls, out_dir: str) -> FidelityConfig:
        """Seconds-scale: the full evaluation sets (the reference rows are cheap, and smaller sets
        would let sampling noise fail held-out real data), 2 epochs, one seed, no DP, VAE only,
        on the two datasets of the README ("805", "region")."""
        return cls(
            out_dir=out_dir,
            generators=("vae",),
            datasets=("805", "region"),
            seeds=(1,),
            epsilons=(math.inf,),
            epochs=2,
            temperatures=(1.0,),
        )
