"""VCF / BCF genotypes via cyvcf2 (htslib), GT field only.

htslib is fast but lenient, and reports most problems only on stderr, with a generic Python
exception. So a text VCF is first read once in Python (`_vcf_text.scan_vcf`: intact compression,
UTF-8, the header, one column per sample on every line, usable CHROM/POS/REF/ALT, and on which line
each record sits); htslib then parses it, its record count must match, and when htslib fails on a
record, that one line is re-read in Python to say what is wrong with it.

Genotypes are taken from `variant.genotype.array()` (allele indices, -1 missing, -2 "no second
allele") and turned into dosages a chunk of variants at a time with numpy. Measured on 1,000
samples x 100,000 variants this is faster than `gt_types` (1.2 s vs 3.2 s on top of htslib's 3.6 s
parse) and, unlike `gt_types`, it sees allele indices, so it can refuse `0/3` at a site with one
ALT and split multi-allelic sites with the same code.

Decisions:
- a partly missing call (`./1`) is MISSING: its dosage is unknown.
- a haploid call (`1`, as on chrX of males) is refused: dosages here are diploid and counting a
  haploid `1` as 1 or 2 would silently bias every model. A haploid missing call (`.`) is MISSING.
- a site with no ALT allele (ALT `.`, what `bcftools view -a` leaves where every kept sample is
  homozygous REF) is kept as a REF-only variant `CHROM:POS:REF:.` whose called genotypes have
  dosage 0: panel alignment (`common.data.panel`) matches it to the panel variant at that position
  whose REF or ALT is that allele, so those patients count as observed homozygous, not imputed. A
  call with allele 1 at such a site is refused (the ALT column was blanked, the calls were not).
  A file with no site that has an ALT allele is refused, as is a variant id that appears twice.
- a symbolic ALT allele (`<DEL>`, `<NON_REF>`, `*`, a breakend) is no variant a panel can hold: it
  is dropped, with a note, and a call carrying it is missing for the record's other ALT alleles
  (its dosage of them is not a count of bases); a record with only symbolic ALTs is skipped.
- a record on a contig whose name holds ':' (GRCh38's HLA contigs, `HLA-A*01:01:01:01`) is
  skipped, with a note: a variant id is `chrom:pos:ref:alt`, and no panel holds such contigs.
- a byte-order mark at the start is dropped (htslib is handed the file past it), not refused.
- given the positions the caller will use (`sites`: a panel's, for `genofed predict`, `adapt` and a
  hospital's checks against its federation's panel), a record elsewhere is skipped before its
  genotypes are parsed, with a note: it is never model input, so nothing in it may refuse the file
  (a male patient's haploid chrX calls, GATK's way, refused a file whose panel is autosomal). Its
  line still passes the text scan and htslib's parse: a damaged file is refused wherever it is.
"""

from __future__ import annotations

import ctypes
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cyvcf2.cyvcf2
import numpy as np
from cyvcf2 import VCF, Variant

from genofed.common.data.cohort import DOSAGE_DTYPE, MISSING, GenotypeMatrix
from genofed.common.data.readers._files import BOM, is_gzip, iter_lines, open_binary, require_file
from genofed.common.data.readers._vcf_text import VcfText, header_samples, scan_vcf
from genofed.common.data.variants import (
    RENAME_HINT,
    Sites,
    contigs_side_by_side,
    make_variant_id,
    normalize_chrom,
)
from genofed.common.errors import DataError

Multiallelic = Literal["split", "refuse"]

#: Variants converted per numpy batch: big enough to amortise numpy's per-call cost, small
#: enough (4096 x samples x 2 x int16) to stay a few tens of MB for 10,000 samples.
CHUNK = 4096
GT_CALL = re.compile(r"^(\.|\d+)([/|](\.|\d+))*$")
GT_HINT = "GT must be allele indices separated by / or |, e.g. 0/0, 0/1, 1|0, ./. (missing)"
#: The ALT of a REF-only site's variant id (`CHROM:POS:REF:.`), as `common.data.panel` reads it.
NO_ALT = "."
#: An ALT allele that is bases (IUPAC codes included); anything else (`<DEL>`, `*`, breakends) is symbolic.
ALT_BASES = re.compile(r"[A-Za-z]+")

