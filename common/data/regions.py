"""Gene regions: a clinician's list of known disease genes, and the panel variants inside them.

Clinicians know genes before any patient is seen: from the literature, from diagnostic gene
panels, from OMIM or ClinGen. Such a list is public prior knowledge, so restricting or
up-weighting the panel with it spends no privacy. Two file formats are read:

- BED (`.bed`, `.bed.gz`): tab-separated `chrom start end [name ...]`, 0-based half-open as the
  BED format defines it (`chr1 999 2000 GENE` holds the bases 1,000-2,000 in 1-based
  coordinates). `#`, `track` and `browser` lines, and a first line `chrom start end ...`, are
  skipped; columns after the name are ignored. A region needs `end > start`: one base at 1-based
  position `p` is `p-1 p`, so `start == end` (1-based positions written into a BED) is refused.
- A gene-region table (any other name, e.g. `.tsv`, `.txt`, optionally gzipped): tab-separated,
  a header naming the columns `gene` (or `name`, `symbol`, `gene_name`), `chrom` (or `chr`,
  `chromosome`), `start` and `end`, in any order, other columns ignored. Its coordinates are
  1-based inclusive, as gene tables (Ensembl BioMart, NCBI, HGNC exports) write them; a row
  `GENE 1 1000 2000` becomes the region `1 999 2000` internally. Ensembl BioMart's own headers
  (`Gene name`, `Chromosome/scaffold name`, `Gene start (bp)`, `Gene end (bp)`) are understood.
  UCSC gene tables (knownGene, refGene, ncbiRefSeq) name their columns `txStart` and `txEnd` and
  are 0-based half-open like BED, as UCSC stores every coordinate: such a table is read as BED
  coordinates, not moved down by one.

Both are read as UTF-8 with or without a byte-order mark (Excel and other Windows tools write one).

Chromosome names are normalised as the panel's are (`chr1` and `1` are the same chromosome,
`genofed` writes `1`), so a list from the UCSC browser matches a panel read from an Ensembl VCF.
The genome build is not: a list in GRCh37 coordinates on a GRCh38 panel finds the wrong
variants or none, which `variants_in_regions` refuses when it finds none. Regions that hold no
panel variant while others do are reported by `match_regions` (and logged by
`variants_in_regions`): a clinician's gene that silently selects nothing looks like a used one.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genofed.common.data.panel import VariantPanel
from genofed.common.data.variants import MAX_POSITION, is_position, normalize_chrom, parse_variant_id
from genofed.common.errors import ConfigError
from genofed.common.util.atomic import write_text_atomic

#: Header names accepted for each column of a gene-region table (compared in lower case).
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("gene", "name", "gene_name", "symbol", "gene_symbol", "gene name"),
    "chrom": ("chrom", "chr", "chromosome", "chromosome/scaffold name", "seqname"),
    "start": ("start", "gene start (bp)", "start_position", "txstart"),
    "end": ("end", "gene end (bp)", "end_position", "txend"),
}
#: Start column headers whose tables are 0-based half-open like BED (UCSC's convention), not 1-based.
ZERO_BASED_STARTS: frozenset[str] = frozenset({"txstart"})
_BED_SKIPPED = ("#", "track", "browser")
_PLINK_MAGIC = b"\x6c\x1b"
#: Unmatched region names a warning or error shows before "and N more".
_NAMES_SHOWN = 5

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GeneRegion:
    """One region of the genome, 0-based half-open as in BED: bases `start + 1` .. `end` in the
    1-based positions of a VCF. A variant at VCF position `pos` lies inside when
    `start < pos <= end`.

    Attributes:
        chrom: the chromosome, normalised (`1`, not `chr1`).
        start: 0-based first base (the BED start).
        end: 0-based end, exclusive (the BED end); `end - start` is the length in bases.
        name: the gene's name as the list gives it, or `chrom:start-end` (1-based) when unnamed.
        source: the file the region was read from (empty when built in code), so that messages
            about regions name the list without every caller passing its path along; not
            compared, so the same region read from two files is equal.
    """

    chrom: str
    start: int
    end: int
    name: str
    source: str = field(default="", compare=False, repr=False)

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class RegionMatch:
    """The panel variants a gene list selects, and the regions that selected none.

    Attributes:
        columns: sorted, unique panel indices (int64) of the variants inside any region.
        unmatched: the regions, in list order, with no panel variant inside (window included):
            a gene off the panel, on another build, or with wrong coordinates; the caller says so.
        n_regions: how many regions were matched, unmatched ones included.
    """

    columns: np.ndarray
    unmatched: tuple[GeneRegion, ...]
    n_regions: int

    def unmatched_summary(self) -> str:
        """A one-line note on the unmatched regions for a log or report; empty when all match."""
        return _unmatched_summary(self.unmatched, self.n_regions) if self.unmatched else ""


def load_gene_regions(path: str | Path) -> list[GeneRegion]:
    """Read a clinician's gene list: a BED file or a gene-region table (see the module).

    Args:
        path: a `.bed` / `.bed.gz` file (0-based starts), or a tab-separated table with a header
            (`gene chrom start end`, 1-based inclusive coordinates; UCSC `txStart txEnd`, 0-based).

    Returns:
        The regions in file order, in BED coordinates (0-based half-open).

    Raises:
        ConfigError: naming the file and line, what is wrong and what to do: a missing or empty
            file, a PLINK genotype `.bed` passed by mistake, a missing column, a coordinate that
            is not a whole number, a start after its end, an empty 0-based region (`start ==
            end`), or no region at all.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"gene list {path}: file not found; pass a BED file or a gene-region table")
    lines = list(_numbered_lines(path))
    if not any(text.strip() for _, text in lines):
        raise ConfigError(f"gene list {path}: the file is empty; it needs one line per gene region")
    regions = _read_bed(path, lines) if _is_bed(path) else _read_table(path, lines)
    if not regions:
        raise ConfigError(
            f"gene list {path}: holds no region (only comments, headers or blank lines); "
            "add one line per gene region"
        )
    return regions


