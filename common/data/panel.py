"""The federation's variant panel: the fixed, ordered variant list that defines the model input.

Every site aligns its own variants to the panel before training: same order, same allele
orientation. Variants a site lacks are imputed with the panel's allele frequency (2 * p, the
expected dosage), not zero, so a missing variant does not look like a homozygous reference call.

Two cases are matched beyond the id and its REF/ALT swap:
- a REF-only site (`CHROM:POS:REF:.`, a VCF record with ALT '.' or a PLINK variant whose other
  allele is '0' or '.': every patient typed there is homozygous for that one allele) matches the
  panel variant at that position whose REF (dosage 0) or ALT (dosage 2) is that allele;
- a swapped match of one ALT of a multi-allelic site (the site has another variant at the same
  position with the same REF) is not flipped but set missing: 2 - d counts a call carrying the
  site's other ALT as two copies of the panel's ALT, which is wrong.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genofed.common.data.cohort import DOSAGE_DTYPE, MISSING
from genofed.common.data.variants import (
    MAX_POSITION,
    RENAME_HINT,
    Variant,
    contigs_side_by_side,
    id_contigs,
    is_position,
    parse_variant_id,
)
from genofed.common.errors import DataError
from genofed.common.util.atomic import atomic_path

PANEL_COLUMNS = ["id", "chrom", "pos", "ref", "alt", "alt_freq"]
#: Optional columns that annotate a variant for people (its rsID, its gene); they may be empty on
#: some lines, since not every variant has a name or lies in a gene, and no model reads them.
NAME_COLUMN = "rsid"
ANNOTATION_COLUMNS = (NAME_COLUMN, "gene")
#: The ALT of a REF-only site's id (`CHROM:POS:REF:.`), as the genotype readers write it.
NO_ALT = "."
#: The least share of the panel's variants a site's data must cover to train or be scored
#: (`align_to_panel`): below it the model would read mostly imputed panel frequencies.
MIN_COVERAGE = 0.9

logger = logging.getLogger(__name__)


@dataclass
class VariantPanel:
    """Ordered variant ids with the alt-allele frequency used to impute what a site lacks, and
    the rsIDs of those the hospitals' files name (`names`, the optional `rsid` column)."""

    variant_ids: list[str]
    alt_freq: np.ndarray  # float64, one per variant, in [0, 1]
    names: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.alt_freq = np.asarray(self.alt_freq, dtype=np.float64)
        if len(self.variant_ids) != len(self.alt_freq):
            raise ValueError("one alt frequency per panel variant is required")

    def __len__(self) -> int:
        return len(self.variant_ids)

    @classmethod
    def from_dosages(cls, variant_ids: list[str], dosages: np.ndarray) -> VariantPanel:
        """A panel whose frequencies are estimated from a dosage matrix (missing calls ignored)."""
        called = dosages >= 0
        totals = np.where(called, dosages, 0).sum(axis=0, dtype=np.int64)
        counts = called.sum(axis=0)
        freq = np.divide(totals, 2 * counts, out=np.zeros(len(variant_ids)), where=counts > 0)
        return cls(list(variant_ids), freq)

    def save(self, path: str | Path) -> None:
        """Write the panel as a tab-separated file (`id chrom pos ref alt alt_freq`, then `rsid`
        when any variant has a name)."""
        parsed = [parse_variant_id(v) for v in self.variant_ids]
        frame = pd.DataFrame(
            {
                "id": self.variant_ids,
                "chrom": [v.chrom for v in parsed],
                "pos": [v.pos for v in parsed],
                "ref": [v.ref for v in parsed],
                "alt": [v.alt for v in parsed],
                "alt_freq": np.round(self.alt_freq, 6),
            }
        )
        if self.names:
            frame[NAME_COLUMN] = [self.names.get(v, "") for v in self.variant_ids]
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, sep="\t", index=False)

    @classmethod
    def load(cls, path: str | Path) -> VariantPanel:
        """Read a panel file; a bad panel is a federation-level error, reported like data errors."""
        path = Path(path)
        if path.is_dir():  # "not found" would send the user looking for a file that is there
            hint = "pass the federation's panel.tsv" + (
                f": {path / 'panel.tsv'}" if (path / "panel.tsv").is_file() else ""
            )
            raise DataError(path, "this is a folder, not a panel file", hint=hint)
        if not path.is_file():
            raise DataError(path, "panel file not found", hint="pass the federation's panel.tsv")
        try:
            frame = pd.read_csv(
                path,
                sep="\t",
                dtype={"id": str, "chrom": str, "pos": str, **dict.fromkeys(ANNOTATION_COLUMNS, str)},
            )
        except Exception as exc:  # pandas raises many types for unreadable text
            raise DataError(
                path,
                f"cannot read the panel: {exc}",
                hint="the panel is a tab-separated file with columns " + " ".join(PANEL_COLUMNS),
            ) from exc
        missing = [c for c in ("id", "alt_freq") if c not in frame.columns]
        if missing:
            raise DataError(
                path,
                f"panel lacks column(s) {', '.join(missing)}",
                location="header line",
                hint="the panel needs columns " + " ".join(PANEL_COLUMNS),
            )
        if frame.empty:  # a model over no variant: every rule and check downstream would divide by 0
            raise DataError(
                path, "the panel lists no variant (a header only)", hint="pass the federation's panel.tsv"
            )
        # a line with cells missing (a column empty on every line is merely unused, an annotation
        # empty where a variant has no name or gene): say so, not "alt_freq nan is not in [0, 1]"
        used = [c for c in frame.columns if c not in ANNOTATION_COLUMNS and frame[c].notna().any()]
        gaps = frame[used].isna()
        if gaps.to_numpy().any():
            first = int(np.flatnonzero(gaps.any(axis=1).to_numpy())[0])
            raise DataError(
                path,
                f"{int((~gaps.iloc[first]).sum())} of {len(used)} columns filled",
                location=f"line {first + 2}",
                hint="every line lists " + " ".join(frame.columns) + ", separated by tabs",
            )
        # ids as the genotype readers write theirs (`chr1:...` is `1:...`), or a chr-named panel
        # would match no site
        ids = pd.Series(_check_lines(path, frame), index=frame.index)
        duplicated = ids[ids.duplicated()]
        if len(duplicated):
            raise DataError(
                path,
                f"variant {duplicated.iloc[0]} appears twice",
                location=f"line {int(duplicated.index[0]) + 2}",
                hint="a panel lists each variant once (chr1 and 1 name the same chromosome)",
            )
        names = {}
        if NAME_COLUMN in frame.columns:
            names = {
                i: str(n).strip()
                for i, n in zip(ids, frame[NAME_COLUMN], strict=True)
                if pd.notna(n) and str(n).strip()
            }
        return cls(ids.tolist(), frame["alt_freq"].to_numpy(dtype=np.float64), names)