#: Where a record sits, for messages: the text VCF's scan, or None for BCF (records have no line).
Layout = VcfText | None


def read_vcf(
    path: str | Path,
    *,
    multiallelic: Multiallelic = "split",
    haplotypes: bool = False,
    sites: Sites | None = None,
) -> GenotypeMatrix:
    """Alt-allele dosages of every sample at every ALT allele of a VCF, bgzipped VCF or BCF.

    Args:
        path: the file.
        multiallelic: "split" makes one biallelic variant per ALT (dosage = copies of that ALT;
            a call carrying another ALT counts 0 for this one) and says so in `notes`;
            "refuse" raises instead, for pipelines that normalise upstream.
        haplotypes: also keep the two alleles of every call in order (`GenotypeMatrix.haplotypes`,
            1 = this ALT), which calls are written unphased (`unphased`, a (samples, variants)
            mask) and how many heterozygous calls are (`unphased_heterozygous`), for
            haplotype-aware synthetic data. Off by default: it doubles the memory of a read.
        sites: the (chromosome, position) pairs the caller will use (`variants.panel_sites`); a
            record at any other position is skipped unparsed, with a note. None reads every record.
    """
    if multiallelic not in ("split", "refuse"):
        raise ValueError(f"multiallelic must be 'split' or 'refuse', not {multiallelic!r}")
    path = require_file(path, "VCF")
    layout = scan_vcf(path)
    with _htslib(path, layout) as vcf:
        if layout is not None:
            _check_header_parsed(path, vcf, layout)
        samples = layout.samples if layout else list(vcf.samples)
        if not samples:
            raise DataError(
                path,
                "the VCF has no samples (no columns after FORMAT)",
                hint="export the VCF with its genotype columns (bcftools view without -G)",
            )
        builder = _DosageBuilder(path, layout, samples, keep_haplotypes=haplotypes)
        counts = _read_records(vcf, path, layout, builder, multiallelic, haplotypes, sites)
    if sites is not None and not builder.variant_ids and not counts.symbolic_only:
        raise _no_site_used(path, counts, sites)
    _require_alt_variants(path, len(builder.variant_ids), counts)  # before the last chunk's checks
    matrix = builder.finish()
    _check_variants(path, layout, matrix.variant_ids, builder.variant_records)
    matrix.notes.extend(counts.notes())
    return matrix


def read_vcf_samples(path: str | Path) -> list[str]:
    """The sample ids of a VCF, bgzipped VCF or BCF, as `read_vcf` reads them, from its header
    alone: no record is read or checked (`read_vcf` does that)."""
    path = require_file(path, "VCF")
    samples = header_samples(path)
    if samples is None:  # BCF: its header is binary
        with _htslib(path, None) as vcf:
            samples = list(vcf.samples)
    return samples


