"""A pool of real genotypes: the 1000 Genomes haplotypes shipped in the shared data folder.

Semi-synthetic cohorts (real genotypes, simulated disease) test everything that must hold on
real population structure and LD rather than on a simulation's.
"""

from __future__ import annotations

import gzip
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from genofed.common.data.variants import make_variant_id
from genofed.common.errors import GenofedError

_HAPT_ZIP = "805_SNP_1000G_real.hapt.zip"
_LEGEND = "805_SNP.legend"
_SAMPLES = "samples.tsv"


class SharedDataMissing(GenofedError):
    """The shared 1000 Genomes folder is not where genofed looks for it."""


def shared_data_dir() -> Path:
    """`$GENOFED_SHARED/data/1000g`, else `<repo>/../shared/data/1000g` (a checkout's sibling)."""
    env = os.environ.get("GENOFED_SHARED")
    base = Path(env) if env else Path(__file__).resolve().parents[3] / "shared"
    folder = base / "data" / "1000g"
    missing = [name for name in (_HAPT_ZIP, _LEGEND, _SAMPLES) if not (folder / name).is_file()]
    if missing:
        raise SharedDataMissing(
            f"the 1000 Genomes data is not in {folder} (missing {', '.join(missing)}); "
            "set GENOFED_SHARED to the shared folder that holds data/1000g"
        )
    return folder


