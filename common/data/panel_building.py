"""The federation's panel, built from the variant summaries its hospitals release.

`build_panel` combines the sites' `VariantSummary` files (genofed.common.data.variant_summary)
by rules that only need what the sites released:

0. REF-only sites (`CHROM:POS:REF:.`: a VCF record with ALT '.', a PLINK variant whose other
   allele is '0' or '.') name one allele, no variant: they are counted (`ref_only`), never
   panel variants. (Their patients still count at alignment, as homozygous for that allele.)
1. Matching: a variant is its chromosome, position and allele pair. `1:100:A:G` at one site and
   `1:100:G:A` at another are the same variant with REF/ALT swapped (PLINK writes the minor
   allele as A1, so swaps are routine); its counts are converted to one orientation
   (alt' = called - alt). The orientation is the one most sites report; on a tie, the one the
   first site in sorted name order reports.
2. Presence: kept only if at least `min_sites` sites report it (default 2: a variant typed at
   one site only cannot be checked against any other, and its panel frequency would be that one
   site's release alone).
3. Strand: an A/T or C/G SNP reads the same on both strands, so a REF/ALT swap and a strand flip
   cannot be told apart from the alleles. When every site reports it in the same orientation it
   is kept as it is. When orientations differ, the frequencies decide, as imputation pipelines
   do: read as a swap, the sites of each orientation (pooled) must name the same allele as the
   minor one, and the pooled minor allele frequency must be at most `STRAND_MAX_MAF` (0.4), so
   that a strand flip (which would leave them disagreeing on the minor allele) is ruled out;
   otherwise the variant is dropped. (PLINK files list the minor allele first, so a PLINK site
   reports every SNP whose ALT is the commoner allele swapped: dropping every A/T and C/G SNP
   among them lost 13 of the 105 causal variants of the default simulated federation.)
4. Call rate: pooled called alleles / (2 x pooled patients of the sites reporting it) must be at
   least `min_call_rate` (default 0.9).
5. Frequency: the pooled minor allele frequency must be at least `min_maf` (default 0: rounded
   counts hide rare alleles, and the rare causal variants of a disease are exactly the ones a MAF
   filter would remove).

A kept variant's rsID (the panel's optional `rsid` column) is the one most of the sites that report
it name (on a tie, the first site's in name order); sites that name none are not counted. The name
is public and plays no part in the rules above.

The panel lists the kept variants in genomic order (chromosomes 1..22, X, Y, MT, then others by
name; then position, REF, ALT) with their pooled alt-allele frequency. `panel_from_pooled`
applies the same rules to exact counts: the reference the proof in docs/panel.md compares with.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from genofed.common.data.cohort import GenotypeMatrix
from genofed.common.data.panel import NO_ALT, VariantPanel
from genofed.common.data.variant_summary import Release, VariantSummary, exact_counts
from genofed.common.data.variants import Variant, parse_variant_id
from genofed.common.errors import DataError
from genofed.common.util.checks import require, require_in_range

DEFAULT_MIN_SITES = 2
DEFAULT_MIN_CALL_RATE = 0.9
DEFAULT_MIN_MAF = 0.0
#: SNPs whose two alleles are each other's complement: a strand flip looks like a REF/ALT swap.
AMBIGUOUS_PAIRS = (frozenset("AT"), frozenset("CG"))
#: The largest pooled minor allele frequency at which a strand-ambiguous SNP reported in both
#: orientations is resolved as a swap: nearer 0.5 the frequencies cannot tell a flip from a swap.
STRAND_MAX_MAF = 0.4
_SEX_AND_MITO = {"X": 23, "Y": 24, "XY": 25, "MT": 26, "M": 26}


@dataclass(frozen=True)
class PanelRules:
    """The combination rules (module docstring); defaults as `genofed coordinator panel`'s."""

    min_sites: int = DEFAULT_MIN_SITES
    min_call_rate: float = DEFAULT_MIN_CALL_RATE
    min_maf: float = DEFAULT_MIN_MAF