@dataclass
class _RecordCounts:
    """What `_read_records` split, kept as REF-only or skipped, for the reader's notes."""

    split: int = 0  # multi-allelic records split into one variant per ALT
    ref_only: int = 0  # ALT '.' records kept as REF-only variants
    symbolic: int = 0  # symbolic ALT alleles dropped
    symbolic_only: int = 0  # records skipped because every ALT was symbolic
    contig_colon: int = 0  # records skipped on a contig whose name holds ':'
    contigs: set[str] = field(default_factory=set)
    unused: int = 0  # records skipped unread: their position is not one of the caller's `sites`
    unused_contigs: set[str] = field(default_factory=set)  # their contigs, as the file names them

    def notes(self) -> list[str]:
        """One line per kind of change, for `GenotypeMatrix.notes` (printed by `data check`)."""
        notes = []
        if self.split:
            notes.append(
                f"{self.split} multi-allelic site(s) were split into one biallelic variant per ALT allele"
            )
        if self.ref_only:
            notes.append(
                f"{self.ref_only} site(s) with no ALT allele (ALT '.') were kept as REF-only variants "
                "(CHROM:POS:REF:.): their called genotypes are homozygous REF at the panel variant there"
            )
        if self.symbolic:
            skipped = (
                f", {self.symbolic_only} record(s) with no other ALT were skipped"
                if self.symbolic_only
                else ""
            )
            notes.append(
                f"{self.symbolic} symbolic ALT allele(s) (<DEL>, <NON_REF>, *, ...) are not variants and "
                f"were dropped; calls carrying one are missing for the record's other ALT alleles{skipped}"
            )
        if self.contig_colon:
            names = ", ".join(sorted(self.contigs)[:3]) + (", ..." if len(self.contigs) > 3 else "")
            notes.append(
                f"{self.contig_colon} record(s) on contig(s) whose name holds ':' ({names}) were skipped: "
                "a variant id is chrom:pos:ref:alt, and no panel holds such contigs"
            )
        if self.unused:
            notes.append(
                f"{self.unused} record(s) at positions outside the panel were skipped: their genotypes "
                "were neither read nor checked (they are no model input)"
            )
        return notes


def _read_records(
    vcf: VCF,
    path: Path,
    layout: Layout,
    builder: _DosageBuilder,
    multiallelic: Multiallelic,
    haplotypes: bool,
    sites: Sites | None = None,
) -> _RecordCounts:
    """Feed every record's allele indices to `builder` (only those at one of `sites`, when given);
    what was split, kept REF-only or skipped."""
    counts = _RecordCounts()
    for number, record in _records(vcf, path, layout, builder.samples):
        chrom, pos, ref, alts = _site(record, path, layout, number)
        if ":" in chrom:
            counts.contig_colon += 1
            counts.contigs.add(chrom)
            continue
        if sites is not None and (normalize_chrom(chrom), pos) not in sites:
            counts.unused += 1
            counts.unused_contigs.add(chrom)
            continue
        _refuse_alt_as_ref(path, layout, number, record, ref, alts)
        symbolic = [index for index, alt in enumerate(alts, start=1) if not ALT_BASES.fullmatch(alt)]
        if symbolic and len(symbolic) == len(alts):
            counts.symbolic += len(symbolic)
            counts.symbolic_only += 1
            continue
        if len(alts) - len(symbolic) > 1:
            if multiallelic == "refuse":
                raise DataError(
                    path,
                    f"multi-allelic site with ALT {','.join(alts)}",
                    location=_location(layout, number, _record_id(record, alts)),
                    hint="split it into biallelic records: bcftools norm -m -any in.vcf.gz -Oz -o out.vcf.gz",
                )
            counts.split += 1
        alleles = _diploid_alleles(record, path, layout, number, builder.samples)
        if symbolic:
            alleles = _symbolic_missing(alleles, symbolic)
        phased = record.gt_phases if haplotypes else None
        if not alts:
            counts.ref_only += 1
            variant_id = make_variant_id(chrom, pos, ref, NO_ALT)
            builder.add(alleles, 1, 0, number, variant_id, phased, chrom=chrom)
            continue
        counts.symbolic += len(symbolic)
        for index, alt in enumerate(alts, start=1):
            if index in symbolic:
                continue
            variant_id = make_variant_id(chrom, pos, ref, alt)
            builder.add(alleles, index, len(alts), number, variant_id, phased, chrom=chrom)
    return counts


