"""Readers for the genotype and phenotype formats clinics really have.

Modules:

- `vcf`: VCF / BCF genotypes via cyvcf2 (htslib), GT field only.
- `plink`: PLINK 1 binary genotypes (.bed/.bim/.fam) via bed-reader.
- `table`: dense genotype tables (CSV / TSV / Parquet), one row per sample.
- `phenotypes`: phenotype tables (`sample_id`, a binary label, optional covariates) and class
  columns for multiclass tasks.
- `_files`: the file checks every reader shares (missing, damaged, mis-encoded files).
- `_vcf_text`: the Python pass over a VCF's text that htslib's reading is checked against.

`read_genotypes` (here) chooses the genotype reader by the file's suffix.
"""

from __future__ import annotations

from pathlib import Path

from genofed.common.data.cohort import GenotypeMatrix
from genofed.common.data.readers.phenotypes import read_classes, read_covariates, read_phenotypes
from genofed.common.data.readers.plink import SUFFIXES as PLINK_SUFFIXES
from genofed.common.data.readers.plink import read_plink
from genofed.common.data.readers.table import TABLE_SUFFIXES, read_genotype_table
from genofed.common.data.readers.vcf import read_vcf
from genofed.common.errors import DataError

VCF_SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz", ".bcf")
ACCEPTED = (
    "VCF (.vcf, .vcf.gz, .vcf.bgz, .bcf), PLINK 1 (.bed/.bim/.fam or their prefix), "
    "tables (.csv, .tsv, .txt, optionally .gz, or .parquet)"
)


def read_genotypes(path: str | Path, **kwargs) -> GenotypeMatrix:
    """Read any supported genotype file, choosing the reader by suffix (keyword args go to it).

    By suffix rather than by content so that a mis-named file fails loudly in the reader that its
    name promises, with that format's specific message.
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith(VCF_SUFFIXES):
        return read_vcf(path, **kwargs)
    if path.suffix.lower() in PLINK_SUFFIXES or path.with_name(path.name + ".bed").exists():
        return read_plink(path, **kwargs)
    if name.endswith(TABLE_SUFFIXES):
        return read_genotype_table(path, **kwargs)
    raise DataError(path, "unknown genotype file format", hint=f"genofed reads {ACCEPTED}")


__all__ = [
    "ACCEPTED",
    "PLINK_SUFFIXES",
    "TABLE_SUFFIXES",
    "VCF_SUFFIXES",
    "read_classes",
    "read_genotype_table",
    "read_genotypes",
    "read_covariates",
    "read_phenotypes",
    "read_plink",
    "read_vcf",
]
