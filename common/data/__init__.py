"""A site's data: the cohort model, readers and writers, the variant panel, checks and features.

Modules:

- `cohort`: the cohort data model every reader, check, simulator and trainer shares
  (`GenotypeMatrix`, `Phenotypes`, `Cohort`).
- `variants`: variant identifiers (`chrom:pos:ref:alt`), the key that aligns a site to the panel.
- `readers/`: the genotype (VCF, PLINK 1, tables) and phenotype formats clinics really have.
- `writers`: the same files written back: VCF, a phenotype table, PLINK 1.
- `panel`: the federation's variant panel, the fixed ordered input of the model, and the
  alignment of a cohort to it.
- `checks`: cross-file checks: do a site's genotypes match its phenotypes, is the cohort usable.
- `loading`: one call from a site's files to a checked, panel-aligned cohort (`load_site`).
- `layout`: the on-disk layout of a federation folder (one sub-folder per hospital, a test
  cohort, the panel).
- `features`: a panel-aligned cohort as the float32 matrix the shared model reads.
- `splits`: train/validation splits, keyed per patient or stratified.
- `regions`: a clinicians' gene list (BED or gene-region table) and the panel variants inside it.

The names of the numpy/pandas modules are imported here; those of `readers`, `checks`, `loading`
and `layout` load on first use, since the readers import cyvcf2 and bed-reader.
"""

from __future__ import annotations

from typing import Any

from genofed.common.data.cohort import DOSAGE_DTYPE, MISSING, Cohort, GenotypeMatrix, Phenotypes
from genofed.common.data.features import FeatureSpec, encode, encode_dosage_rows
from genofed.common.data.panel import Alignment, VariantPanel, align_to_panel, impute_dosages
from genofed.common.data.regions import GeneRegion, load_gene_regions, variants_in_regions, write_gene_regions
from genofed.common.data.splits import keyed_split, stratified_split
from genofed.common.data.variants import Variant, make_variant_id, normalize_chrom, parse_variant_id
from genofed.common.data.writers import write_phenotypes, write_plink, write_vcf

_READERS = {
    "read_classes",
    "read_genotype_table",
    "read_genotypes",
    "read_covariates",
    "read_phenotypes",
    "read_plink",
    "read_vcf",
}
_CHECKS = {"check_cohort", "join_cohort", "summarize_cohort"}
_LOADING = {"SiteData", "load_site"}
_LAYOUT = {"SiteFolder", "genotype_file", "hospital_folders", "load_federation"}


def __getattr__(name: str) -> Any:
    """The names of the modules that import the VCF and PLINK readers, imported on first use."""
    if name in _READERS:
        import genofed.common.data.readers as readers

        return getattr(readers, name)
    if name in _CHECKS:
        import genofed.common.data.checks as checks

        return getattr(checks, name)
    if name in _LOADING:
        import genofed.common.data.loading as loading

        return getattr(loading, name)
    if name in _LAYOUT:
        import genofed.common.data.layout as layout

        return getattr(layout, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DOSAGE_DTYPE",
    "MISSING",
    "Cohort",
    "GenotypeMatrix",
    "Phenotypes",
    "Variant",
    "make_variant_id",
    "normalize_chrom",
    "parse_variant_id",
    "write_phenotypes",
    "write_plink",
    "write_vcf",
    "Alignment",
    "VariantPanel",
    "align_to_panel",
    "impute_dosages",
    "FeatureSpec",
    "encode",
    "encode_dosage_rows",
    "keyed_split",
    "stratified_split",
    "GeneRegion",
    "load_gene_regions",
    "variants_in_regions",
    "write_gene_regions",
]
#: and every name `__getattr__` loads on first use
__all__ += sorted(_READERS | _CHECKS | _LOADING | _LAYOUT)