def _refuse_alt_as_ref(
    path: Path, layout: Layout, number: int, record: Variant, ref: str, alts: list[str]
) -> None:
    """An ALT that repeats the REF, or another ALT of the record: no variant, or one allele counted
    twice. A fuzzing review's ALT equal to REF passed `data check` as a monomorphic variant
    `1:5000954:G:G`, and ALT `T,T` was said to be a variant appearing twice on the same line."""
    upper = [alt.upper() for alt in alts]
    repeated = ref.upper() in upper or len(set(upper)) < len(upper)
    if repeated:
        what = "repeats its REF" if ref.upper() in upper else "lists the same allele twice"
        raise DataError(
            path,
            f"the record's ALT {','.join(alts)} {what} ({ref}): a malformed record",
            location=_location(layout, number, _record_id(record, alts)),
            hint="correct or remove the record: each ALT differs from the REF and from its other ALTs",
        )


def _symbolic_missing(alleles: np.ndarray, symbolic: list[int]) -> np.ndarray:
    """The allele indices with every symbolic allele made missing (-1): a call carrying `<DEL>` or
    `*` holds no base of the record's other ALTs, but counting it 0 copies of them would turn into
    2 copies of REF wherever the panel has REF and ALT the other way round."""
    return np.where(np.isin(alleles, symbolic), -1, alleles).astype(alleles.dtype)