#: What a panel out of genomic order is told: the network's blocks and the augmentations' segments
#: take consecutive panel variants for neighbours on the genome.
ORDER_HINT = (
    "a panel lists its variants in genomic order, each chromosome in one block sorted by position, as "
    "`genofed coordinator panel` writes it: sort the lines after the header by chromosome, then position"
)


def _check_lines(path: Path, frame: pd.DataFrame) -> list[str]:
    """Each line's id, alt_freq and (when the panel has the column) pos: a whole number >= 1, the
    id's own position; and the order: by position within a chromosome, a chromosome in one block
    (the network's blocks and the augmentations' segments are runs of consecutive panel variants,
    taken as neighbours on the genome). Each refusal names the line. Returns the ids normalised as
    the genotype readers normalise theirs (`parse_variant_id`: `chr1` is `1`, alleles upper case)."""
    ids: list[str] = []
    # plain lists, read by index: pandas' per-cell `.iloc` made loading a 636,000-variant panel take
    # minutes (an array-scale walkthrough: 86 % of a hospital's start-up in this loop)
    positions = frame["pos"].tolist() if "pos" in frame.columns else None
    alleles = {column: frame[column].tolist() for column in ("ref", "alt") if column in frame.columns}
    last: dict[str, int] = {}  # chromosome -> the last position seen on it
    previous = None  # the chromosome of the line before
    for row, (vid, freq) in enumerate(zip(frame["id"], frame["alt_freq"], strict=False), start=2):
        try:
            variant = parse_variant_id(str(vid))
        except ValueError as exc:
            raise DataError(path, str(exc), location=f"line {row}") from None
        if NO_ALT in (variant.ref, variant.alt):
            raise DataError(
                path,
                f"variant {vid} names one allele ('.' for the other): a panel variant has a REF and an ALT",
                location=f"line {row}",
                hint="remove the line; `genofed coordinator panel` never lists a REF-only site",
            )
        if variant.ref == variant.alt:
            raise DataError(
                path,
                f"variant {vid} has the same REF and ALT: no variant at all",
                location=f"line {row}",
                hint="remove the line; `genofed coordinator panel` never lists one",
            )
        if not (0.0 <= float(freq) <= 1.0):
            raise DataError(path, f"alt_freq {freq!r} is not in [0, 1]", location=f"line {row}")
        if positions is not None:
            _check_pos(path, row, variant.pos, str(positions[row - 2]))
        _check_alleles(path, row, variant, alleles)
        if variant.chrom in last and variant.chrom != previous:
            raise DataError(
                path,
                f"variant {vid} returns to chromosome {variant.chrom} after chromosome {previous}",
                location=f"line {row}",
                hint=ORDER_HINT,
            )
        if variant.pos < last.get(variant.chrom, 0):
            raise DataError(
                path,
                f"variant {vid} (position {variant.pos}) comes after position {last[variant.chrom]} on "
                f"chromosome {variant.chrom}",
                location=f"line {row}",
                hint=ORDER_HINT,
            )
        last[variant.chrom], previous = variant.pos, variant.chrom
        ids.append(variant.id)
    return ids


