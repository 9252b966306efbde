"""Writers for the files a clinic hands over: VCF genotypes, a phenotype table, PLINK 1 binary.

Simulated hospitals must be written as exactly the files a real clinic would give genofed, so
that the simulation goes through the same readers and checks as real data. Every writer goes
through `atomic_path`: a crash never leaves a half-written file under the final name.

The VCF is written through htslib (via cyvcf2), so a `.vcf.gz` path gets real BGZF that
bcftools and tabix can index, and carries no timestamp: the same data gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from genofed.common.data.cohort import MISSING
from genofed.common.data.variants import Variant, parse_variant_id
from genofed.common.util.atomic import atomic_path

#: Variants formatted per batch: bounds the temporary text buffer for big matrices.
_VCF_BATCH = 4096

#: 4-byte GT fields (tab included) for unphased dosages MISSING, 0, 1, 2.
_UNPHASED_GT = np.frombuffer(b"./.\t0/0\t0/1\t1/1\t", dtype=np.uint8).reshape(4, 4)

#: Text only: numbers are refused, because a 0/1 sex code has no agreed direction (the reader
#: takes 0 = male, PLINK 1 = male), and a silently flipped covariate is worse than an error.
_SEX_CODES = {"F": "F", "M": "M", "f": "F", "m": "M", "female": "F", "male": "M"}


def write_vcf(
    path: str | Path,
    genotypes: np.ndarray,
    sample_ids: Sequence[str],
    variant_ids: Sequence[str],
    *,
    phased: bool | None = None,
) -> None:
    """Write a GT-only VCF 4.2; BGZF-compressed when `path` ends in `.gz`.

    Args:
        genotypes: either alt-allele dosages, shape (samples, variants), values 0/1/2 or
            `MISSING`; or haplotypes, shape (samples, variants, 2), values 0/1 or `MISSING`.
        variant_ids: `chrom:pos:ref:alt`, sorted by position within each chromosome and each
            chromosome in one block (what tabix needs).
        phased: write `0|1` rather than `0/1`. Defaults to True for haplotypes; dosages carry
            no phase, so asking for phased dosages is an error.
    """
    genotypes = np.asarray(genotypes)
    variants = [parse_variant_id(v) for v in variant_ids]
    _check_shapes(genotypes, sample_ids, variants)
    if phased is None:
        phased = genotypes.ndim == 3
    if phased and genotypes.ndim != 3:
        raise ValueError("phased output needs haplotypes (samples x variants x 2), not dosages")
    contigs = _contig_order(variants)
    header = _vcf_header(contigs, sample_ids)

    import cyvcf2  # heavy C extension: imported only when a VCF is really written

    mode = "wz" if str(path).endswith(".gz") else "w"
    with atomic_path(path) as tmp:
        writer = cyvcf2.Writer.from_string(str(tmp), header, mode=mode)
        try:
            for start in range(0, len(variants), _VCF_BATCH):
                stop = min(start + _VCF_BATCH, len(variants))
                fields = _gt_fields(genotypes[:, start:stop], phased)
                for offset, variant in enumerate(variants[start:stop]):
                    line = _record_prefix(variant) + fields[offset].tobytes().decode("ascii")
                    writer.write_record(writer.variant_from_string(line))
        finally:
            writer.close()


def _check_shapes(genotypes: np.ndarray, sample_ids: Sequence[str], variants: list[Variant]) -> None:
    if genotypes.ndim not in (2, 3) or (genotypes.ndim == 3 and genotypes.shape[2] != 2):
        raise ValueError(f"genotypes must be samples x variants (x 2), got shape {genotypes.shape}")
    if genotypes.shape[0] != len(sample_ids) or genotypes.shape[1] != len(variants):
        raise ValueError(
            f"genotypes are {genotypes.shape[0]} x {genotypes.shape[1]} but there are "
            f"{len(sample_ids)} sample ids and {len(variants)} variant ids"
        )
    if len(set(sample_ids)) != len(sample_ids):
        raise ValueError("sample ids must be unique")
    if any(not s or any(c.isspace() for c in s) for s in sample_ids):
        raise ValueError("sample ids must be non-empty and contain no whitespace")


def _contig_order(variants: list[Variant]) -> list[str]:
    """Chromosomes in file order; refuse input that tabix could not index."""
    contigs: list[str] = []
    last_pos = 0
    for variant in variants:
        if not contigs or contigs[-1] != variant.chrom:
            if variant.chrom in contigs:
                raise ValueError(f"variants of chromosome {variant.chrom} are not in one block")
            contigs.append(variant.chrom)
            last_pos = 0
        if variant.pos < last_pos:
            raise ValueError(f"variant {variant.id} is out of position order")
        last_pos = variant.pos
    return contigs


def _vcf_header(contigs: list[str], sample_ids: Sequence[str]) -> str:
    lines = ["##fileformat=VCFv4.2", "##source=genofed"]
    lines += [f"##contig=<ID={c}>" for c in contigs]
    lines.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    columns = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *sample_ids]
    lines.append("\t".join(columns))
    return "\n".join(lines) + "\n"


def _record_prefix(variant: Variant) -> str:
    return f"{variant.chrom}\t{variant.pos}\t{variant.id}\t{variant.ref}\t{variant.alt}\t.\tPASS\t.\tGT\t"


def _gt_fields(block: np.ndarray, phased: bool) -> np.ndarray:
    """GT text of a block of variants as bytes: one row per variant, fields tab-separated.

    Formatting with numpy lookups instead of per-genotype Python strings keeps a
    300 x 20,000 hospital at about a second; htslib's parsing and compression dominate.
    """
    if block.ndim == 2:
        codes = block.T.astype(np.int16)
        if ((codes < MISSING) | (codes > 2)).any():
            raise ValueError("dosages must be 0, 1, 2 or MISSING (-1)")
        fields = _UNPHASED_GT[codes - MISSING]
    else:
        haps = block.transpose(1, 0, 2).astype(np.int16)
        if ((haps != 0) & (haps != 1) & (haps != MISSING)).any():
            raise ValueError("haplotype alleles must be 0, 1 or MISSING (-1)")
        alleles = np.where(haps == MISSING, ord("."), haps + ord("0")).astype(np.uint8)
        fields = np.empty(haps.shape[:2] + (4,), dtype=np.uint8)
        fields[..., 0] = alleles[..., 0]
        fields[..., 1] = ord("|") if phased else ord("/")
        fields[..., 2] = alleles[..., 1]
        fields[..., 3] = ord("\t")
    # drop the tab after the last sample of each line
    return fields.reshape(fields.shape[0], -1)[:, :-1]


def write_phenotypes(
    path: str | Path,
    sample_ids: Sequence[str],
    labels: np.ndarray,
    covariates: pd.DataFrame,
) -> None:
    """Write `sample_id,label,<covariates...>` as CSV, sex as the text `F`/`M`.

    Sex must be given as `F`/`M` (or female/male): a numeric code is refused (see `_SEX_CODES`).
    `covariates` rows are in `sample_ids` order.
    """
    labels = np.asarray(labels)
    if len(labels) != len(sample_ids) or len(covariates) != len(sample_ids):
        raise ValueError("one label and one covariate row per sample are required")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 (control) or 1 (case)")
    frame = pd.DataFrame({"sample_id": list(sample_ids), "label": labels.astype(int)})
    for column in covariates.columns:
        values = covariates[column].to_numpy()
        if column == "sex":
            try:
                values = [_SEX_CODES[v] for v in values]
            except KeyError as exc:
                raise ValueError(f"sex value {exc.args[0]!r} is not F/M (or female/male)") from None
        frame[column] = values
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n")


def write_plink(
    prefix: str | Path,
    dosages: np.ndarray,
    sample_ids: Sequence[str],
    variant_ids: Sequence[str],
) -> None:
    """Write PLINK 1 binary `prefix.bed/.bim/.fam`, as `plink2 --make-bed` would from the VCF.

    PLINK counts A1: here A1 = ALT and A2 = REF, so the .bed holds alt-allele dosages and
    reads back with the same orientation as the VCF. Sex and phenotype in the .fam are left
    unknown: they live in phenotypes.csv, one source of truth.
    """
    from bed_reader import to_bed  # compiled extension: imported only when used

    dosages = np.asarray(dosages)
    variants = [parse_variant_id(v) for v in variant_ids]
    _check_shapes(dosages, sample_ids, variants)
    if dosages.ndim != 2:
        raise ValueError("PLINK files hold dosages (samples x variants), not haplotypes")
    val = np.where(dosages == MISSING, -127, dosages).astype(np.int8)
    properties = {
        "fid": list(sample_ids),
        "iid": list(sample_ids),
        "chromosome": [v.chrom for v in variants],
        "sid": [v.id for v in variants],
        "bp_position": [v.pos for v in variants],
        "allele_1": [v.alt for v in variants],
        "allele_2": [v.ref for v in variants],
    }
    prefix = Path(prefix)
    paths = {ext: prefix.with_name(prefix.name + ext) for ext in (".bed", ".bim", ".fam")}
    with (
        atomic_path(paths[".bed"]) as bed,
        atomic_path(paths[".bim"]) as bim,
        atomic_path(paths[".fam"]) as fam,
    ):
        to_bed(bed, val, properties=properties, count_A1=True, fam_filepath=fam, bim_filepath=bim)