class _DosageBuilder:
    """Collects allele indices a chunk at a time and converts each full chunk to int8 dosages."""

    def __init__(
        self, path: Path, layout: Layout, samples: list[str], *, keep_haplotypes: bool = False
    ) -> None:
        self.path, self.layout, self.samples = path, layout, samples
        self.keep_haplotypes = keep_haplotypes
        self.hap_chunks: list[np.ndarray] = []  # (variants, samples, 2) int8, when keep_haplotypes
        self.unphased_chunks: list[np.ndarray] = []  # (variants, samples) bool, when keep_haplotypes
        self.phased = np.empty((CHUNK, len(samples)), dtype=bool)
        self.unphased_heterozygous = 0
        self.alleles = np.empty((CHUNK, len(samples), 2), dtype=np.int16)
        self.alt_index = np.empty(CHUNK, dtype=np.int16)
        self.n_alts = np.empty(CHUNK, dtype=np.int16)
        self.records: list[int] = []
        self.chroms: list[str] = []  # CHROM as written, per variant of the chunk
        self.variant_ids: list[str] = []
        self.variant_records: list[int] = []  # the record of each variant, for messages
        self.chunks: list[np.ndarray] = []  # (variants, samples) int8, one per CHUNK variants

    def add(
        self,
        alleles: np.ndarray,
        alt_index: int,
        n_alts: int,
        record: int,
        variant_id: str,
        phased: np.ndarray | None = None,
        *,
        chrom: str = "",
    ) -> None:
        """One variant: its record's (samples, 2) allele indices and which of them is its ALT
        (`alt_index`, of `n_alts`; `n_alts` 0 for a REF-only site). `chrom` as the file spells it,
        for the haploid refusal's hint."""
        row = len(self.records)
        self.alleles[row] = alleles
        if self.keep_haplotypes and phased is not None:
            self.phased[row] = phased
        self.alt_index[row] = alt_index
        self.n_alts[row] = n_alts
        self.records.append(record)
        self.chroms.append(chrom)
        self.variant_ids.append(variant_id)
        self.variant_records.append(record)
        if row + 1 == CHUNK:
            self._flush()

    def finish(self) -> GenotypeMatrix:
        self._flush()
        dosages = np.empty((len(self.samples), len(self.variant_ids)), dtype=DOSAGE_DTYPE)
        start = 0
        for chunk in self.chunks:
            dosages[:, start : start + len(chunk)] = chunk.T
            start += len(chunk)
        matrix = GenotypeMatrix(dosages, list(self.samples), self.variant_ids, source=str(self.path))
        if self.keep_haplotypes:
            haps = (
                np.concatenate(self.hap_chunks)
                if self.hap_chunks
                else np.zeros((0, len(self.samples), 2), dtype=DOSAGE_DTYPE)
            )
            matrix.haplotypes = np.ascontiguousarray(haps.transpose(1, 0, 2))
            matrix.unphased_heterozygous = self.unphased_heterozygous
            unphased = (
                np.concatenate(self.unphased_chunks)
                if self.unphased_chunks
                else np.zeros((0, len(self.samples)), dtype=bool)
            )
            matrix.unphased = np.ascontiguousarray(unphased.T)
            matrix.variant_records = np.asarray(self.variant_records, dtype=np.int64)
        return matrix

    def _flush(self) -> None:
        k = len(self.records)
        if k == 0:
            return
        alleles = self.alleles[:k]
        first, second = alleles[..., 0], alleles[..., 1]
        self._check(alleles, first, second, k)
        # two explicit comparisons: a numpy reduction over an axis of length 2 is several times slower
        alt = self.alt_index[:k, None]
        dosage = (first == alt).astype(DOSAGE_DTYPE) + (second == alt)
        missing = (first == -1) | (second == -1)
        dosage[missing] = MISSING
        self.chunks.append(dosage)
        if self.keep_haplotypes:
            haps = np.stack([first == alt, second == alt], axis=2).astype(DOSAGE_DTYPE)
            haps[missing] = MISSING
            self.hap_chunks.append(haps)
            unphased = ~self.phased[:k]  # a new array: the buffer is refilled by the next chunk
            self.unphased_chunks.append(unphased)
            self.unphased_heterozygous += int(((dosage == 1) & unphased).sum())
        self.records.clear()
        self.chroms.clear()

    def _check(self, alleles: np.ndarray, first: np.ndarray, second: np.ndarray, k: int) -> None:
        haploid = (second == -2) & (first >= 0)
        n_alts = self.n_alts[:k, None]
        too_high = (first > n_alts) | (second > n_alts)
        bad = haploid | too_high
        if not bad.any():
            return
        row, sample = (int(i) for i in np.argwhere(bad)[0])
        record = self.records[row]
        variant_id = self.variant_ids[len(self.variant_ids) - k + row]
        call = _raw_call(self.path, self.layout, record, sample) or _format_call(alleles[row, sample])
        location = f"{_location(self.layout, record, variant_id)}, sample {self.samples[sample]}"
        if haploid[row, sample]:
            raise DataError(
                self.path,
                f"haploid genotype '{call}'; genofed needs diploid calls",
                location=location,
                hint=f"keep autosomes only (e.g. bcftools view -t {_sex_contigs(self.chroms[row])}), or "
                "recode haploid calls as diploid (1 -> 1/1) if that is what they mean",
            )
        n_alts = int(self.n_alts[row])
        if n_alts == 0:
            raise DataError(
                self.path,
                f"genotype '{call}' refers to allele {int(alleles[row, sample].max())} "
                "but the site has no ALT allele (ALT '.')",
                location=location,
                hint="the ALT column was blanked but the calls were not: fix the exporting pipeline "
                "(at a site with ALT '.' every allele index is 0)",
            )
        raise DataError(
            self.path,
            f"genotype '{call}' refers to allele {int(alleles[row, sample].max())} "
            f"but the site has only {n_alts} ALT allele(s)",
            location=location,
            hint=f"fix the exporting pipeline; allele indices must be 0..{n_alts} at this site",
        )


def _sex_contigs(chrom: str) -> str:
    """The sex and mitochondrial contigs to exclude, spelt as the file spells its contigs (`^X,Y,MT`
    would keep every record of a file that names them chrX, chrY, chrM), with both of the
    mitochondrion's names, and the haploid call's own contig when it is no autosome: an
    array-scale walkthrough's file named it chrMT, which `^chrX,chrY,chrM` kept, and the same
    refusal came back. (bcftools' -t ignores a name the file does not have.)"""
    prefix = "chr" if chrom.lower().startswith("chr") else ""
    contigs = [f"{prefix}{name}" for name in ("X", "Y", "M", "MT")]
    if chrom not in contigs and not re.fullmatch(r"(chr)?\d+", chrom, flags=re.IGNORECASE):
        contigs.append(chrom)
    return "^" + ",".join(contigs)