@dataclass
class RealPool:
    """1000 Genomes individuals with their phased haplotypes on the 805-SNP panel."""

    haps: np.ndarray  # individuals x variants x 2, int8, 1 = alt
    variant_ids: list[str]
    alt_freq: np.ndarray
    populations: np.ndarray
    sample_names: np.ndarray
    offset_groups: dict[str, str] = field(default_factory=dict)
    male: np.ndarray | None = None

    def haplotypes(self, individuals: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
        rows = self.haps[np.asarray(individuals)]
        return rows if columns is None else rows[:, np.asarray(columns)]


def load_1000g(folder: Path | None = None) -> RealPool:
    """Read the 805-SNP haplotypes, legend and sample table into a pool ordered by chrom, pos.

    Allele coding: the legend is in IMPUTE format (`id position a0 a1`), where a haplotype value
    0 is allele a0 and 1 is allele a1; ids `chrom:pos:a0:a1` make a1 the ALT, so the alt dosage
    is the sum of a person's two haplotype values. (The README's "0 = minor" does not hold per
    SNP in this file: for most SNPs value 0 is the commoner allele.)
    """
    folder = folder or shared_data_dir()
    legend = pd.read_csv(folder / _LEGEND, sep=" ")
    with zipfile.ZipFile(folder / _HAPT_ZIP) as archive:
        member = archive.namelist()[0]
        rows = [line.split() for line in archive.read(member).decode("ascii").splitlines() if line.strip()]
    names = [row[1] for row in rows]
    if names[0::2] != [n[:-2] + "_A" for n in names[1::2]] or not all(n.endswith("_B") for n in names[1::2]):
        raise GenofedError(f"{folder / _HAPT_ZIP}: haplotype rows are not in _A/_B pairs")
    values = np.array([row[2:] for row in rows], dtype=np.int8)
    if values.shape[1] != len(legend):
        raise GenofedError(
            f"{folder / _HAPT_ZIP}: {values.shape[1]} SNP columns but {len(legend)} legend rows"
        )
    haps = values.reshape(-1, 2, values.shape[1]).transpose(0, 2, 1)
    chrom = legend["id"].str.split(":").str[0]
    ids = [
        make_variant_id(c, p, a0, a1)
        for c, p, a0, a1 in zip(chrom, legend["position"], legend["a0"], legend["a1"], strict=False)
    ]
    order = np.lexsort((legend["position"].to_numpy(), chrom.astype(int).to_numpy()))
    haps = np.ascontiguousarray(haps[:, order])
    samples = pd.read_csv(folder / _SAMPLES, sep="\t").set_index("sample_id")
    sample_names = np.array([n[:-2] for n in names[0::2]])
    info = samples.loc[sample_names]
    populations = info["population"].to_numpy(dtype=str)
    return RealPool(
        haps=haps,
        variant_ids=[ids[i] for i in order],
        alt_freq=haps.mean(axis=(0, 2)),
        populations=populations,
        sample_names=sample_names,
        offset_groups=dict(zip(populations, info["superpopulation"].to_numpy(dtype=str), strict=False)),
        male=(info["sex"].to_numpy() == "male").astype(np.int8),
    )


_REGION_VCF = "chr1_region_162snp.vcf.gz"


@dataclass
class RegionGenotypes:
    """The genotypes of `chr1_region_162snp.vcf.gz`: alt-allele dosages for every file, and the
    phased haplotypes only when every call in the file is phased.

    Why haplotypes may be None: the shared file is named a "contiguous chr1 region" with "real
    linkage disequilibrium", but as shipped its 162 variants lie on chromosomes 1-22 and every call
    is unphased (`0/1`). A loader that invented a phase would fake exactly the haplotype structure
    the synthetic-data checks measure, so it reports what is there and `require_phased` refuses.
    """

    dosages: np.ndarray  # people x variants, int8 alt-allele count
    haplotypes: np.ndarray | None  # people x variants x 2, int8, 1 = alt; None when unphased
    sample_names: np.ndarray
    chromosomes: np.ndarray  # per variant, str
    positions: np.ndarray  # per variant, int64 base pairs
    variant_ids: list[str]

    @property
    def phased(self) -> bool:
        return self.haplotypes is not None

    @property
    def contiguous(self) -> bool:
        """One chromosome, i.e. a region where LD between the variants is real linkage."""
        return len(set(self.chromosomes.tolist())) == 1


def load_chr1_region(folder: Path | None = None, *, require_phased: bool = False) -> RegionGenotypes:
    """Read `chr1_region_162snp.vcf.gz` from the shared 1000 Genomes folder (REF = 0, ALT = 1).

    Missing calls, multi-allelic sites and non-diploid calls are refused (GenofedError): imputing
    here would add data the file does not hold. Phase: all calls phased -> haplotypes; all
    unphased -> dosages only (an error if `require_phased`); a mixture is refused, as it is a
    broken file. Parsed directly (2,504 x 162 GT fields): htslib would print a warning per contig
    for this file's header, which declares none.
    """
    folder = folder or shared_data_dir()
    path = Path(folder) / _REGION_VCF
    if not path.is_file():
        raise SharedDataMissing(
            f"{path} does not exist; set GENOFED_SHARED to the shared folder that holds data/1000g"
        )
    samples, alleles, phased, chroms, positions, ids = _read_region_rows(path)
    if not alleles:
        raise GenofedError(f"{path}: no variants")
    haps = np.stack(alleles, axis=1)  # samples x variants x 2
    phase = np.stack(phased, axis=1)
    _check_phase(path, phase, require_phased)
    return RegionGenotypes(
        dosages=haps.sum(axis=2).astype(np.int8),
        haplotypes=np.ascontiguousarray(haps) if phase.all() else None,
        sample_names=np.array(samples),
        chromosomes=np.array(chroms),
        positions=np.array(positions, dtype=np.int64),
        variant_ids=ids,
    )


def _read_region_rows(path: Path) -> tuple[list[str], list, list, list, list, list]:
    """The region VCF's sample names, and per variant: its (samples x 2) alleles, which calls are
    phased, its chromosome, position and variant id. Refuses multi-allelic sites and rows
    without one GT field per sample; `_parse_calls` refuses missing and non-diploid calls."""
    alleles, phased, chroms, positions, ids = [], [], [], [], []
    samples: list[str] = []
    with gzip.open(path, "rt") as handle:
        for line in handle:
            if line.startswith("##"):
                continue
            fields = line.rstrip("\n").split("\t")
            if line.startswith("#CHROM"):
                samples = fields[9:]
                continue
            chrom, pos, _id, ref, alt = fields[:5]
            where = f"{path.name}: {chrom}:{pos}"
            if "," in alt:
                raise GenofedError(f"{where} is not biallelic ({ref} -> {alt})")
            if len(fields) - 9 != len(samples) or not fields[8].startswith("GT"):
                raise GenofedError(f"{where}: expected a GT field for each of the {len(samples)} samples")
            gts = [value.split(":", 1)[0] for value in fields[9:]]
            row = _parse_calls(gts, where)
            alleles.append(row[:, :2])
            phased.append(row[:, 2].astype(bool))
            chroms.append(chrom)
            positions.append(int(pos))
            ids.append(make_variant_id(chrom, int(pos), ref, alt))
    return samples, alleles, phased, chroms, positions, ids


def _check_phase(path: Path, phase: np.ndarray, require_phased: bool) -> None:
    """Refuse a mixture of phased and unphased calls, and unphased calls when `require_phased`."""
    if phase.any() and not phase.all():
        raise GenofedError(
            f"{path}: {int((~phase).sum())} of {phase.size} calls are unphased, the rest phased"
        )
    if not phase.all() and require_phased:
        raise GenofedError(
            f"{path}: the calls are unphased (0/1, not 0|1), so there are no haplotypes to read"
        )


_CALLS = {f"{a}{sep}{b}": (int(a), int(b), int(sep == "|")) for a in "01" for b in "01" for sep in "/|"}


def _parse_calls(gts: list[str], where: str) -> np.ndarray:
    """GT strings -> (samples, 3) int8: allele 1, allele 2, phased flag. Only diploid 0/1 calls."""
    try:
        return np.array([_CALLS[gt] for gt in gts], dtype=np.int8)
    except KeyError:
        bad = [gt for gt in gts if gt not in _CALLS]
        kind = (
            "missing call(s); impute them first"
            if any("." in gt for gt in bad)
            else "call(s) that are not diploid 0/1"
        )
        raise GenofedError(f"{where}: {len(bad)} {kind} (e.g. {bad[0]!r})") from None
