"""Variant identifiers: `chrom:pos:ref:alt`, the key that aligns every site to the panel."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple


class Variant(NamedTuple):
    chrom: str
    pos: int
    ref: str
    alt: str

    @property
    def id(self) -> str:
        return f"{self.chrom}:{self.pos}:{self.ref}:{self.alt}"

    @property
    def swapped_id(self) -> str:
        """The id the same site has when REF and ALT are the other way round."""
        return f"{self.chrom}:{self.pos}:{self.alt}:{self.ref}"


#: PLINK 1.9's numeric codes for the sex and mitochondrial chromosomes, and the `M` spelling of MT,
#: by the name genofed writes: a .bim says `23` where the panel (from a VCF) says `X`.
CHROM_ALIASES = {"23": "X", "24": "Y", "25": "XY", "26": "MT", "M": "MT"}
#: Chromosomes haploid in every sample (after `normalize_chrom`); X is haploid in males only,
#: outside its pseudo-autosomal regions (`genofed.common.data.checks`).
HAPLOID_EVERYWHERE = frozenset({"Y", "MT"})


def normalize_chrom(chrom: str) -> str:
    """`chr1` and `1` name the same chromosome, as do `23`, `chrX` and `X` (PLINK codes), and `M`,
    `chrM` and `MT`; genofed writes the bare VCF form (`1`, `X`, `MT`)."""
    chrom = str(chrom)
    bare = chrom[3:] if chrom.lower().startswith("chr") else chrom
    return CHROM_ALIASES.get(bare.upper(), bare)


def make_variant_id(chrom: str, pos: int, ref: str, alt: str) -> str:
    """`chrom:pos:ref:alt`; a chromosome holding ':' (GRCh38's `HLA-A*01:01:01:01` contigs) raises
    ValueError, since its id would not split back into four fields and would break the panel later."""
    chrom = normalize_chrom(chrom)
    if ":" in chrom:
        raise ValueError(
            f"chromosome {chrom!r} contains ':', which separates the fields of a variant id "
            "(chrom:pos:ref:alt); such contigs (e.g. GRCh38 HLA alleles) cannot be panel variants"
        )
    return f"{chrom}:{int(pos)}:{ref.upper()}:{alt.upper()}"


#: The largest position genofed reads: the VCF's (and htslib's) signed 32-bit limit.
MAX_POSITION = 2**31 - 1


def is_position(text: str) -> bool:
    """Whether `text` is a whole number of bases in ASCII digits, 0 to `MAX_POSITION`. Not
    `str.isdigit` alone: it takes '²' and Arabic-Indic digits, and `int` then raised (or read them)
    past every check (a fuzzing review's tracebacks in the gene list, panel and variant summary),
    and a 20-digit number overflowed NumPy's integers."""
    return text.isascii() and text.isdigit() and int(text) <= MAX_POSITION


def parse_variant_id(text: str) -> Variant:
    """Parse `chrom:pos:ref:alt`; raise ValueError with the offending text otherwise."""
    parts = text.split(":")
    if len(parts) != 4 or not is_position(parts[1]) or not parts[2] or not parts[3]:
        raise ValueError(f"variant id {text!r} is not of the form chrom:pos:ref:alt (e.g. 1:12345:A:G)")
    return Variant(normalize_chrom(parts[0]), int(parts[1]), parts[2].upper(), parts[3].upper())


#: Positions a caller will use, as (chromosome as `normalize_chrom` writes it, position): a panel's
#: (`panel_sites`), handed to the VCF reader so that it leaves every other record unread.
Sites = frozenset[tuple[str, int]]


def panel_sites(variant_ids: Iterable[str]) -> Sites:
    """The (chromosome, position) of each id `chrom:pos:ref:alt` (ids as `parse_variant_id`
    writes them, e.g. a loaded panel's): split, not parsed, so a 636,000-variant panel takes
    a fraction of a second."""
    sites = set()
    for vid in variant_ids:
        chrom, pos, _ = vid.split(":", 2)
        sites.add((chrom, int(pos)))
    return frozenset(sites)


#: What to do when a file names its contigs otherwise than the panel (RefSeq `NC_000001.10` for `1`;
#: `chr1` and `1` are read as the same): the hint beside both lists of names (`contigs_side_by_side`).
RENAME_HINT = (
    "if the file names its contigs otherwise than the panel, rename them to the panel's names, e.g. "
    "bcftools annotate --rename-chrs names.txt in.vcf.gz -Oz -o renamed.vcf.gz (names.txt: one line "
    "per contig, the file's name and the panel's, e.g. 'NC_000001.10 1'); if the names match, check "
    "that the genome build (GRCh37 or GRCh38) is the panel's"
)


def contig_names(chroms: Iterable[str], limit: int = 4) -> str:
    """A few contig names in genome order (1, 2, ..., 10, X), with how many there are, for a
    message that sets a file's names beside the panel's: "NC_000001.10, NC_000002.11 (2 contigs)"."""
    names = sorted(
        set(chroms), key=lambda name: (not name.isdigit(), int(name) if name.isdigit() else 0, name)
    )
    shown = ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")
    return f"{shown} ({len(names)} contig{'s' if len(names) != 1 else ''})"


def id_contigs(variant_ids: Iterable[str]) -> set[str]:
    """The chromosomes of variant ids `chrom:pos:ref:alt`."""
    return {vid.split(":", 1)[0] for vid in variant_ids}


def contigs_side_by_side(file_contigs: Iterable[str], panel_contigs: Iterable[str]) -> str:
    """The file's contig names beside the panel's ("the file's contigs are NC_000001.10, ... (3
    contigs), the panel's 1, 2, 3 (3 contigs)"), said where a file holds no panel variant, so that a
    naming mismatch (RefSeq, GenBank or another build's names) shows at a glance."""
    return f"the file's contigs are {contig_names(file_contigs)}, the panel's {contig_names(panel_contigs)}"