def _site(record: Variant, path: Path, layout: Layout, number: int) -> tuple[str, int, str, list[str]]:
    """CHROM, POS, REF and the ALT alleles; a BCF may hold bytes that are not text."""
    try:
        return record.CHROM, record.POS, record.REF, record.ALT
    except UnicodeDecodeError:
        raise DataError(
            path,
            "CHROM, REF or ALT of this record is not UTF-8 text",
            location=_where(layout, number),
            hint="the file may be corrupt; check it with `bcftools view`",
        ) from None


def _require_alt_variants(path: Path, n_variants: int, counts: _RecordCounts) -> None:
    """At least one variant with an ALT allele: REF-only sites alone hold nothing a model can learn
    from, and are the sign of a region, filter or subset step that removed every variant. Said
    before the calls of the last chunk are checked, so that a file whose every ALT is '.' is told
    that, not that one of its calls names allele 1."""
    if n_variants > counts.ref_only:
        return
    skipped = [
        f"{counts.ref_only} site(s) with no ALT allele (ALT '.')" if counts.ref_only else "",
        f"{counts.symbolic_only} with only symbolic ALT alleles" if counts.symbolic_only else "",
        f"{counts.contig_colon} on contigs whose name holds ':'" if counts.contig_colon else "",
    ]
    listed = ", ".join(part for part in skipped if part)
    raise DataError(
        path,
        "the VCF has no variant records with an ALT allele" + (f" ({listed})" if listed else ""),
        hint="check the export; a region, filter or subset step may have removed every variant",
    )


def _no_site_used(path: Path, counts: _RecordCounts, sites: Sites) -> DataError:
    """No record at any of the caller's `sites` (a panel's positions): most often the file names its
    contigs otherwise than the panel (RefSeq `NC_000001.10` for `1`), or is on another genome build;
    both lists of names, side by side, tell which."""
    file_contigs = counts.unused_contigs | counts.contigs
    return DataError(
        path,
        f"no panel variant is in this file: none of its {counts.unused + counts.contig_colon} records is at "
        f"one of the panel's {len(sites)} variant positions; "
        + contigs_side_by_side(file_contigs, {chrom for chrom, _ in sites}),
        hint=f"{RENAME_HINT}; --min-coverage cannot lower this",
    )


def _check_variants(path: Path, layout: Layout, variant_ids: list[str], records: list[int]) -> None:
    """Each variant only once: a repeated id cannot be aligned to the panel."""
    first: dict[str, int] = {}
    for variant_id, record in zip(variant_ids, records, strict=False):
        if variant_id in first:
            raise DataError(
                path,
                f"variant {variant_id} appears twice ({_where(layout, first[variant_id])} and "
                f"{_where(layout, record)})",
                location=_location(layout, record, variant_id),
                hint="remove the duplicate records, e.g. bcftools norm -d exact in.vcf.gz -Oz -o out.vcf.gz",
            )
        first[variant_id] = record


def _diploid_alleles(
    record: Variant, path: Path, layout: Layout, number: int, samples: list[str]
) -> np.ndarray:
    """The (samples, 2) allele indices of a record; haploid records get -2 as second allele."""
    try:
        gt = record.genotype.array()
    except Exception:  # cyvcf2 raises a bare Exception when a record has no GT
        raise DataError(
            path,
            "this record has no GT (genotype) field",
            location=_location(layout, number, _record_id(record, record.ALT)),
            hint="genofed reads hard calls from FORMAT/GT; export the VCF with genotypes",
        ) from None
    ploidy = gt.shape[1] - 1
    if ploidy == 2:
        return gt[:, :2]
    if ploidy == 1:
        return np.column_stack([gt[:, 0], np.full(len(gt), -2, dtype=gt.dtype)])
    extra = np.flatnonzero((gt[:, 2:ploidy] != -2).any(axis=1))
    if len(extra):
        call = _raw_call(path, layout, number, int(extra[0])) or _format_call(gt[extra[0], :ploidy])
        raise DataError(
            path,
            f"genotype '{call}' has more than two alleles; genofed needs diploid calls",
            location=f"{_location(layout, number, _record_id(record, record.ALT))}, "
            f"sample {samples[int(extra[0])]}",
            hint="genofed models diploid genomes; remove polyploid records",
        )
    return gt[:, :2]