def variants_in_regions(panel: VariantPanel, regions: Sequence[GeneRegion], *, window: int = 0) -> np.ndarray:
    """Panel columns of the variants inside any region, widened by `window` bases on each side.

    Regions that hold no panel variant are logged as a warning naming the list, how many and the
    first few names: dropped silently, a clinician's gene would look used when it selected
    nothing. A caller that reports them itself calls `match_regions` instead.

    Args:
        panel: the federation's panel (positions are read from its `chrom:pos:ref:alt` ids).
        regions: the gene regions (`load_gene_regions`).
        window: bases added on both sides of every region (regulatory variants near a gene);
            must be >= 0.

    Returns:
        The sorted, unique panel indices (int64) of the variants inside.

    Raises:
        ConfigError: as `match_regions`.
    """
    match = match_regions(panel, regions, window=window)
    if match.unmatched:
        logger.warning("%s", match.unmatched_summary())
    return match.columns


def match_regions(panel: VariantPanel, regions: Sequence[GeneRegion], *, window: int = 0) -> RegionMatch:
    """The panel variants inside any region (widened by `window` bases each side), and the regions
    that hold none, for a caller that reports them itself (`variants_in_regions` logs them).

    Per chromosome, the panel positions are sorted once and each region's bounds found by binary
    search, so 100,000 variants against 20,000 regions take milliseconds.

    Args:
        panel: the federation's panel (positions are read from its `chrom:pos:ref:alt` ids).
        regions: the gene regions (`load_gene_regions`).
        window: bases added on both sides of every region; must be >= 0.

    Returns:
        The selected columns and the unmatched regions (`RegionMatch`).

    Raises:
        ConfigError: `window` is negative, there are no regions, or no panel variant lies in
            any region (the message names the list and both sides' chromosomes: a `chr` prefix
            the normalisation did not catch or a genome build mismatch is the usual cause).
    """
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 0:
        raise ConfigError(f"gene region window must be a whole number of bases >= 0, got {window!r}")
    if not regions:
        raise ConfigError("no gene regions given; pass a gene list with at least one region")
    chroms, positions = _panel_positions(panel)
    by_region_chrom: dict[str, list[int]] = {}
    for index, region in enumerate(regions):
        by_region_chrom.setdefault(_chrom_key(region.chrom), []).append(index)
    inside = np.zeros(len(positions), dtype=bool)
    hits = np.zeros(len(regions), dtype=np.int64)
    for chrom, indices in by_region_chrom.items():
        columns = np.flatnonzero(chroms == chrom)
        if not len(columns):
            continue
        order = np.argsort(positions[columns], kind="stable")
        sorted_cols = columns[order]
        sorted_pos = positions[sorted_cols]
        starts = np.fromiter((regions[i].start for i in indices), dtype=np.int64, count=len(indices))
        ends = np.fromiter((regions[i].end for i in indices), dtype=np.int64, count=len(indices))
        # 0-based positions inside [start - window, end + window)
        lo = np.searchsorted(sorted_pos, starts - window, side="left")
        hi = np.searchsorted(sorted_pos, ends + window, side="left")
        hits[indices] = np.maximum(hi - lo, 0)
        depth = np.zeros(len(sorted_pos) + 1, dtype=np.int64)
        np.add.at(depth, lo, 1)
        np.add.at(depth, hi, -1)
        inside[sorted_cols[np.cumsum(depth[:-1]) > 0]] = True
    found = np.flatnonzero(inside).astype(np.int64)
    if not len(found):
        raise ConfigError(_nothing_found(chroms, positions, regions, window))
    unmatched = tuple(regions[i] for i in np.flatnonzero(hits == 0))
    return RegionMatch(found, unmatched, len(regions))


