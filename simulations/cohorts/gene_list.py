"""A simulated federation's gene list: the stand-in for a clinician's list of known disease genes.

A real list comes from the literature: it holds some of the disease's true loci (the strongest
and the rare high-penetrance ones are the ones studies find first) and genes that were reported
but are not causal. The simulated one is built the same way from the simulation's truth:

- known regions: every rare causal variant and the common causal variants in the top half by
  the variance they explain, |effect| * sqrt(2p(1-p)), each widened by the half-width on both
  sides, overlapping ones merged;
- decoys: as many regions as there are known ones, each as wide as its known partner, placed
  around random panel variants so that they hold no causal variant and overlap no other region;
- names `GENE0001` ... drawn in random order, so a name says nothing about truth or position.

The half-width is 20 kb (a typical gene with its flanks), narrowed on short simulated genomes
so that the known regions take at most a tenth of the panel's span:
`min(20,000, 0.1 * span / (2 * chosen causal variants))`, span being the bases from the first to
the last panel variant summed over chromosomes. A real genome is 3 Gb, where a hundred known
genes of 40 kb are a thousandth of it; the simulated genomes are a few Mb (the small test
preset's chromosomes are 40 kb long, where one 40 kb gene would be the whole chromosome), and
at 20 kb the list would hold half the default panel and restrict nothing. The default
federation gets about 4.9 kb.

The randomness comes from its own stream of the federation's seed (`SeedSequence(seed,
spawn_key=(5,))`; `simulate_cohorts` draws on the children 0-4), so adding the list changes no
simulated genotype, phenotype or panel byte, and `write_gene_list` on an existing federation
writes the same list `simulate-cohorts` does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genofed.common.data.layout import GENE_LIST, PANEL, TRUTH
from genofed.common.data.panel import VariantPanel
from genofed.common.data.regions import GeneRegion, chrom_order, write_gene_regions
from genofed.common.data.variants import parse_variant_id
from genofed.common.errors import ConfigError
from genofed.common.util.atomic import write_text_atomic

#: Bases on each side of a chosen causal variant: a gene with its flanks.
GENE_HALF_WIDTH_BP = 20_000
#: The SeedSequence child of the federation's seed that the gene list draws from.
GENE_LIST_STREAM = 5
#: The known regions (before merging) take at most this share of the panel's span.
MAX_KNOWN_SHARE = 0.1


@dataclass(frozen=True)
class SimulatedGeneList:
    """A simulated gene list and what it holds.

    Attributes:
        regions: every region, sorted by chromosome and start, in BED coordinates.
        known: names of the regions built around causal variants.
        decoys: names of the regions that hold no causal variant.
        chosen: ids of the causal variants the known regions were built around.
        covered: ids of every causal variant inside a known region (the chosen ones and
            neighbours that fell inside).
        n_causal: how many causal variants the disease model has.
        half_width: bases on each side of a chosen causal variant.
    """

    regions: list[GeneRegion]
    known: tuple[str, ...]
    decoys: tuple[str, ...]
    chosen: tuple[str, ...]
    covered: tuple[str, ...]
    n_causal: int
    half_width: int

    def to_dict(self) -> dict[str, Any]:
        """The record `truth.json` keeps under `gene_list`."""
        return {
            "file": GENE_LIST,
            "coordinates": "BED: chrom, 0-based start, end (exclusive), name",
            "rule": "known: every rare causal variant and the top half of the common ones by "
            "|effect| * sqrt(2p(1-p)), +- half_width_bp, merged; decoys: as many regions, as wide, "
            "around random panel variants, holding no causal variant",
            "half_width_bp": self.half_width,
            "n_regions": len(self.regions),
            "n_known": len(self.known),
            "n_decoys": len(self.decoys),
            "n_causal": self.n_causal,
            "n_causal_chosen": len(self.chosen),
            "n_causal_covered": len(self.covered),
            "known_regions": list(self.known),
            "decoy_regions": list(self.decoys),
            "causal_chosen": list(self.chosen),
            "causal_covered": list(self.covered),
        }


def write_gene_list(federation_dir: str | Path) -> SimulatedGeneList:
    """Write `known_genes.bed` into a simulated federation and record it in its `truth.json`.

    Needs only the folder's `panel.tsv` and `truth.json` (its seed and causal variants), so it
    adds the list to a federation simulated before lists existed without simulating it again;
    the list is the one `simulate-cohorts` writes for the same seed.

    Args:
        federation_dir: the folder `genofed simulate-cohorts` wrote.

    Returns:
        The list written.
    """
    root = Path(federation_dir)
    truth_path = root / TRUTH
    if not truth_path.is_file():
        raise ConfigError(
            f"{root}: no {TRUTH}; a gene list is drawn from a simulated federation's truth, so point at a "
            "folder `genofed simulate-cohorts` wrote"
        )
    truth = json.loads(truth_path.read_text())
    gene_list = simulate_gene_list(
        VariantPanel.load(root / PANEL), truth["model"]["causal_variants"], int(truth["seed"])
    )
    write_gene_regions(root / GENE_LIST, gene_list.regions)
    write_text_atomic(truth_path, json.dumps({**truth, "gene_list": gene_list.to_dict()}, indent=2) + "\n")
    return gene_list


def simulate_gene_list(
    panel: VariantPanel, causal_variants: Sequence[Mapping[str, Any]], seed: int
) -> SimulatedGeneList:
    """The gene list of a simulated federation (see the module for the rule).

    Args:
        panel: the federation's panel; decoys are placed around its variants.
        causal_variants: the disease model's causal variants as `truth.json` lists them
            (`id`, `effect`, `alt_freq`, `kind`).
        seed: the federation's seed.
    """
    chosen = _chosen_causal(causal_variants)
    span = _panel_span(panel)
    half_width = int(min(GENE_HALF_WIDTH_BP, max(1, span * MAX_KNOWN_SHARE / (2 * max(1, len(chosen))))))
    known = _merged([_around(parse_variant_id(v), half_width) for v in chosen])
    causal_positions = _positions_by_chrom([parse_variant_id(v["id"]) for v in causal_variants])
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(GENE_LIST_STREAM,)))
    decoys = _decoys(panel, known, causal_positions, rng)
    names = [f"GENE{k:04d}" for k in rng.permutation(len(known) + len(decoys)) + 1]
    named = [
        GeneRegion(chrom, start, end, name)
        for (chrom, start, end), name in zip([*known, *decoys], names, strict=True)
    ]
    covered = tuple(
        v["id"]
        for v in causal_variants
        if any(_inside(parse_variant_id(v["id"]), region) for region in known)
    )
    return SimulatedGeneList(
        regions=sorted(named, key=lambda r: (chrom_order(r.chrom), r.start)),
        known=tuple(sorted(names[: len(known)])),
        decoys=tuple(sorted(names[len(known) :])),
        chosen=tuple(chosen),
        covered=covered,
        n_causal=len(causal_variants),
        half_width=half_width,
    )


_Span = tuple[str, int, int]  # chrom, 0-based start, exclusive end


def _chosen_causal(causal_variants: Sequence[Mapping[str, Any]]) -> list[str]:
    """Ids of every rare causal variant and of the top half (rounded up) of the common ones by
    |effect| * sqrt(2p(1-p)), in the truth's order."""
    common = [v for v in causal_variants if v["kind"] != "rare"]
    score = [abs(v["effect"]) * math.sqrt(2 * v["alt_freq"] * (1 - v["alt_freq"])) for v in common]
    order = sorted(range(len(common)), key=lambda i: -score[i])
    top = {common[i]["id"] for i in order[: math.ceil(len(common) / 2)]}
    return [v["id"] for v in causal_variants if v["kind"] == "rare" or v["id"] in top]