def _records(vcf: VCF, path: Path, layout: Layout, samples: list[str]) -> Iterator[tuple[int, Variant]]:
    """(record number from 1, record), turning htslib's generic parse failure into a DataError.

    At the end, htslib must have read as many records as the text scan found lines: fewer means
    it stopped early and silently, which would pass a damaged file off as a shorter one.
    """
    number = 0
    iterator = iter(vcf)
    while True:
        try:
            record = next(iterator)
        except StopIteration:
            break
        except Exception:  # cyvcf2 raises a bare Exception; the detail went to stderr
            raise _explain_failure(path, layout, number + 1, samples) from None
        number += 1
        yield number, record
    if layout is not None and number != layout.records:
        raise DataError(
            path,
            f"htslib read {number} variant records but the file has {layout.records} record lines",
            hint="the file may be corrupt; check it with `bcftools view`",
        )


def _quiet_htslib() -> None:
    """Silence htslib's own stderr messages (e.g. "Contig '1' is not defined in the header").

    They are noise to a clinic's bioinformatician, and every real problem reaches the user as a
    DataError that names the line and sample. htslib is linked into cyvcf2's extension module,
    which exports `hts_set_log_level`; cyvcf2 itself offers no switch for it.
    """
    try:
        ctypes.CDLL(cyvcf2.cyvcf2.__file__).hts_set_log_level(0)  # HTS_LOG_OFF
    except (OSError, AttributeError):  # another cyvcf2 build: keep htslib's messages
        pass


@contextmanager
def _htslib(path: Path, layout: Layout) -> Iterator[VCF]:
    """cyvcf2's reader on the file (past a byte-order mark), closed with any descriptor opened for it."""
    _quiet_htslib()
    fd = _past_bom(path) if layout is not None and layout.bom else None
    try:
        try:
            vcf = VCF(str(path) if fd is None else fd, lazy=True)
        except Exception as exc:  # OSError for unreadable, bare Exception for a bad header
            raise DataError(
                path,
                f"htslib cannot read this file as VCF/BCF ({exc})",
                hint="check it with `bcftools view -h`; it may be corrupt or not a VCF",
            ) from None
        try:
            yield vcf
        finally:
            vcf.close()
    finally:
        if fd is not None:
            with suppress(OSError):  # cyvcf2 leaves a descriptor it was given open
                os.close(fd)


def _past_bom(path: Path) -> int:
    """A file descriptor on the file's text after its byte-order mark, which htslib cannot read.

    A plain file is opened and positioned past the 3 bytes. A compressed one is decompressed into
    an anonymous in-memory file (a memfd, or an unnamed temporary file where there is none), so
    that no named copy of patients' genotypes is left on disk.
    """
    if not is_gzip(path):
        fd = os.open(path, os.O_RDONLY)
        os.lseek(fd, len(BOM), os.SEEK_SET)
        return fd
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is not None:
        fd = memfd_create("genofed-vcf")
    else:
        with tempfile.TemporaryFile() as spool:
            fd = os.dup(spool.fileno())
    with open_binary(path) as source, os.fdopen(os.dup(fd), "wb") as target:
        source.read(len(BOM))
        while chunk := source.read(1 << 20):
            target.write(chunk)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _check_header_parsed(path: Path, vcf: VCF, layout: VcfText) -> None:
    """htslib drops a meta-information line it cannot parse, with only a message on stderr (which is
    silenced), and must see the samples the Python pass saw: compare both."""
    if list(vcf.samples) != layout.samples:
        raise DataError(
            path,
            f"htslib reads {len(vcf.samples)} samples from the #CHROM line, genofed {len(layout.samples)}",
            location=f"line {layout.header_lines}",
            hint="check the header with `bcftools view -h`; a broken line above #CHROM may swallow it",
        )
    parsed = [line for line in vcf.raw_header.splitlines() if line.startswith("##")]
    added = (
        0 if any(line.startswith("##FILTER=<ID=PASS,") for line in layout.meta) else 1
    )  # htslib's own PASS
    if len(set(parsed)) < len(set(layout.meta)) + added:  # htslib keeps one of two identical lines
        kept = set(parsed)
        lost = next((n for n, line in enumerate(layout.meta, start=1) if line not in kept), None)
        raise DataError(
            path,
            "htslib could not parse a header line" + (f": {layout.meta[lost - 1][:80]!r}" if lost else ""),
            location=f"line {lost}" if lost else "header",
            hint="fix or remove the line; structured lines look like "
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        )