@dataclass
class PanelReport:
    """How many variants each rule saw and dropped, in the order the rules apply."""

    sites: list[str]
    variants_seen: int = 0
    swapped: int = 0  # variants some site reports with REF/ALT swapped (converted, not dropped)
    ref_only: int = 0  # REF-only site reports (ALT '.'), not variants: left out before the rules
    dropped_sites: int = 0
    dropped_strand: int = 0
    dropped_call_rate: int = 0
    dropped_maf: int = 0
    kept: int = 0
    named: int = 0  # kept variants with an rsID from some site's summary
    names_differ: int = 0  # of those, variants two sites name differently (the commoner name kept)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def lines(self, rules: PanelRules) -> list[str]:
        ref_only = (
            [f"  left out, REF-only site reports (ALT '.', no variant): {self.ref_only}"]
            if self.ref_only
            else []
        )
        return [
            f"{len(self.sites)} sites ({', '.join(self.sites)}): {self.variants_seen} distinct variants",
            *ref_only,
            f"  REF/ALT swapped at some site, converted: {self.swapped}",
            f"  dropped, in fewer than {rules.min_sites} sites: {self.dropped_sites}",
            f"  dropped, A/T or C/G reported in both orientations: {self.dropped_strand}",
            f"  dropped, pooled call rate below {rules.min_call_rate:g}: {self.dropped_call_rate}",
            *self._maf_lines(rules),
            f"  kept: {self.kept}",
            *self._name_lines(),
        ]

    def _maf_lines(self, rules: PanelRules) -> list[str]:
        """The frequency rule's line: what it dropped, or, at `min_maf` 0 (the default), that it is
        off. Why: "dropped, pooled minor allele frequency below 0: 0" read as a filter that ran and
        found nothing (a deployment walkthrough), where no frequency is below 0."""
        if rules.min_maf <= 0:
            return ["  no minor allele frequency filter (--min-maf 0: rare variants kept)"]
        return [f"  dropped, pooled minor allele frequency below {rules.min_maf:g}: {self.dropped_maf}"]

    def _name_lines(self) -> list[str]:
        if not self.named:
            return []
        differ = f" ({self.names_differ} named differently by two sites: the commoner name kept)"
        return [f"  named by an rsID: {self.named}" + (differ if self.names_differ else "")]


@dataclass
class _Reports:
    """One variant's reports: per site, its orientation and released counts."""

    alleles: tuple[str, str]
    sites: list[int]
    orientations: list[tuple[str, str]]
    called: list[float]
    alt: list[float]
    names: list[str]  # per site its rsID for the variant, "" where it names none


def build_panel(
    summaries: Sequence[VariantSummary],
    *,
    min_sites: int = DEFAULT_MIN_SITES,
    min_call_rate: float = DEFAULT_MIN_CALL_RATE,
    min_maf: float = DEFAULT_MIN_MAF,
) -> tuple[VariantPanel, PanelReport]:
    """Combine the sites' summaries into the panel by the module's rules.

    Args:
        summaries: one per site, site names distinct.
        min_sites: the fewest sites that must report a variant.
        min_call_rate: the lowest pooled call rate kept, in [0, 1].
        min_maf: the lowest pooled minor allele frequency kept, in [0, 0.5].

    Returns:
        The panel and the report of what each rule dropped.
    """
    rules = PanelRules(min_sites, min_call_rate, min_maf)
    _check(summaries, rules)
    ordered = sorted(summaries, key=lambda s: s.site)
    grouped, ref_only = _group(ordered)
    report = PanelReport([s.site for s in ordered], variants_seen=len(grouped), ref_only=ref_only)
    samples = np.array([max(s.samples, 0.0) for s in ordered])
    kept: list[tuple[Variant, float, str]] = []
    for (chrom, pos, _), reports in grouped.items():
        variant = _combined(chrom, pos, reports, samples, rules, report)
        if variant is not None:
            kept.append((*variant, _name(reports, report)))
    kept.sort(key=lambda item: genomic_key(item[0]))
    report.kept = len(kept)
    names = {v.id: name for v, _, name in kept if name}
    return VariantPanel([v.id for v, _, _ in kept], np.array([f for _, f, _ in kept]), names), report


def panel_from_pooled(
    sites: Mapping[str, GenotypeMatrix], rules: PanelRules = PanelRules()
) -> tuple[VariantPanel, PanelReport]:
    """The same rules on the exact counts of every site's genotypes (no rounding, no noise): the
    panel a trusted party holding all the data would build. A reference for tests and docs."""
    summaries = []
    for name, genotypes in sites.items():
        called, alt = exact_counts(genotypes)
        release = Release("exact", round_to=0)
        summaries.append(
            VariantSummary(name, list(genotypes.variant_ids), called, alt, genotypes.n_samples, release)
        )
    return build_panel(
        summaries, min_sites=rules.min_sites, min_call_rate=rules.min_call_rate, min_maf=rules.min_maf
    )


def genomic_key(variant: Variant) -> tuple[int, str, int, str, str]:
    """Sort key: chromosome in natural order (1..22, X, Y, MT, others by name), position, REF, ALT."""
    chrom = variant.chrom.upper()
    if re.fullmatch(r"\d+", chrom):
        rank = int(chrom)
    else:
        rank = _SEX_AND_MITO.get(chrom, 1000)
    return (rank, chrom if rank == 1000 else "", variant.pos, variant.ref, variant.alt)


def is_strand_ambiguous(ref: str, alt: str) -> bool:
    """A/T or C/G SNP: its complement is itself with the alleles swapped."""
    return frozenset((ref, alt)) in AMBIGUOUS_PAIRS and len(ref) == len(alt) == 1


def _resolved_as_swap(called: np.ndarray, alt_counts: np.ndarray, swapped: np.ndarray) -> bool:
    """Whether a strand-ambiguous SNP reported in both orientations reads as a REF/ALT swap: the
    sites reporting each orientation, pooled (`alt_counts` already in the panel's orientation),
    name the same allele as the minor one, and the pooled MAF is <= `STRAND_MAX_MAF`. Pooling by
    orientation, not judging site by site, keeps a small site's sampling noise from deciding."""
    pooled = _frequency(called, alt_counts)
    if min(pooled, 1.0 - pooled) > STRAND_MAX_MAF:
        return False
    groups = (
        _frequency(called[swapped], alt_counts[swapped]),
        _frequency(called[~swapped], alt_counts[~swapped]),
    )
    return all((f < 0.5) == (pooled < 0.5) for f in groups)


