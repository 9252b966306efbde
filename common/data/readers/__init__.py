"""Readers for the genotype and phenotype formats clinics really have.

Modules:

- `vcf`: VCF / BCF genotypes via cyvcf2 (htslib), GT field only.
- `plink`: PLINK 1 binary genotypes (.bed/.bim/.fam) via bed-reader; a PLINK 2 fileset
  (.pgen/.pvar/.psam) is refused here with the plink2 command that converts it.
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
from genofed.common.data.readers._files import check_container, examples, require_utf8_path
from genofed.common.data.readers.phenotypes import read_classes, read_covariates, read_phenotypes
from genofed.common.data.readers.plink import SUFFIXES as PLINK_SUFFIXES
from genofed.common.data.readers.plink import plink_prefix, read_plink, read_plink_samples
from genofed.common.data.readers.table import TABLE_SUFFIXES, read_genotype_table
from genofed.common.data.readers.vcf import read_vcf, read_vcf_samples
from genofed.common.data.variants import Sites
from genofed.common.errors import DataError

VCF_SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz", ".bcf")
#: A PLINK 2 fileset's files (the .pvar may be zstd-compressed), refused with the conversion command.
PLINK2_SUFFIXES = (".pgen", ".pvar", ".pvar.zst", ".psam")
ACCEPTED = (
    "VCF (.vcf, .vcf.gz, .vcf.bgz, .bcf), PLINK 1 (.bed/.bim/.fam or their prefix), "
    "tables (.csv, .tsv, .txt, optionally .gz, or .parquet)"
)


def is_vcf(path: str | Path) -> bool:
    """Whether `read_genotypes` reads `path` as a VCF/BCF (by its name, as it chooses its reader)."""
    return Path(path).name.lower().endswith(VCF_SUFFIXES)


def read_genotypes(path: str | Path, *, sites: Sites | None = None, **kwargs) -> GenotypeMatrix:
    """Read any supported genotype file, choosing the reader by suffix (keyword args go to it).

    By suffix rather than by content so that a mis-named file fails loudly in the reader that its
    name promises, with that format's specific message. `sites`: the positions the caller will use
    (a panel's, `panel_sites`); a VCF's records and a PLINK fileset's variants elsewhere are skipped
    unread (`read_vcf`, `read_plink`), so that a variant no model reads, such as a male's haploid
    chrX call, cannot refuse the file. The table reader reads every variant.
    """
    path = Path(path)
    require_utf8_path(path)
    if path.is_dir() and not path.with_name(path.name + ".bed").exists():  # else a PLINK prefix
        raise folder_error(path)
    name = path.name.lower()
    if is_vcf(path):
        return read_vcf(path, sites=sites, **kwargs)
    if path.suffix.lower() in PLINK_SUFFIXES or path.with_name(path.name + ".bed").exists():
        return read_plink(path, sites=sites, **kwargs)
    if name.endswith(TABLE_SUFFIXES):
        return read_genotype_table(path, **kwargs)
    _refuse_plink2(path)
    if path.is_file():
        check_container(path)  # calls.vcf.gz.gz, calls.zip: say what the file is, not just its name
    raise DataError(path, "unknown genotype file format", hint=f"genofed reads {ACCEPTED}")


def genotype_sample_ids(path: str | Path) -> list[str]:
    """The sample ids `read_genotypes(path)` reads, in its order, without decoding a genotype where
    the format allows: a VCF's header, a PLINK fileset's .fam; a table is read whole. For what needs
    a site's patients, not their genotypes: a ledger's binding before the genotypes are read, the
    phenotype rows a simulation's hospital leaves out. A file it reads may still be refused by
    `read_genotypes`."""
    path = Path(path)
    require_utf8_path(path)
    if is_vcf(path):
        return read_vcf_samples(path)
    if path.suffix.lower() in PLINK_SUFFIXES or path.with_name(path.name + ".bed").exists():
        return read_plink_samples(path)
    return read_genotypes(path).sample_ids


def _refuse_plink2(path: Path) -> None:
    """Name a PLINK 2 fileset (.pgen/.pvar/.psam, or their prefix) as such, with the conversion.

    It is the format a plink2 user most likely has, and "unknown genotype file format" does not say
    that one plink2 command makes the PLINK 1 fileset genofed reads.
    """
    lower = path.name.lower()
    suffix = next((s for s in PLINK2_SUFFIXES if lower.endswith(s)), None)
    if suffix is None and not path.with_name(path.name + ".pgen").exists():
        return
    prefix = path.with_name(path.name[: -len(suffix)]) if suffix else path
    raise DataError(
        path,
        "this is a PLINK 2 fileset (.pgen/.pvar/.psam), which genofed does not read",
        hint=f"convert it to PLINK 1 (.bed/.bim/.fam): plink2 --pfile {prefix} --make-bed --out {prefix}, "
        f"then give {prefix}.bed",
    )


def genotype_input_files(path: str | Path) -> list[Path]:
    """Every file `read_genotypes(path)` reads: for PLINK, the fileset's .bed, .bim and .fam however
    it is named (the prefix or any of the three); else the file itself.

    So that a command can refuse an output that would overwrite its own genotypes: comparing with
    the path as given misses `--genotypes x --out x.bed`.
    """
    path = Path(path)
    if is_vcf(path):  # the same order of choice as `read_genotypes`
        return [path]
    if path.suffix.lower() in PLINK_SUFFIXES or path.with_name(path.name + ".bed").exists():
        prefix = plink_prefix(path)
        return [prefix.with_name(prefix.name + suffix) for suffix in PLINK_SUFFIXES]
    return [path]


def folder_error(folder: Path) -> DataError:
    """The error for a folder given where a genotype file belongs, naming the files inside that could
    be the one meant: "unknown genotype file format" (what the suffix rule says of a folder) sends
    the user looking at a format, not at the path."""
    # genotype formats before tables, which are as often phenotypes or notes
    files = sorted(
        (p.name for p in folder.iterdir() if p.is_file() and _could_be_genotypes(p.name)),
        key=lambda name: (name.lower().endswith(TABLE_SUFFIXES), name),
    )
    if len(files) == 1:
        hint = f"give the file inside it: {folder / files[0]}"
    elif files:
        hint = f"give one of the files inside it ({examples(files)}), e.g. {folder / files[0]}"
    else:
        hint = f"give the genotype file itself; this folder holds none that genofed reads ({ACCEPTED})"
    return DataError(folder, "this is a folder, not a genotype file", hint=hint)


def _could_be_genotypes(name: str) -> bool:
    """A visible file whose suffix a genotype reader takes; a table named *pheno* is the phenotypes."""
    lower = name.lower()
    if lower.startswith(".") or lower.endswith((".bim", ".fam")):
        return False
    if lower.endswith(TABLE_SUFFIXES) and not lower.endswith(".parquet"):
        return "pheno" not in lower
    return lower.endswith((*VCF_SUFFIXES, ".bed", ".parquet"))


__all__ = [
    "ACCEPTED",
    "PLINK_SUFFIXES",
    "TABLE_SUFFIXES",
    "VCF_SUFFIXES",
    "folder_error",
    "genotype_input_files",
    "genotype_sample_ids",
    "is_vcf",
    "read_classes",
    "read_genotype_table",
    "read_genotypes",
    "read_covariates",
    "read_phenotypes",
    "read_plink",
    "read_vcf",
]