def _check_alleles(path: Path, row: int, variant: Variant, alleles: dict[str, list[Any]]) -> None:
    """The ref and alt columns (`alleles`: column -> its cells, for those the panel has): the id's
    own alleles. A fuzzing review set a row's ref to A under id 1:5000744:C:T and `data check` and
    `coordinator init` took it; every reader matches by id, so the columns would say one thing and
    the model read another."""
    for column, allele in (("ref", variant.ref), ("alt", variant.alt)):
        cell = alleles[column][row - 2] if column in alleles else None
        if cell is not None and not pd.isna(cell):  # an empty cell: unused
            text = str(cell).strip().upper()
            if text and text != allele:
                raise DataError(
                    path,
                    f"{column} {text!r} is not the {column.upper()} of its id {variant.id} ({allele})",
                    location=f"line {row}",
                    hint="the id chrom:pos:ref:alt names the alleles; correct the column or the id",
                )


def _check_pos(path: Path, row: int, id_pos: int, text: str) -> None:
    """The pos column: a whole number >= 1 (1-based, as in a VCF), and the id's position."""
    if not is_position(text.strip()) or int(text) < 1:
        raise DataError(
            path,
            f"pos {text!r} is not a position (a whole number from 1 to {MAX_POSITION:,})",
            location=f"line {row}",
            hint="pos is the variant's 1-based position, the second part of its id chrom:pos:ref:alt",
        )
    if int(text) != id_pos:
        raise DataError(
            path,
            f"pos {int(text)} is not the position of the line's id ({id_pos})",
            location=f"line {row}",
            hint="pos is the second part of the id chrom:pos:ref:alt: correct the one that is wrong",
        )


@dataclass(frozen=True)
class Alignment:
    """How a site's variants map onto the panel; `coverage` decides whether the site may train."""

    panel_variants: int
    site_variants: int
    matched: int  # same id, same orientation
    swapped: int  # same site with REF and ALT the other way round: dosage flipped (2 - d)
    absent: int  # panel variants the site lacks: imputed from the panel frequency
    site_only: int  # site variants outside the panel: dropped, they are not model input
    #: Of `absent`: panel variants matching one ALT of a multi-allelic site only with REF/ALT
    #: swapped, whose dosages cannot be flipped (`_matched_columns`), so imputed like absent ones.
    unflippable: int = 0

    @property
    def coverage(self) -> float:
        return (self.matched + self.swapped) / self.panel_variants if self.panel_variants else 0.0

    def to_dict(self) -> dict[str, float | int]:
        return {
            "panel_variants": self.panel_variants,
            "site_variants": self.site_variants,
            "matched": self.matched,
            "swapped": self.swapped,
            "absent": self.absent,
            "site_only": self.site_only,
            "unflippable": self.unflippable,
            "coverage": round(self.coverage, 6),
        }