def _frequency(called: np.ndarray, alt_counts: np.ndarray) -> float:
    total = float(called.sum())
    return float(alt_counts.sum()) / total if total > 0 else 0.5


def _check(summaries: Sequence[VariantSummary], rules: PanelRules) -> None:
    require(len(summaries) > 0, "no variant summaries: pass one per hospital")
    names = [s.site for s in summaries]
    twice = sorted({n for n in names if names.count(n) > 1})
    require(not twice, f"site(s) {', '.join(twice)} appear in more than one summary: pass one per hospital")
    require(rules.min_sites >= 1, f"--min-sites must be at least 1, got {rules.min_sites}")
    require(
        rules.min_sites <= len(summaries),
        f"--min-sites {rules.min_sites} is more than the {len(summaries)} summaries given",
    )
    require_in_range("min_call_rate", rules.min_call_rate, 0, 1)
    require_in_range("min_maf", rules.min_maf, 0, 0.5)


def _group(
    summaries: Sequence[VariantSummary],
) -> tuple[dict[tuple[str, int, frozenset[str]], _Reports], int]:
    """Every site's reports, keyed by chromosome, position and (unordered) allele pair; and how
    many REF-only reports (ALT '.') were left out: one allele is no variant a panel can hold."""
    grouped: dict[tuple[str, int, frozenset[str]], _Reports] = {}
    ref_only = 0
    for index, summary in enumerate(summaries):
        seen: set[tuple[str, int, frozenset[str]]] = set()
        for vid, called, alt in zip(summary.variant_ids, summary.called, summary.alt, strict=True):
            variant = parse_variant_id(vid)
            if variant.alt == NO_ALT:
                ref_only += 1
                continue
            key = (variant.chrom, variant.pos, frozenset((variant.ref, variant.alt)))
            if key in seen:
                raise DataError(
                    f"{summary.site}'s variant summary",
                    f"variant {vid} is listed twice (once with REF and ALT swapped)",
                    location=f"variant {vid}",
                    hint="the site's genotype file has the same variant twice; remove one and release again",
                )
            seen.add(key)
            reports = grouped.setdefault(key, _Reports((variant.ref, variant.alt), [], [], [], [], []))
            reports.sites.append(index)
            reports.orientations.append((variant.ref, variant.alt))
            reports.called.append(float(called))
            reports.alt.append(float(alt))
            reports.names.append(summary.names.get(vid, ""))
    return grouped, ref_only


def _name(reports: _Reports, report: PanelReport) -> str:
    """The rsID most of the sites that name the variant give it ("" where none names it); counted
    in `report`."""
    named = [name for name in reports.names if name]
    if not named:
        return ""
    counts = {name: named.count(name) for name in named}
    report.named += 1
    report.names_differ += len(counts) > 1
    return max(counts, key=lambda name: (counts[name], -named.index(name)))


def _orientation(reports: _Reports) -> tuple[str, str]:
    """The orientation most sites report; on a tie the first site's (sites are in name order)."""
    counts: dict[tuple[str, str], int] = {}
    for orientation in reports.orientations:
        counts[orientation] = counts.get(orientation, 0) + 1
    best = max(counts.values())
    return next(o for o in reports.orientations if counts[o] == best)


def _combined(
    chrom: str, pos: int, reports: _Reports, samples: np.ndarray, rules: PanelRules, report: PanelReport
) -> tuple[Variant, float] | None:
    """The variant in the panel's orientation with its pooled alt frequency, or None (counted in
    `report` under the rule that dropped it)."""
    ref, alt = _orientation(reports)
    swapped = np.array([o != (ref, alt) for o in reports.orientations])
    report.swapped += int(swapped.any())
    if len(reports.sites) < rules.min_sites:
        report.dropped_sites += 1
        return None
    called = np.clip(np.array(reports.called), 0.0, None)
    alt_counts = np.clip(np.array(reports.alt), 0.0, called)  # noisy counts: post-processing
    alt_counts = np.where(swapped, called - alt_counts, alt_counts)
    if swapped.any() and is_strand_ambiguous(ref, alt) and not _resolved_as_swap(called, alt_counts, swapped):
        report.dropped_strand += 1
        return None
    pooled_called, pooled_alt = float(called.sum()), float(alt_counts.sum())
    patients = float(samples[reports.sites].sum())
    call_rate = pooled_called / (2 * patients) if patients > 0 else 0.0
    if pooled_called <= 0 or call_rate < rules.min_call_rate:
        report.dropped_call_rate += 1
        return None
    freq = pooled_alt / pooled_called
    if min(freq, 1 - freq) < rules.min_maf:
        report.dropped_maf += 1
        return None
    return Variant(chrom, pos, ref, alt), freq
