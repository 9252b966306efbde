"""PLINK 1 binary genotypes (.bed/.bim/.fam) via bed-reader.

Orientation: `.bim` column 5 is A1 and column 6 is A2. `plink2 --make-bed` from a VCF writes ALT
as A1 and REF as A2, so genofed reads A2 as REF, A1 as ALT and counts A1 (`count_A1=True`): the
same ids and dosages as reading the VCF it came from. (PLINK 1.9 may instead put the minor allele
in A1; the ids then say so, and panel alignment deals with swapped REF/ALT.)

The companion files and the .bed size are checked here, before bed-reader, because bed-reader
reports all of "truncated", "wrong counts" and "bad header" as one "ill-formed BED file". The
.bim and .fam are held to the text rules of every input (`iter_lines`: UTF-8, no control
characters), one row per variant / sample, unique ids and positions in the VCF range.

Decisions (the VCF reader's, where the formats overlap):
- PLINK's numeric chromosome codes (23-26) are read as X, Y, XY, MT (`normalize_chrom`).
- a haploid call is refused, as in a VCF: PLINK stores one as homozygous, so it would count as 2
  copies. Y and MT are haploid in everyone; X in males and samples of unknown .fam sex. Females'
  X and the pseudo-autosomal XY are diploid and read.
- a site with one missing allele ('0' from PLINK 1.9 / .ped, '.' from plink2: a monomorphic site)
  gets the REF-only id `CHROM:POS:OBSERVED:.` and dosage 0 for every call, so panel alignment
  sees observed REF/REF calls rather than an absent site to impute.
- skipped, with a note: unplaced variants (chromosome 0), contigs whose name holds ':' (no id
  can be made of them), and sites with both alleles missing. Alleles that are not bases (1/2
  codes) are refused: their ids would match nothing.
- given the positions the caller will use (`sites`: a panel's, for `genofed predict`, `adapt` and a
  hospital's checks and training against its federation's panel), a variant elsewhere is skipped
  before its alleles, its haploid chromosome and its genotypes are looked at, with a note, as the
  VCF reader skips such a record: it is never model input, so it may not refuse the fileset (a
  male's chrX beside an autosomal panel was refused as haploid), and its genotypes are not decoded
  from the .bed. The .bim and .fam are still checked line by line and the .bed's size against
  every variant: a damaged fileset is refused wherever the damage is.

What the files alone cannot show: the .bed is padded to whole bytes of four samples, so a .fam that lost a
line can still fit it, and every later sample would then carry its neighbour's genotypes. Then the
last sample's calls sit in the padding, which PLINK writes as 0 bits (`calls_past_samples`), and the
lost sample has a label but no genotypes: `join_cohort` refuses that pair, while it leaves out a
phenotype row without genotypes otherwise (a registry lists more patients than were genotyped).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
from bed_reader import open_bed

from genofed.common.data.cohort import DOSAGE_DTYPE, MISSING, GenotypeMatrix
from genofed.common.data.readers._files import check_container, examples, iter_lines, require_file
from genofed.common.data.variants import (
    HAPLOID_EVERYWHERE,
    Sites,
    contigs_side_by_side,
    make_variant_id,
    normalize_chrom,
)
from genofed.common.errors import DataError

SUFFIXES = (".bed", ".bim", ".fam")
FAM_COLUMNS = ["fid", "iid", "father", "mother", "sex", "phenotype"]
BED_MAGIC = b"\x6c\x1b"
SNP_MAJOR = 1
#: bed-reader's int8 code for a missing call.
BED_MISSING = -127
#: The largest position a VCF (and so the panel) can hold.
MAX_POS = 2**31 - 1
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
#: Spellings of a missing .fam phenotype that PLINK reads as NA besides -9 (a number).
FAM_MISSING = {"na", "nan"}
#: How PLINK writes the allele a monomorphic site lacks: '0' (PLINK 1.9, .ped), '.' (plink2).
MISSING_ALLELES = {"0", "."}
#: An allele genofed can put in a variant id: a base sequence (a SNP or an indel).
BASES = re.compile(r"[ACGTNacgtn]+")


def plink_prefix(path: str | Path) -> Path:
    """The common prefix of a fileset, given the prefix itself or any of its three files."""
    path = Path(path)
    return path.with_suffix("") if path.suffix.lower() in SUFFIXES else path


def read_plink(path: str | Path, *, sites: Sites | None = None) -> GenotypeMatrix:
    """Dosages of A1 (ALT) for a PLINK 1 fileset, named by its prefix or any of its three files.

    `sites`: the (chromosome, position) pairs the caller will use (`variants.panel_sites`); a
    variant at any other position is skipped unread, with a note. None reads every variant.
    """
    prefix = plink_prefix(path)
    bed, bim, fam = (_companion(prefix, suffix) for suffix in SUFFIXES)
    variants = _read_table(bim, "bim", ["chrom", "id", "cm", "pos", "a1", "a2"])
    samples = _read_table(fam, "fam", FAM_COLUMNS)
    _check_plink_numbers(bim, fam, variants, samples)
    _check_chromosomes_together(bim, variants)
    _check_bed(bed, len(samples), len(variants))
    kept, notes, unused_contigs = _kept_variants(prefix, bim, variants, sites)
    if sites is not None and not kept and unused_contigs:
        raise _no_site_used(bim, variants, unused_contigs, sites)
    if not kept:
        raise DataError(
            bim,
            f"no variant left to read: {'; '.join(notes)}",
            hint="export the fileset with the placed, polymorphic variants of chromosomes 1-22",
        )
    _check_alleles(bim, kept)
    _check_diploid(prefix, bim, kept, samples)
    variant_ids = _unique(
        bim, "variant", [(line, _variant_id(bim, line, fields)) for _, line, fields in kept]
    )
    sample_ids = _unique(fam, "sample", [(line, fields[1]) for line, fields in samples])
    try:
        with open_bed(bed, count_A1=True, iid_count=len(samples), sid_count=len(variants)) as reader:
            # only the kept variants' bytes are decoded (the .bed is variant-major)
            index = None if len(kept) == len(variants) else np.s_[:, [i for i, _, _ in kept]]
            dosages = reader.read(index=index, dtype="int8", order="C")
    except (ValueError, OSError) as exc:  # checked above, so this is damage bed-reader saw and we did not
        raise DataError(
            bed,
            f"bed-reader cannot read this .bed ({exc})",
            hint="copy all three files again from the same export",
        ) from None
    _orient_monomorphic(bim, dosages, kept, sample_ids)
    dosages[dosages == BED_MISSING] = MISSING
    matrix = GenotypeMatrix(
        dosages.astype(DOSAGE_DTYPE, copy=False), sample_ids, variant_ids, source=str(bed)
    )
    matrix.notes.extend(notes)
    matrix.calls_past_samples = _calls_past_samples(bed, len(samples), len(variants))
    return matrix


def _calls_past_samples(bed: Path, n_samples: int, n_variants: int) -> bool:
    """Whether any variant's last byte holds calls past the .fam's last sample: PLINK and bed-reader
    write the padding to a whole byte as 0 bits, so a call there is a sample the .fam lacks (a lost
    line; see the module docstring). One byte per variant is read."""
    if n_samples % 4 == 0 or n_variants == 0:
        return False
    per_variant = math.ceil(n_samples / 4)
    last = np.memmap(bed, dtype=np.uint8, mode="r", offset=3, shape=(n_variants, per_variant))[:, -1]
    padding = (0xFF << (2 * (n_samples % 4))) & 0xFF
    return bool((last & padding).any())


def read_plink_samples(path: str | Path) -> list[str]:
    """The sample ids (IID) of a PLINK 1 fileset, as `read_plink` reads them, from its .fam alone:
    the .bim and .bed are not read."""
    fam = _companion(plink_prefix(path), ".fam")
    samples = _read_table(fam, "fam", FAM_COLUMNS)
    return _unique(fam, "sample", [(line, fields[1]) for line, fields in samples])


def _kept_variants(
    prefix: Path, bim: Path, variants: list[tuple[int, list[str]]], sites: Sites | None = None
) -> tuple[list[tuple[int, int, list[str]]], list[str], set[str]]:
    """(index in the .bed, line, fields) of the variants genofed can read, a note for each kind
    skipped, and the chromosomes (as the .bim names them) of those skipped for being outside `sites`.

    Skipped, as no panel variant can match them: unplaced ones (chromosome 0, position 0 on arrays;
    several share that position, which is no duplicate), ones on a contig whose name holds ':' (a
    variant id could not be split again), ones at a position not in `sites` (when given: the
    panel's; a position that is no whole number is refused first), and ones with both alleles
    missing (nothing was observed).
    """
    kept, unplaced, colon, unused, empty = [], 0, [], 0, 0
    unused_contigs: set[str] = set()
    for index, (line, fields) in enumerate(variants):
        chrom = normalize_chrom(fields[0])
        if chrom == "0":
            unplaced += 1
        elif ":" in chrom:
            colon.append(fields[0])
        elif sites is not None and (chrom, _position(bim, line, fields)) not in sites:
            unused += 1
            unused_contigs.add(fields[0])
        elif fields[4] in MISSING_ALLELES and fields[5] in MISSING_ALLELES:
            empty += 1
        else:
            kept.append((index, line, fields))
    notes = []
    if unplaced:
        notes.append(
            f"{unplaced} unplaced variant(s) (chromosome 0) were skipped: they have no position to match a "
            f"panel variant (plink2 --bfile {prefix} --not-chr 0 --make-bed --out {prefix}.placed drops them)"
        )
    if colon:
        notes.append(
            f"{len(colon)} variant(s) on contigs whose name holds ':' ({examples(sorted(set(colon)))}) "
            "were skipped: such a name cannot be part of a variant id (chrom:pos:ref:alt)"
        )
    if unused:
        notes.append(
            f"{unused} variant(s) at positions outside the panel were skipped: their genotypes "
            "were neither read nor checked (they are no model input)"
        )
    if empty:
        notes.append(
            f"{empty} site(s) with both alleles missing ('0' or '.') were skipped: nothing was observed"
        )
    return kept, notes, unused_contigs


def _no_site_used(
    bim: Path, variants: list[tuple[int, list[str]]], unused_contigs: set[str], sites: Sites
) -> DataError:
    """No variant at any of the caller's `sites` (a panel's positions), as `vcf._no_site_used`: most
    often the .bim names its chromosomes otherwise than the panel, or is on another genome build;
    both lists of names, side by side, tell which."""
    return DataError(
        bim,
        f"no panel variant is in this fileset: none of its {len(variants)} variants is at one of the "
        f"panel's {len(sites)} variant positions; "
        + contigs_side_by_side(unused_contigs, {chrom for chrom, _ in sites}),
        hint="if the .bim names its chromosomes otherwise than the panel, write the panel's names in its "
        "first column (PLINK's codes are 1-22, X, Y, XY and MT); if the names match, check that the genome "
        "build (GRCh37 or GRCh38) is the panel's; --min-coverage cannot lower this",
    )


def _check_alleles(bim: Path, kept: list[tuple[int, int, list[str]]]) -> None:
    """Every allele a base sequence (A/C/G/T/N; indels too) or missing ('0'/'.', see `_variant_id`).

    `1`/`2` codes (an old --recode12 export) or other labels would make ids that match no panel
    variant, so every site would be imputed while looking read.
    """
    for _, line, fields in kept:
        for allele in fields[4:6]:
            if allele not in MISSING_ALLELES and BASES.fullmatch(allele) is None:
                raise DataError(
                    bim,
                    f"allele {allele!r} of variant {fields[1]} is not a sequence of bases (A, C, G, T); "
                    "its variant id could not match the panel",
                    location=f"line {line}, variant {fields[1]}",
                    hint="re-export the fileset from its source with the real A/C/G/T alleles, not 1/2 codes "
                    "(PLINK 1.9 converts 1/2/3/4 codes back with --alleleACGT; plink2 --ref-from-fa --fa "
                    "GENOME.fa then sets REF from the reference genome)",
                )


def _check_diploid(
    prefix: Path, bim: Path, kept: list[tuple[int, int, list[str]]], samples: list[tuple[int, list[str]]]
) -> None:
    """Refuse haploid calls: Y and MT in every sample, X in males and samples of unknown sex.

    PLINK stores a haploid call as homozygous, so it would be read as dosage 2 and bias every model
    (the VCF reader refuses the same calls, written there as haploid). Females' X and the
    pseudo-autosomal XY are diploid and read as they are.
    """
    not_female = next(((line, fields) for line, fields in samples if fields[4] != "2"), None)
    for _, line, fields in kept:
        chrom = normalize_chrom(fields[0]).upper()
        # the .bim's id, or where it has none ('.', as arrays' exports often write) its position
        name = fields[1] if fields[1] not in ("", ".") else f"{fields[0]}:{fields[3]}"
        if chrom in HAPLOID_EVERYWHERE:
            problem = f"variant {name} is on chromosome {fields[0]}, which is haploid in every sample"
            hint = (
                f"keep the autosomes: plink2 --bfile {prefix} --chr 1-22 --make-bed --out {prefix}.autosomes"
            )
        elif chrom == "X" and not_female is not None:
            sex = "male" if not_female[1][4] == "1" else "of unknown sex"
            problem = (
                f"variant {name} is on chromosome X and sample {not_female[1][1]} (.fam line "
                f"{not_female[0]}) is {sex} (sex code {not_female[1][4]}), so its X calls are haploid"
            )
            hint = (
                f"keep the autosomes: plink2 --bfile {prefix} --chr 1-22 --make-bed --out {prefix}.autosomes "
                "(an all-female cohort may keep X: set sex 2 in the .fam and use --chr 1-22,X)"
            )
        else:
            continue
        raise DataError(
            bim,
            f"{problem}; PLINK stores a haploid call as homozygous, which genofed would count as 2 "
            "copies and so bias every model",
            location=f"line {line}, variant {name}",
            hint=hint,
        )


def _orient_monomorphic(
    bim: Path, dosages: np.ndarray, kept: list[tuple[int, int, list[str]]], sample_ids: list[str]
) -> None:
    """Make a site with one missing allele ('0'/'.') count copies of that missing allele, in place.

    Its id is `CHROM:POS:REF:.` with REF the observed allele (`_variant_id`), so every called
    genotype is 0 copies of '.': observed REF/REF calls, which panel alignment must not impute.
    bed-reader counts A1, so a site whose A2 is the missing one is turned round (2 - count). A call
    carrying the missing allele contradicts the .bim and is refused.
    """
    for column, (_, line, fields) in enumerate(kept):
        missing = fields[5] if fields[5] in MISSING_ALLELES else fields[4]
        if fields[5] in MISSING_ALLELES:
            called = dosages[:, column] != BED_MISSING
            dosages[called, column] = 2 - dosages[called, column]
        elif fields[4] not in MISSING_ALLELES:
            continue
        carrying = np.flatnonzero((dosages[:, column] != BED_MISSING) & (dosages[:, column] != 0))
        if carrying.size:
            raise DataError(
                bim,
                f"variant {fields[1]} has a missing allele ({missing!r}) "
                f"but sample {sample_ids[carrying[0]]} carries it",
                location=f"line {line}, variant {fields[1]}",
                hint="the .bim and .bed disagree; copy all three files again from the same export",
            )


def _companion(prefix: Path, suffix: str) -> Path:
    path = prefix.with_name(prefix.name + suffix)
    if not path.exists():
        raise DataError(
            path,
            f"PLINK {suffix} file not found next to {prefix.name}.*",
            hint="a PLINK fileset needs all of .bed, .bim and .fam with the same prefix",
        )
    return require_file(path, f"PLINK {suffix}")


def _read_table(path: Path, kind: str, columns: list[str]) -> list[tuple[int, list[str]]]:
    """(line number, fields) of a whitespace-separated .bim/.fam; a bad line raises an error naming it."""
    rows = []
    for line_number, line in iter_lines(path):
        fields = line.split()
        if len(fields) != len(columns):
            raise DataError(
                path,
                f"expected {len(columns)} columns in a .{kind} line, found {len(fields)}",
                location=f"line {line_number}",
                hint=f".{kind} columns are: {' '.join(columns)} (whitespace-separated)",
            )
        rows.append((line_number, fields))
    return rows


def _check_plink_numbers(
    bim: Path, fam: Path, variants: list[tuple[int, list[str]]], samples: list[tuple[int, list[str]]]
) -> None:
    """What PLINK itself requires of columns genofed does not use: a finite cM position, and a
    .fam phenotype column that is numeric (or NA) in every row or in none (a categorical one).

    genofed reads only IID from the .fam and CHROM/POS/A1/A2 from the .bim, but a fileset that
    plink2 refuses (or, for a phenotype of 1e400, aborts on) is damaged, and is refused here too.
    """
    for line, fields in variants:
        if not _finite(fields[2]):
            raise DataError(
                bim,
                f"centimorgan position {fields[2]!r} is not a number",
                location=f"line {line}",
                hint=".bim column 3 is the genetic position; 0 when unknown",
            )
    numeric = [_finite(fields[5]) or fields[5].lower() in FAM_MISSING for _, fields in samples]
    if any(numeric) and not all(numeric):
        line, fields = samples[numeric.index(False)]
        raise DataError(
            fam,
            f"phenotype {fields[5]!r} is not a number, while other rows hold numbers",
            location=f"line {line}",
            hint="genofed takes labels from the phenotype file and ignores this column; set it to -9",
        )


def _check_chromosomes_together(bim: Path, variants: list[tuple[int, list[str]]]) -> None:
    """Each chromosome's variants in one run, as PLINK requires ("split chromosome" otherwise).

    A chromosome that comes back after another one is what two .bim files pasted together, or a
    damaged chromosome column, look like; PLINK itself refuses such a fileset.
    """
    first_line: dict[str, int] = {}
    previous = None
    for line, fields in variants:
        chrom = normalize_chrom(fields[0]).upper()
        if chrom != previous and chrom in first_line:
            raise DataError(
                bim,
                f"chromosome {fields[0]} is split: its variants start on line {first_line[chrom]} "
                f"but come back on line {line} after chromosome {previous}",
                location=f"line {line}",
                hint="sort the fileset: plink2 --bfile PREFIX --make-pgen --sort-vars --out SORTED, "
                "then plink2 --pfile SORTED --make-bed --out NEWPREFIX",
            )
        first_line.setdefault(chrom, line)
        previous = chrom


def _finite(text: str) -> bool:
    return NUMBER.fullmatch(text) is not None and math.isfinite(float(text))


def _unique(path: Path, what: str, ids: list[tuple[int, str]]) -> list[str]:
    """The ids of (line, id) pairs, if none repeats: a repeated one cannot be joined (samples) or
    aligned (variants). Lines are carried because skipped variants leave gaps in the numbering."""
    first: dict[str, int] = {}
    for line, identifier in ids:
        if identifier in first:
            raise DataError(
                path,
                f"{what} {identifier} appears twice (lines {first[identifier]} and {line})",
                location=f"line {line}",
                hint=f"keep one line per {what}; regenerate the fileset from its source if it was edited",
            )
        first[identifier] = line
    return [identifier for _, identifier in ids]


def _check_bed(bed: Path, n_samples: int, n_variants: int) -> None:
    check_container(bed)  # a zipped or gzipped .bed is named as such, not as "wrong magic bytes"
    with bed.open("rb") as handle:
        magic = handle.read(3)
    if magic[:2] != BED_MAGIC:
        raise DataError(
            bed,
            "not a PLINK 1 .bed file (wrong magic bytes)",
            hint="regenerate it with plink --make-bed; PLINK 2 .pgen files are not .bed files",
        )
    if len(magic) < 3 or magic[2] != SNP_MAJOR:
        raise DataError(
            bed,
            "this .bed is in the old individual-major layout",
            hint="convert it with plink --bfile PREFIX --make-bed --out NEWPREFIX",
        )
    expected = 3 + n_variants * math.ceil(n_samples / 4)
    actual = bed.stat().st_size
    if actual != expected:
        raise DataError(
            bed,
            f".bed is {actual} bytes but {n_variants} variants (.bim) x {n_samples} "
            f"samples (.fam) need {expected}",
            hint="the .bed is truncated or the .bim/.fam belong to another fileset; "
            "copy all three files again from the same export",
        )


def _variant_id(bim: Path, line: int, fields: list[str]) -> str:
    """`CHROM:POS:A2:A1` (A2 is REF, see the module docstring); for a site with one missing allele
    ('0' from PLINK 1.9 / .ped, '.' from plink2), `CHROM:POS:OBSERVED:.`, the REF-only form the
    panel alignment matches, whichever column the observed allele is in."""
    chrom, _, _, _, a1, a2 = fields
    pos = _position(bim, line, fields)
    if a1 in MISSING_ALLELES:
        return make_variant_id(chrom, pos, a2, ".")
    if a2 in MISSING_ALLELES:
        return make_variant_id(chrom, pos, a1, ".")
    return make_variant_id(chrom, pos, a2, a1)


def _position(bim: Path, line: int, fields: list[str]) -> int:
    """The .bim line's base-pair position, a whole number in the VCF's range, or a refusal by line."""
    pos, name = fields[3], fields[1]
    if not pos.isascii() or not pos.isdigit() or int(pos) > MAX_POS:
        raise DataError(
            bim,
            f"position {pos!r} of variant {name} is not a whole number from 0 to {MAX_POS}",
            location=f"line {line}",
            hint=".bim column 4 is the base-pair position",
        )
    return int(pos)