def _around(variant: Any, half_width: int) -> _Span:
    """VCF position `pos` +- half_width, in BED coordinates."""
    return (variant.chrom, max(0, variant.pos - 1 - half_width), variant.pos + half_width)


def _merged(spans: list[_Span]) -> list[_Span]:
    """Overlapping or touching spans merged, sorted by chromosome and start."""
    merged: list[_Span] = []
    for chrom, start, end in sorted(spans, key=lambda s: (chrom_order(s[0]), s[1])):
        if merged and merged[-1][0] == chrom and start <= merged[-1][2]:
            merged[-1] = (chrom, merged[-1][1], max(end, merged[-1][2]))
        else:
            merged.append((chrom, start, end))
    return merged


def _decoys(
    panel: VariantPanel, known: list[_Span], causal: dict[str, np.ndarray], rng: np.random.Generator
) -> list[_Span]:
    """One decoy per known region, as wide, centred on a random panel variant, holding no causal
    variant and overlapping no region placed before; fewer only if the genome has no room."""
    taken: dict[str, list[tuple[int, int]]] = {}
    for chrom, start, end in known:
        taken.setdefault(chrom, []).append((start, end))
    variants = [parse_variant_id(v) for v in panel.variant_ids]
    candidates = iter(rng.permutation(len(variants)))
    decoys: list[_Span] = []
    for _, known_start, known_end in known:
        width = known_end - known_start
        for column in candidates:
            variant = variants[column]
            start = max(0, variant.pos - 1 - width // 2)
            end = start + width
            chrom_causal = causal.get(variant.chrom, np.empty(0, dtype=np.int64))
            if np.searchsorted(chrom_causal, end) > np.searchsorted(chrom_causal, start):
                continue  # a causal variant inside
            if any(start < t_end and t_start < end for t_start, t_end in taken.get(variant.chrom, [])):
                continue
            taken.setdefault(variant.chrom, []).append((start, end))
            decoys.append((variant.chrom, start, end))
            break
    return decoys


def _positions_by_chrom(variants: list[Any]) -> dict[str, np.ndarray]:
    """Sorted 0-based positions per chromosome."""
    by_chrom: dict[str, list[int]] = {}
    for v in variants:
        by_chrom.setdefault(v.chrom, []).append(v.pos - 1)
    return {c: np.sort(np.array(p, dtype=np.int64)) for c, p in by_chrom.items()}


def _panel_span(panel: VariantPanel) -> int:
    """Bases between the first and last panel variant, summed over chromosomes."""
    positions = _positions_by_chrom([parse_variant_id(v) for v in panel.variant_ids])
    return int(sum(p[-1] - p[0] + 1 for p in positions.values()))


def _inside(variant: Any, span: _Span) -> bool:
    chrom, start, end = span
    return variant.chrom == chrom and start <= variant.pos - 1 < end