def align_to_panel(
    dosages: np.ndarray,
    variant_ids: list[str],
    panel: VariantPanel,
    *,
    source: str = "genotypes",
    min_coverage: float = MIN_COVERAGE,
) -> tuple[np.ndarray, Alignment]:
    """Reorder a site's dosages into panel order, flipping swapped alleles.

    Panel variants the site lacks come back as `MISSING`, exactly like a missing call, so one
    imputation (`impute_dosages`) treats both: the model never sees a fake homozygous-reference
    genotype. Refuses (DataError) a site whose coverage is below `min_coverage`, because a
    model trained on mostly imputed input would learn the panel frequencies, not the site.

    Returns:
        The (n_samples, len(panel)) int8 matrix and the alignment summary.
    """
    if not 0.0 <= min_coverage <= 1.0:
        raise ValueError(f"min_coverage must be in [0, 1], got {min_coverage}")
    site_index = _index_site_variants(variant_ids, source)
    panel_cols, site_cols, flip, unflippable = _matched_columns(panel, site_index)
    n_swapped = int(sum(flip))
    alignment = Alignment(
        panel_variants=len(panel),
        site_variants=len(variant_ids),
        matched=len(site_cols) - n_swapped,
        swapped=n_swapped,
        absent=len(panel) - len(site_cols),
        site_only=len(variant_ids) - len(site_cols),
        unflippable=unflippable,
    )
    if unflippable:
        logger.warning(
            "%s: %d panel variant(s) match one ALT allele of a multi-allelic site only with REF and ALT "
            "swapped; their dosages cannot be flipped (a call carrying the site's other ALT is no copy "
            "of either panel allele), so they are set missing and imputed from the panel frequency",
            source,
            unflippable,
        )
    _require_coverage(alignment, source, min_coverage, variant_ids, panel.variant_ids, dosages)
    return _reordered(dosages, len(panel), panel_cols, site_cols, flip), alignment


def _matched_columns(
    panel: VariantPanel, site_index: dict[str, int]
) -> tuple[list[int], list[int], list[bool], int]:
    """For each panel variant the site holds, in panel order: its panel column, its site column
    and whether its alleles are swapped (dosage 2 - d); and how many panel variants were left
    unmatched because they match a multi-allelic site's ALT only with REF/ALT swapped.

    A site holds a panel variant as is, with REF and ALT swapped, or as a REF-only site
    (`CHROM:POS:allele:.`, dosage 0 for every called genotype) whose allele is the panel's REF
    (dosage 0, as is) or its ALT (dosage 2: flipped)."""
    multiallelic: set[tuple[str, int, str]] | None = None  # built on the first swapped match
    panel_cols: list[int] = []
    site_cols: list[int] = []
    flip: list[bool] = []
    unflippable = 0
    for panel_col, vid in enumerate(panel.variant_ids):
        col, swapped = site_index.get(vid), False
        if col is None:  # parsed only when needed: most panel variants match as they are
            parsed = parse_variant_id(vid)
            col, swapped = _site_column(parsed, site_index)
            if col is not None and col == site_index.get(parsed.swapped_id):
                if multiallelic is None:
                    multiallelic = _multiallelic_sites(site_index)
                if (parsed.chrom, parsed.pos, parsed.alt) in multiallelic:
                    unflippable += 1
                    continue
        if col is not None:
            panel_cols.append(panel_col)
            site_cols.append(col)
            flip.append(swapped)
    return panel_cols, site_cols, flip, unflippable


def _site_column(variant: Variant, site_index: dict[str, int]) -> tuple[int | None, bool]:
    """The site column holding `variant` other than under its own id (REF/ALT swapped, or a
    REF-only site) and whether it is flipped; (None, False) if none does."""
    for site_id, swapped in (
        (variant.swapped_id, True),
        (f"{variant.chrom}:{variant.pos}:{variant.ref}:{NO_ALT}", False),
        (f"{variant.chrom}:{variant.pos}:{variant.alt}:{NO_ALT}", True),
    ):
        col = site_index.get(site_id)
        if col is not None:
            return col, swapped
    return None, False


def _multiallelic_sites(site_index: dict[str, int]) -> set[tuple[str, int, str]]:
    """(chrom, pos, REF) of the site's positions with more than one ALT allele for one REF: a
    split multi-allelic record (or one already split upstream, `bcftools norm -m -any`), whose
    columns count a call carrying the other ALT as 0 copies: right as is, wrong once flipped."""
    alts: dict[tuple[str, int, str], int] = {}
    for vid in site_index:
        try:
            parsed = parse_variant_id(vid)
        except ValueError:  # an id no panel variant can match: nothing to flip
            continue
        if parsed.alt != NO_ALT:
            key = (parsed.chrom, parsed.pos, parsed.ref)
            alts[key] = alts.get(key, 0) + 1
    return {key for key, n in alts.items() if n > 1}


