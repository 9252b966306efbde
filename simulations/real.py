"""A pool of real genotypes: the 1000 Genomes haplotypes shipped in the shared data folder.

Semi-synthetic cohorts (real genotypes, simulated disease) test everything that must hold on
real population structure and LD rather than on a simulation's.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from genofed.common.errors import GenofedError
from genofed.common.variants import make_variant_id

_HAPT_ZIP = "805_SNP_1000G_real.hapt.zip"
_LEGEND = "805_SNP.legend"
_SAMPLES = "samples.tsv"


class SharedDataMissing(GenofedError):
    """The shared 1000 Genomes folder is not where genofed looks for it."""


def shared_data_dir() -> Path:
    """`$GENOFED_SHARED/data/1000g`, else `<repo>/../shared/data/1000g` (a checkout's sibling)."""
    env = os.environ.get("GENOFED_SHARED")
    base = Path(env) if env else Path(__file__).resolve().parents[2] / "shared"
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
        raise GenofedError(f"{folder / _HAPT_ZIP}: {values.shape[1]} SNP columns but {len(legend)} legend rows")
    haps = values.reshape(-1, 2, values.shape[1]).transpose(0, 2, 1)
    chrom = legend["id"].str.split(":").str[0]
    ids = [make_variant_id(c, p, a0, a1) for c, p, a0, a1 in zip(chrom, legend["position"], legend["a0"], legend["a1"])]
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
        offset_groups=dict(zip(populations, info["superpopulation"].to_numpy(dtype=str))),
        male=(info["sex"].to_numpy() == "male").astype(np.int8),
    )
