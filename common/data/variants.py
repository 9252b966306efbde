"""Variant identifiers: `chrom:pos:ref:alt`, the key that aligns every site to the panel."""

from __future__ import annotations

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


def normalize_chrom(chrom: str) -> str:
    """`chr1` and `1` name the same chromosome; genofed writes the bare form."""
    chrom = str(chrom)
    return chrom[3:] if chrom.lower().startswith("chr") else chrom


def make_variant_id(chrom: str, pos: int, ref: str, alt: str) -> str:
    return f"{normalize_chrom(chrom)}:{int(pos)}:{ref.upper()}:{alt.upper()}"


def parse_variant_id(text: str) -> Variant:
    """Parse `chrom:pos:ref:alt`; raise ValueError with the offending text otherwise."""
    parts = text.split(":")
    if len(parts) != 4 or not parts[1].isdigit() or not parts[2] or not parts[3]:
        raise ValueError(f"variant id {text!r} is not of the form chrom:pos:ref:alt (e.g. 1:12345:A:G)")
    return Variant(normalize_chrom(parts[0]), int(parts[1]), parts[2].upper(), parts[3].upper())