def _require_coverage(
    alignment: Alignment,
    source: str,
    min_coverage: float,
    site_ids: list[str],
    panel_ids: list[str],
    dosages: np.ndarray | None = None,
) -> None:
    """Refuse (DataError on `source`) a site covering less than `min_coverage` of the panel; one
    holding no panel variant at all is told the site's contig names beside the panel's
    (`site_ids`, `panel_ids`), since a naming mismatch (RefSeq `NC_000001.10` for `1`) is the usual
    cause and shows at a glance there. One whose `dosages` hold no homozygous-REF call is told it
    looks like a variants-only export (`looks_variants_only`), not to check the build."""
    if alignment.coverage >= min_coverage:
        return
    none = alignment.matched + alignment.swapped == 0
    variants_only = not none and dosages is not None and looks_variants_only(dosages)
    check = (
        RENAME_HINT
        if none
        else VARIANTS_ONLY_HINT
        if variants_only
        else "check that the genome build and chromosome names match the panel (ids are "
        "chrom:pos:ref:alt, e.g. 1:12345:A:G)"
    )
    raise DataError(
        source,
        f"covers only {alignment.coverage:.1%} of the federation's {alignment.panel_variants} panel "
        f"variants ({alignment.matched} matched, {alignment.swapped} with REF/ALT swapped); "
        f"the minimum is {min_coverage:.0%}"
        + (f"; {contigs_side_by_side(id_contigs(site_ids), id_contigs(panel_ids))}" if none else "")
        + (f"; {VARIANTS_ONLY_PROBLEM}" if variants_only else ""),
        hint=f"{check}; a site genotyped on another array needs a panel of the variants every site has "
        "(`genofed coordinator panel --min-sites` as many as the sites, docs/panel.md)",
    )


#: Said of a file below the coverage minimum whose every call carries an ALT allele.
VARIANTS_ONLY_PROBLEM = (
    "every genotype the file calls carries an ALT allele (not one 0/0): it looks like a variants-only "
    "export (a clinical lab's VCF of only the sites where the patient differs from the reference) or a "
    "gVCF (whose reference blocks are no calls at the panel's positions), and a panel site it leaves out "
    "cannot be read as homozygous REF: it may as well be uncalled"
)
#: What to do about it: genotypes at every panel position, 0/0 included.
VARIANTS_ONLY_HINT = (
    "export the calls at every panel position, 0/0 included: call at the panel's positions "
    "(tail -n +2 panel.tsv | cut -f2,3 > positions.tsv; bcftools mpileup -f REF.fa -T positions.tsv "
    "BAM | bcftools call -m -Oz -o all_sites.vcf.gz), or for a gVCF, bcftools convert --gvcf2vcf "
    "-f REF.fa IN.g.vcf.gz -Oz -o all_sites.vcf.gz"
)


def looks_variants_only(dosages: np.ndarray) -> bool:
    """Whether a genotype matrix calls something and not one homozygous-REF genotype: every
    called genotype carries an ALT allele, as a variants-only VCF (or a gVCF, whose reference
    blocks the reader skips) has it. A cohort's file of many people always holds 0/0 calls."""
    called = dosages[dosages != MISSING]
    return called.size > 0 and not bool((called == 0).any())


def _reordered(
    dosages: np.ndarray, n_panel: int, panel_cols: list[int], site_cols: list[int], flip: list[bool]
) -> np.ndarray:
    """The (n_samples, n_panel) int8 matrix: matched columns moved to their panel column, swapped
    ones flipped (2 - dosage, missing kept), panel variants the site lacks `MISSING`."""
    aligned = np.full((dosages.shape[0], n_panel), MISSING, dtype=DOSAGE_DTYPE)
    if site_cols:
        block = dosages[:, site_cols]
        flip_mask = np.asarray(flip)
        if flip_mask.any():
            flipped = block[:, flip_mask]
            block[:, flip_mask] = np.where(flipped == MISSING, MISSING, 2 - flipped)
        aligned[:, panel_cols] = block
    return aligned


def impute_dosages(dosages: np.ndarray, alt_freq: np.ndarray) -> np.ndarray:
    """Float32 model input: missing calls (and panel variants a site lacks) become 2 * alt_freq.

    The expected dosage under Hardy-Weinberg is the least informative fill-in: zero would claim
    a homozygous-reference genotype that nobody observed.
    """
    out = dosages.astype(np.float32)
    missing = dosages == MISSING
    if missing.any():
        fill = (2.0 * np.asarray(alt_freq, dtype=np.float32))[np.newaxis, :]
        out = np.where(missing, fill, out).astype(np.float32)
    return out


def _index_site_variants(variant_ids: list[str], source: str) -> dict[str, int]:
    """Map id -> column; a duplicated id is ambiguous for alignment, so it is an error."""
    index: dict[str, int] = {}
    for col, vid in enumerate(variant_ids):
        if vid in index:
            raise DataError(
                source,
                f"variant {vid} appears twice (records {index[vid] + 1} and {col + 1})",
                location=f"variant {vid}",
                hint="remove duplicate records, e.g. `bcftools norm -d exact`",
            )
        index[vid] = col
    return index
