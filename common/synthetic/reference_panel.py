"""A public reference panel of phased haplotypes (1000 Genomes, or a simulated population sample),
aligned to a site's variants: what the reference-based generator copies its mosaics from.

Everything in it is public: no patient of the site is in the panel, so nothing read from it is
charged to a privacy ledger.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genofed.common.data.cohort import MISSING
from genofed.common.data.panel_building import is_strand_ambiguous
from genofed.common.data.variants import parse_variant_id
from genofed.common.errors import DataError


@dataclass(frozen=True)
class ReferencePanel:
    """Reference haplotypes on the site's variant columns, in the site's column order.

    haplotypes: int8 (H, V) alleles, 1 = the site's ALT allele (REF/ALT swaps already flipped);
        0 in the columns the panel does not cover.
    covered: bool (V,) whether the panel has the site's variant (same position and alleles, either
        orientation); uncovered columns are generated without linkage, from frequencies only.
    positions: int64 (V,) base-pair positions; chromosomes: (V,) str, for the copying model's
        switch rate (a switch between chromosomes is free) and for LD windows.
    populations: (H,) str population label of each haplotype's person ("" when unknown).
    sample_ids: (H // 2,) the panel's people (haplotypes 2i and 2i+1 are person i's).
    source: where the panel came from (a file path), for the report.
    """

    haplotypes: np.ndarray
    covered: np.ndarray
    positions: np.ndarray
    chromosomes: np.ndarray
    populations: np.ndarray
    sample_ids: list[str]
    source: str = ""

    @property
    def n_haplotypes(self) -> int:
        return int(self.haplotypes.shape[0])

    @property
    def n_variants(self) -> int:
        return int(self.haplotypes.shape[1])

    def alt_frequencies(self) -> np.ndarray:
        """(V,) ALT-allele frequency of each column in the panel (NaN where not covered)."""
        freq = self.haplotypes.mean(axis=0, dtype=np.float64)
        return np.where(self.covered, freq, np.nan)


#: What to do about a panel that holds the site's patients (`refuse_patients_in_panel`).
_NOT_PATIENTS = (
    "the panel must be people who are not this site's patients: a public panel such as 1000 Genomes, "
    "or a simulated federation's reference/ folder"
)


def refuse_patients_in_panel(panel: ReferencePanel, sample_ids: list[str], dosages: np.ndarray) -> None:
    """Refuse (`DataError`, naming the panel's file) a panel that holds any of the site's patients:
    by sample id, or by genotypes equal to patients' on every column the panel covers (the same
    people under other ids, e.g. the site's own file given as `--reference`). Mosaics of the
    patients themselves would be near copies of them, and the privacy checks, whose held-out
    patients would be in the panel too, would not see it. `dosages`: the patients' (n, V) dosages
    in the panel's column order, MISSING allowed (a patient with a missing call on a covered
    column is compared on none).

    Why not "any identical person": on a short, low-diversity stretch (a few hundred linked
    variants) unrelated people share whole genotype vectors by chance, so a legitimate panel had
    people equal to some patient. The panel measures that chance itself: `q`, the share of its
    pairs of people that are identical on these columns, predicts how many of its N people would
    equal one of the M patients by chance, N * (1 - (1 - q)**M). The check refuses when more
    panel people equal a patient than that, with margin (expected + 3 * sqrt(expected), a Poisson
    bound): a panel holding the patients equals every one of them, far above the chance rate
    unless the patients themselves are indistinguishable on these columns; with no identical
    pair in the panel a single identical person is refused. Below 20 covered columns identity
    says nothing and nobody is refused by genotype."""
    shared = sorted(set(panel.sample_ids) & set(sample_ids))
    if shared:
        raise DataError(
            panel.source or "the reference panel",
            f"{len(shared)} of its people have the sample ids of this site's patients (e.g. {shared[0]})",
            hint=_NOT_PATIENTS,
        )
    columns = panel.covered
    if columns.sum() < MIN_IDENTITY_COLUMNS:  # on a handful of columns two people can match by chance
        return
    people = (panel.haplotypes[0::2] + panel.haplotypes[1::2])[:, columns].astype(np.int8)
    patients = np.asarray(dosages)[:, columns].astype(np.int8)
    complete = (patients != MISSING).all(axis=1)
    seen = {row.tobytes() for row in patients[complete]}
    same = [panel.sample_ids[i] for i, row in enumerate(people) if row.tobytes() in seen]
    expected = chance_identical(people, int(complete.sum()))
    if len(same) > expected + 3.0 * math.sqrt(expected):
        chance = (
            f" (chance identity on these variants predicts about {expected:.1f})" if expected >= 0.05 else ""
        )
        raise DataError(
            panel.source or "the reference panel",
            f"{len(same)} of its people (e.g. {same[0]}) have exactly the genotypes of one of this "
            f"site's patients on all {int(columns.sum())} variants the panel covers{chance}",
            hint=f"was the site's own genotype file given as the panel? {_NOT_PATIENTS}",
        )


#: The fewest covered columns on which genotype identity is taken as evidence of the same person.
MIN_IDENTITY_COLUMNS = 20


def chance_identical(people: np.ndarray, n_patients: int) -> float:
    """How many of the panel's people would equal one of `n_patients` unrelated patients by chance
    on these columns: N * (1 - (1 - q)**M), q the share of the panel's pairs of people that are
    identical (the panel's own rate of chance identity; 0 when no two of its people are equal)."""
    n = len(people)
    if n < 2 or n_patients == 0:
        return 0.0
    counts = Counter(row.tobytes() for row in people)
    q = sum(c * (c - 1) // 2 for c in counts.values()) / (n * (n - 1) / 2)
    return n * (1.0 - (1.0 - q) ** n_patients)


#: The fewest haplotypes (10 people) a copying model can mix without copying one person whole.
MIN_HAPLOTYPES = 20
#: The table columns `load_reference_panel(populations=...)` reads.
POPULATION_COLUMNS = ("sample_id", "population")
_PHASE_HINT = (
    "phase the panel first (SHAPEIT5, Eagle2 or Beagle 5 write phased VCFs, e.g. 0|1), or use a "
    "phased public panel such as the 1000 Genomes haplotypes"
)


def load_reference_panel(
    path: str | Path,
    variant_ids: list[str],
    *,
    populations: str | Path | None = None,
    min_coverage: float = 0.5,
) -> ReferencePanel:
    """Read a phased VCF/BCF reference panel and align it to a site's variants.

    Alignment is by `chrom:pos:ref:alt` id: the same id is copied as is; the same position with
    REF and ALT the other way round is flipped (allele 1 - x), as `common.data.panel` aligns a
    site to the federation's panel, except at an A/T or C/G SNP, where a swap cannot be told from
    a strand flip: such a column is left uncovered, as are positions with other alleles. Uncovered
    columns hold 0 and `covered` False.

    Args:
        path: a VCF, bgzipped VCF or BCF whose every heterozygous call is phased (`0|1`) and
            whose calls at the site's variants are all present.
        variant_ids: the site's variant ids, in the site's column order (what the panel's
            columns follow).
        populations: optional table (tab- or comma-separated, chosen by its header line) with
            `sample_id` and `population` columns, e.g. the 1000 Genomes samples.tsv; each
            haplotype gets its person's population, "" for a person the table lacks (and for
            everyone without a table).
        min_coverage: the smallest share of the site's variants the panel must cover; below it
            the mosaics would carry linkage on too few columns to be worth it.

    Raises:
        DataError: naming the file, for unphased heterozygous calls, missing calls at covered
            variants, no overlap or coverage below `min_coverage`, fewer than `MIN_HAPLOTYPES`
            haplotypes, or an unreadable population table.
    """
    from genofed.common.data.readers.vcf import read_vcf

    if not 0.0 <= min_coverage <= 1.0:
        raise ValueError(f"min_coverage must be in [0, 1], got {min_coverage}")
    matrix = read_vcf(path, haplotypes=True)
    source = str(path)
    assert matrix.haplotypes is not None  # asked for with haplotypes=True
    if matrix.unphased_heterozygous:
        raise DataError(
            source,
            f"{matrix.unphased_heterozygous} heterozygous call(s) are unphased (0/1, not 0|1): a reference "
            "panel must be haplotypes",
            hint=_PHASE_HINT,
        )
    panel_cols, site_cols, flip = _aligned_columns(matrix.variant_ids, variant_ids)
    _require_overlap(
        source, len(site_cols), len(variant_ids), min_coverage, _lacking(matrix.variant_ids, variant_ids)
    )
    block = matrix.haplotypes[:, panel_cols]  # (people, covered, 2)
    missing = int((block == MISSING).sum())
    if missing:
        raise DataError(
            source,
            f"{missing} allele(s) are missing calls at the {len(site_cols)} variants the panel shares with "
            "the site",
            hint="use an imputed, phased panel (Beagle 5 or IMPUTE5 fill missing calls), or drop the "
            "samples or variants with missing calls (bcftools view -g ^miss, or -i 'F_MISSING=0')",
        )
    _require_haplotypes(source, 2 * len(matrix.sample_ids))
    aligned = np.zeros((len(matrix.sample_ids), len(variant_ids), 2), dtype=np.int8)
    flip_mask = np.asarray(flip, dtype=bool)
    aligned[:, site_cols] = np.where(flip_mask[None, :, None], 1 - block, block)
    covered = np.zeros(len(variant_ids), dtype=bool)
    covered[site_cols] = True
    table = {} if populations is None else read_population_table(populations)
    labels = [table.get(sample, "") for sample in matrix.sample_ids]
    return _panel(aligned, covered, variant_ids, labels, list(matrix.sample_ids), source)


def reference_from_haplotypes(
    haplotypes: np.ndarray,
    variant_ids: list[str],
    populations: np.ndarray | list[str] | None = None,
    *,
    sample_ids: list[str] | None = None,
    source: str = "in memory",
) -> ReferencePanel:
    """A panel built in memory from people's haplotypes already on the site's columns (a pool's
    people, an experiment's reference half): every column covered, no files.

    Args:
        haplotypes: int8 (N, V, 2) alleles, 1 = ALT, no missing calls.
        variant_ids: the V column ids (chrom:pos:ref:alt), for positions and chromosomes.
        populations: (N,) population of each person, or None ("" for all).
        sample_ids: the N people's ids; `ref1`, `ref2`, ... when None.
    """
    haplotypes = np.asarray(haplotypes)
    if haplotypes.ndim != 3 or haplotypes.shape[2] != 2 or haplotypes.shape[1] != len(variant_ids):
        raise ValueError(
            f"haplotypes must be (people, {len(variant_ids)} variants, 2), got shape {haplotypes.shape}"
        )
    if not np.isin(haplotypes, (0, 1)).all():
        raise ValueError("haplotypes must hold alleles 0 and 1 only (no missing calls)")
    n = haplotypes.shape[0]
    labels = [""] * n if populations is None else [str(p) for p in populations]
    ids = sample_ids if sample_ids is not None else [f"ref{i + 1}" for i in range(n)]
    if len(labels) != n or len(ids) != n:
        raise ValueError(f"one population and one sample id per person ({n}) are needed")
    covered = np.ones(len(variant_ids), dtype=bool)
    return _panel(haplotypes.astype(np.int8), covered, variant_ids, labels, list(ids), source)


def read_population_table(path: str | Path) -> dict[str, str]:
    """sample_id -> population from a tab- or comma-separated table (other columns ignored)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "population table not found", hint="pass a table with sample_id and population")
    with path.open(encoding="utf-8-sig") as handle:
        header = handle.readline()
    sep = "\t" if "\t" in header else ","
    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (ValueError, UnicodeDecodeError) as exc:  # pandas' parser errors are ValueErrors
        raise DataError(path, f"cannot read the population table: {exc}") from exc
    lacking = [c for c in POPULATION_COLUMNS if c not in frame.columns]
    if lacking:
        raise DataError(
            path,
            f"no column(s) {', '.join(lacking)}",
            location="header line",
            hint="the table needs a sample_id and a population column (tab- or comma-separated)",
        )
    twice = frame["sample_id"][frame["sample_id"].duplicated()]
    if len(twice):
        raise DataError(
            path,
            f"sample {twice.iloc[0]} is listed twice",
            location=f"line {int(twice.index[0]) + 2}",
            hint="list each sample once",
        )
    return dict(zip(frame["sample_id"].str.strip(), frame["population"].str.strip(), strict=True))


def _aligned_columns(panel_ids: list[str], site_ids: list[str]) -> tuple[list[int], list[int], list[bool]]:
    """(panel column, site column, flipped) of every site variant the panel covers, in site order."""
    index = {vid: col for col, vid in enumerate(panel_ids)}
    panel_cols: list[int] = []
    site_cols: list[int] = []
    flip: list[bool] = []
    for site_col, vid in enumerate(site_ids):
        variant = parse_variant_id(vid)
        col, swapped = index.get(variant.id), False
        if col is None and not is_strand_ambiguous(variant.ref, variant.alt):
            col, swapped = index.get(variant.swapped_id), True
        if col is not None:
            panel_cols.append(col)
            site_cols.append(site_col)
            flip.append(swapped)
    return panel_cols, site_cols, flip


def _lacking(panel_ids: list[str], site_ids: list[str]) -> dict[str, int]:
    """The chromosomes the site has variants on and the panel has none on, with the site's count
    on each, in chromosome order (ids as `parse_variant_id` reads them; 'chr1' is '1')."""
    panel = {_chrom(vid) for vid in panel_ids}
    counts: dict[str, int] = {}
    for vid in site_ids:
        chrom = _chrom(vid)
        if chrom and chrom not in panel:
            counts[chrom] = counts.get(chrom, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: _chrom_order(item[0])))


def _chrom(vid: str) -> str:
    """The chromosome of a variant id, as `parse_variant_id` writes it ("" for an id it cannot read)."""
    try:
        return parse_variant_id(vid).chrom
    except ValueError:
        return ""


def _chrom_order(chrom: str) -> tuple[int, str]:
    return (int(chrom), "") if chrom.isdigit() else (10**6, chrom)


def _chromosomes_words(chroms: list[str]) -> str:
    """ "6-22", "6, 8 and X": runs of consecutive autosomes joined by a dash."""
    runs: list[list[str]] = []
    for chrom in chroms:
        if runs and chrom.isdigit() and runs[-1][-1].isdigit() and int(chrom) == int(runs[-1][-1]) + 1:
            runs[-1].append(chrom)
        else:
            runs.append([chrom])
    words = [run[0] if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _require_overlap(
    source: str, covered: int, total: int, min_coverage: float, lacking: dict[str, int] | None = None
) -> None:
    """Refuse a panel that shares none, or less than `min_coverage`, of the site's variants, naming
    the chromosomes the site has that the panel lacks (`lacking`, `_lacking`): a walkthrough's
    panel of chromosomes 1-5 was told to "lower min_coverage", which no command offers."""
    hint = (
        "use a panel on the same genome build and with the same chromosome names as the site "
        "(ids are chrom:pos:ref:alt, e.g. 1:12345:A:G; 'chr1' and '1' are the same)"
    )
    absent = ""
    if lacking:
        site_there = sum(lacking.values())
        absent = (
            f"; it has no variant on chromosome{'s' if len(lacking) > 1 else ''} "
            f"{_chromosomes_words(list(lacking))}, where the site has {site_there} of its variants"
        )
    if covered == 0:
        raise DataError(source, f"shares none of the site's {total} variants{absent}", hint=hint)
    if covered < min_coverage * total:
        raise DataError(
            source,
            f"covers only {covered / total:.1%} of the site's {total} variants ({covered}); the minimum "
            f"is {min_coverage:.0%}{absent}",
            hint=f"{hint}, covering every chromosome the site has"
            + (" (e.g. one file per chromosome joined with `bcftools concat`)" if lacking else ""),
        )


def _require_haplotypes(source: str, n: int) -> None:
    if n < MIN_HAPLOTYPES:
        raise DataError(
            source,
            f"only {n} haplotypes; a reference panel needs at least {MIN_HAPLOTYPES}",
            hint="use a larger panel (the 1000 Genomes panel has 5,008 haplotypes)",
        )


def _panel(
    haplotypes: np.ndarray,
    covered: np.ndarray,
    variant_ids: list[str],
    populations: list[str],
    sample_ids: list[str],
    source: str,
) -> ReferencePanel:
    """The panel from (N, V, 2) aligned haplotypes: haplotype rows 2i and 2i+1 are person i's."""
    n, v, _ = haplotypes.shape
    parsed = [parse_variant_id(vid) for vid in variant_ids]
    return ReferencePanel(
        haplotypes=np.ascontiguousarray(haplotypes.transpose(0, 2, 1).reshape(2 * n, v), dtype=np.int8),
        covered=covered,
        positions=np.array([p.pos for p in parsed], dtype=np.int64),
        chromosomes=np.array([p.chrom for p in parsed], dtype=str),
        populations=np.repeat(np.array(populations, dtype=str), 2) if n else np.array([], dtype=str),
        sample_ids=sample_ids,
        source=source,
    )