def write_gene_regions(path: str | Path, regions: Sequence[GeneRegion]) -> None:
    """Write regions as a BED file (`chrom start end name`, 0-based half-open), atomically."""
    text = "".join(f"{r.chrom}\t{r.start}\t{r.end}\t{r.name}\n" for r in regions)
    write_text_atomic(path, text)


def _is_bed(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(".bed") or name.endswith(".bed.gz")


def _numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, text without the line end) of a plain or gzipped text file.

    Read as `utf-8-sig`: a byte-order mark (Excel and Windows exports) would otherwise become part
    of the first chromosome or header name, which then matches nothing."""
    with open(path, "rb") as handle:
        head = handle.read(2)
    if head == _PLINK_MAGIC:
        raise ConfigError(
            f"gene list {path}: this is a PLINK genotype .bed file, not a BED file of gene regions; "
            "pass a text BED file (chrom start end name) or a gene-region table"
        )
    try:
        if head == b"\x1f\x8b":
            with gzip.open(path, "rt", encoding="utf-8-sig") as handle:
                text = handle.read()
        else:
            text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise ConfigError(
            f"gene list {path}: cannot be read as text ({exc}); pass a plain or gzipped "
            "tab-separated text file"
        ) from None
    for number, line in enumerate(text.splitlines(), start=1):
        yield number, line.rstrip("\r")


def _fields(line: str) -> list[str]:
    """Tab-separated fields; a line without tabs is split on any whitespace (hand-written lists)."""
    return [f.strip() for f in line.split("\t")] if "\t" in line else line.split()


def _read_bed(path: Path, lines: list[tuple[int, str]]) -> list[GeneRegion]:
    regions = []
    for number, line in lines:
        if not line.strip() or line.lstrip().startswith(_BED_SKIPPED):
            continue
        fields = _fields(line)
        if len(fields) < 3:
            raise _line_error(
                path,
                number,
                f"has {len(fields)} field(s), a BED line needs at least 3 (chrom start end)",
                "separate chrom, start, end and name by tabs",
            )
        if not regions and [f.lower() for f in fields[1:3]] == ["start", "end"]:
            continue  # a header line some tools write without a leading #
        start = _whole_number(path, number, "start", fields[1])
        end = _whole_number(path, number, "end", fields[2])
        name = fields[3] if len(fields) > 3 and fields[3] else ""
        regions.append(_region(path, number, fields[0], start, end, name, zero_based=True))
    return regions


def _read_table(path: Path, lines: list[tuple[int, str]]) -> list[GeneRegion]:
    header_at, columns, zero_based = _table_header(path, lines)
    regions = []
    for number, line in lines:
        if number <= header_at or not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = _fields(line)
        if len(fields) <= max(columns.values()):
            raise _line_error(
                path,
                number,
                f"has {len(fields)} field(s), the header names {max(columns.values()) + 1}",
                "give every row a value under each header column, separated by tabs",
            )
        start = _whole_number(path, number, "start", fields[columns["start"]])
        end = _whole_number(path, number, "end", fields[columns["end"]])
        name = fields[columns["name"]] if "name" in columns else ""
        chrom = fields[columns["chrom"]]
        regions.append(_region(path, number, chrom, start, end, name, zero_based=zero_based))
    return regions


def _table_header(path: Path, lines: list[tuple[int, str]]) -> tuple[int, dict[str, int], bool]:
    """The header's line number, column index per field (`chrom`, `start`, `end`, `name`), and
    whether the coordinates are 0-based half-open (a UCSC `txStart` start column).

    The header is the first line that is not blank (a `#` in front of it, as UCSC exports write,
    is allowed); other `#` lines before it are comments."""
    for number, line in lines:
        if not line.strip():
            continue
        fields = [f.lower() for f in _fields(line.lstrip("#"))]
        columns = {
            key: fields.index(alias)
            for key, aliases in TABLE_COLUMNS.items()
            for alias in reversed(aliases)
            if alias in fields
        }
        if line.startswith("#") and not {"chrom", "start", "end"} <= columns.keys():
            continue  # a comment line
        missing = [key for key in ("chrom", "start", "end") if key not in columns]
        if missing:
            looks_like_bed = len(fields) >= 3 and is_position(fields[1]) and is_position(fields[2])
            hint = (
                "this looks like a BED file: name it .bed (its starts are 0-based), or add a header "
                "line gene<TAB>chrom<TAB>start<TAB>end (1-based inclusive)"
                if looks_like_bed
                else "the header needs columns gene, chrom, start and end (tab-separated)"
            )
            raise _line_error(path, number, f"header lacks column(s) {', '.join(missing)}", hint)
        return number, columns, fields[columns["start"]] in ZERO_BASED_STARTS
    raise ConfigError(f"gene list {path}: holds no header line; add gene<TAB>chrom<TAB>start<TAB>end")


def _whole_number(path: Path, number: int, what: str, text: str) -> int:
    if not is_position(text):
        raise _line_error(
            path,
            number,
            f"{what} {text!r} is not a whole number of bases from 0 to {MAX_POSITION:,}",
            "write positions as plain integers in ASCII digits (no commas, decimals or signs)",
        )
    return int(text)


def _region(
    path: Path, number: int, chrom: str, start: int, end: int, name: str, *, zero_based: bool
) -> GeneRegion:
    """A checked region in BED coordinates; a 1-based inclusive table start moves down by one."""
    if not chrom:
        raise _line_error(path, number, "the chromosome is empty", "name the chromosome, e.g. 1 or chr1")
    if not zero_based and start < 1:
        raise _line_error(
            path,
            number,
            f"start {start} is below 1, but a gene-region table is 1-based",
            "if the file has 0-based (BED) starts, name it .bed",
        )
    if start > end:
        raise _line_error(
            path, number, f"start {start} is after end {end}", "swap them, or fix the region's coordinates"
        )
    if zero_based and start == end:
        example = f" (position {end} is {end - 1} {end})" if end > 0 else ""
        raise _line_error(
            path,
            number,
            f"start and end are both {start}, an empty region: a BED interval (0-based half-open) "
            "must have end > start",
            f"one base at 1-based position p is written p-1 p{example}; if the file holds 1-based "
            "positions, subtract 1 from every start",
        )
    chrom = normalize_chrom(chrom)
    start = start if zero_based else start - 1
    return GeneRegion(chrom, start, end, name or f"{chrom}:{start + 1}-{end}", str(path))


def _line_error(path: Path, number: int, problem: str, hint: str) -> ConfigError:
    return ConfigError(f"gene list {path}, line {number}: {problem}; {hint}")


def _chrom_key(chrom: str) -> str:
    """The key two chromosome names share when they name the same chromosome: `chrX` = `x`,
    `chrM` = `MT`."""
    key = normalize_chrom(chrom).upper()
    return "MT" if key == "M" else key


def _panel_positions(panel: VariantPanel) -> tuple[np.ndarray, np.ndarray]:
    """Per panel column: chromosome key and 0-based position (the VCF position minus one)."""
    parsed = [parse_variant_id(v) for v in panel.variant_ids]
    chroms = np.array([_chrom_key(v.chrom) for v in parsed], dtype=object)
    positions = np.fromiter((v.pos - 1 for v in parsed), dtype=np.int64, count=len(parsed))
    return chroms, positions


def _nothing_found(
    chroms: np.ndarray, positions: np.ndarray, regions: Sequence[GeneRegion], window: int
) -> str:
    """Why no panel variant lies in any region: each side's chromosomes, and spans where shared."""
    region_chroms = sorted({_chrom_key(r.chrom) for r in regions}, key=chrom_order)
    panel_chroms = sorted(set(chroms.tolist()), key=chrom_order)
    shared = [c for c in region_chroms if c in set(panel_chroms)]
    text = (
        f"{_list_label(regions)}: no panel variant lies in any of its {len(regions)} gene regions "
        f"(window {window} bp): the "
        f"regions are on chromosome(s) {_listed(region_chroms)}, the panel's "
        f"{len(chroms)} variants on {_listed(panel_chroms)}"
    )
    if not shared:
        return text + "; check the chromosome names of the gene list against the panel"
    spans = []
    for c in shared[:5]:
        pos = positions[chroms == c] + 1
        in_list = [r for r in regions if _chrom_key(r.chrom) == c]
        spans.append(
            f"chromosome {c}: panel {pos.min()}-{pos.max()}, list "
            f"{min(r.start for r in in_list) + 1}-{max(r.end for r in in_list)}"
        )
    return (
        text + f" ({'; '.join(spans)}); check that the gene list and the panel use the same genome "
        "build (GRCh37 vs GRCh38), or widen the window"
    )


def _unmatched_summary(unmatched: Sequence[GeneRegion], n_regions: int) -> str:
    """`gene list F: no panel variant in N of its M gene regions (A, B, ... and K more); ...`."""
    names = [r.name for r in unmatched]
    return (
        f"{_list_label(unmatched)}: no panel variant in {len(unmatched)} of its {n_regions} gene "
        f"regions ({_listed(names, _NAMES_SHOWN)}), which select nothing; check their chromosome, "
        "coordinates and genome build, or widen the window"
    )


def _list_label(regions: Sequence[GeneRegion]) -> str:
    """`gene list PATH` (or the paths) the regions were read from; `gene list` when built in code."""
    sources = sorted({r.source for r in regions if r.source})
    return "gene list" + (f" {_listed(sources, 2)}" if sources else "")


def chrom_order(chrom: str) -> tuple[int, str]:
    """A chromosome's place in sorted order: numbered ones by number, then the others (X, Y, MT)."""
    return (int(chrom), "") if chrom.isdigit() else (1_000, chrom)


def _listed(items: list[str], limit: int = 12) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
