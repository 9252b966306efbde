"""PLINK 1 binary genotypes (.bed/.bim/.fam) via bed-reader.

Orientation: `.bim` column 5 is A1 and column 6 is A2. `plink2 --make-bed` from a VCF writes ALT
as A1 and REF as A2, so genofed reads A2 as REF, A1 as ALT and counts A1 (`count_A1=True`): the
same ids and dosages as reading the VCF it came from. (PLINK 1.9 may instead put the minor allele
in A1; the ids then say so, and panel alignment deals with swapped REF/ALT.)

The companion files and the .bed size are checked here, before bed-reader, because bed-reader
reports all of "truncated", "wrong counts" and "bad header" as one "ill-formed BED file".
"""

from __future__ import annotations

import math
from pathlib import Path

from bed_reader import open_bed

from genofed.common.cohort import DOSAGE_DTYPE, MISSING, GenotypeMatrix
from genofed.common.errors import DataError
from genofed.common.readers._files import require_file
from genofed.common.variants import make_variant_id

SUFFIXES = (".bed", ".bim", ".fam")
BED_MAGIC = b"\x6c\x1b"
SNP_MAJOR = 1
#: bed-reader's int8 code for a missing call.
BED_MISSING = -127


def plink_prefix(path: str | Path) -> Path:
    """The common prefix of a fileset, given the prefix itself or any of its three files."""
    path = Path(path)
    return path.with_suffix("") if path.suffix.lower() in SUFFIXES else path


def read_plink(path: str | Path) -> GenotypeMatrix:
    """Dosages of A1 (ALT) for a PLINK 1 fileset, named by its prefix or any of its three files."""
    prefix = plink_prefix(path)
    bed, bim, fam = (_companion(prefix, suffix) for suffix in SUFFIXES)
    variants = _read_table(bim, "bim", ["chrom", "id", "cm", "pos", "a1", "a2"])
    samples = _read_table(fam, "fam", ["fid", "iid", "father", "mother", "sex", "phenotype"])
    _check_bed(bed, len(samples), len(variants))
    variant_ids = [_variant_id(bim, line, fields) for line, fields in enumerate(variants, start=1)]
    with open_bed(bed, count_A1=True, iid_count=len(samples), sid_count=len(variants)) as reader:
        dosages = reader.read(dtype="int8", order="C")
    dosages[dosages == BED_MISSING] = MISSING
    return GenotypeMatrix(dosages.astype(DOSAGE_DTYPE, copy=False), [fields[1] for fields in samples], variant_ids,
                          source=str(bed))


def _companion(prefix: Path, suffix: str) -> Path:
    path = prefix.with_name(prefix.name + suffix)
    if not path.exists():
        raise DataError(path, f"PLINK {suffix} file not found next to {prefix.name}.*",
                        hint="a PLINK fileset needs all of .bed, .bim and .fam with the same prefix")
    return require_file(path, f"PLINK {suffix}")


def _read_table(path: Path, kind: str, columns: list[str]) -> list[list[str]]:
    """The rows of a whitespace-separated .bim/.fam, with a line-numbered error for a bad line."""
    rows = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line_number, line in enumerate(handle, start=1):
            fields = line.split()
            if len(fields) != len(columns):
                raise DataError(path, f"expected {len(columns)} columns in a .{kind} line, found {len(fields)}",
                                location=f"line {line_number}",
                                hint=f".{kind} columns are: {' '.join(columns)} (whitespace-separated)")
            rows.append(fields)
    return rows


def _check_bed(bed: Path, n_samples: int, n_variants: int) -> None:
    with bed.open("rb") as handle:
        magic = handle.read(3)
    if magic[:2] != BED_MAGIC:
        raise DataError(bed, "not a PLINK 1 .bed file (wrong magic bytes)",
                        hint="regenerate it with plink --make-bed; PLINK 2 .pgen files are not .bed files")
    if len(magic) < 3 or magic[2] != SNP_MAJOR:
        raise DataError(bed, "this .bed is in the old individual-major layout",
                        hint="convert it with plink --bfile PREFIX --make-bed --out NEWPREFIX")
    expected = 3 + n_variants * math.ceil(n_samples / 4)
    actual = bed.stat().st_size
    if actual != expected:
        raise DataError(bed, f".bed is {actual} bytes but {n_variants} variants (.bim) x {n_samples} "
                        f"samples (.fam) need {expected}",
                        hint="the .bed is truncated or the .bim/.fam belong to another fileset; "
                             "copy all three files again from the same export")


def _variant_id(bim: Path, line: int, fields: list[str]) -> str:
    chrom, name, _, pos, a1, a2 = fields
    if not pos.isdigit():
        raise DataError(bim, f"position {pos!r} of variant {name} is not a whole number", location=f"line {line}",
                        hint=".bim column 4 is the base-pair position")
    return make_variant_id(chrom, int(pos), a2, a1)