def _explain_failure(path: Path, layout: Layout, number: int, samples: list[str]) -> DataError:
    """Why htslib could not parse record `number`: re-read that line in Python and look."""
    if layout is None:
        return DataError(
            path,
            "htslib could not decode this BCF record",
            location=f"record {number}",
            hint="the file may be truncated or corrupt; check it with `bcftools view`",
        )
    if number > layout.records:
        return DataError(
            path,
            "htslib failed past the last line",
            location=f"line {layout.line(layout.records)}",
            hint="the file may be corrupt; check it with `bcftools view`",
        )
    lineno = layout.line(number)
    return _explain_line(path, lineno, (_raw_line(path, lineno) or "").split("\t"), samples)


def _explain_line(path: Path, lineno: int, fields: list[str], samples: list[str]) -> DataError:
    where = f"line {lineno}"
    if len(fields) >= 5:
        where += f" (variant {_safe_id(fields)})"
    keys = fields[8].split(":") if len(fields) > 8 else []
    if "GT" in keys:
        gt = keys.index("GT")
        for sample, value in zip(samples, fields[9:], strict=False):
            call = value.split(":")[gt] if len(value.split(":")) > gt else ""
            if not GT_CALL.match(call):
                return DataError(
                    path,
                    f"genotype {call!r} is not a valid call",
                    location=f"{where}, sample {sample}",
                    hint=GT_HINT,
                )
    return DataError(
        path,
        f"htslib could not parse this line: {chr(9).join(fields)[:120]!r}",
        location=where,
        hint="check the line against the VCF specification; `bcftools view` shows htslib's reason",
    )


def _raw_line(path: Path, lineno: int) -> str | None:
    for number, line in iter_lines(path):
        if number == lineno:
            return line
    return None


def _raw_call(path: Path, layout: Layout, record: int, sample: int) -> str | None:
    """The genotype exactly as written in the file, for messages; None for BCF."""
    if layout is None:
        return None
    line = _raw_line(path, layout.line(record))
    if line is None:
        return None
    fields = line.split("\t")
    keys = fields[8].split(":")
    values = fields[9 + sample].split(":")
    return values[keys.index("GT")] if "GT" in keys and keys.index("GT") < len(values) else None


def _format_call(alleles: np.ndarray) -> str:
    return "/".join("." if a == -1 else str(int(a)) for a in alleles if a != -2)


def _where(layout: Layout, number: int) -> str:
    return f"record {number}" if layout is None else f"line {layout.line(number)}"


def _location(layout: Layout, number: int, variant_id: str) -> str:
    return f"{_where(layout, number)} (variant {variant_id})"


def _record_id(record: Variant, alts: list[str]) -> str:
    return make_variant_id(record.CHROM, record.POS, record.REF, ",".join(alts) or ".")


def _safe_id(fields: list[str]) -> str:
    try:
        return make_variant_id(fields[0], int(fields[1]), fields[3], fields[4])
    except ValueError:
        return ":".join([fields[0], fields[1], fields[3], fields[4]])
