"""One call from a site's files to a validated, panel-aligned cohort.

Both the hospital agent and the simulation use `load_site`, so simulated hospitals go through
exactly the code path a clinic's own files do.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from genofed.common.data.checks import (
    check_cohort,
    join_cohort,
    phenotypes_without_genotypes,
    summarize_cohort,
)
from genofed.common.data.cohort import Cohort
from genofed.common.data.panel import MIN_COVERAGE, Alignment, VariantPanel, align_to_panel
from genofed.common.data.readers import genotype_sample_ids, read_genotypes, read_phenotypes
from genofed.common.data.variants import panel_sites
from genofed.common.errors import DataWarning


@dataclass
class SiteData:
    """A site's cohort after every check, with what the checks had to say.

    `cohort` is panel-aligned when a panel was given; `site_summary` describes the data as the
    site handed it over (its own variants and missing calls), before alignment added the
    panel variants it lacks as missing.
    """

    cohort: Cohort
    site_summary: dict
    warnings: list[DataWarning] = field(default_factory=list)
    alignment: Alignment | None = None

    def summary(self) -> dict:
        """JSON-ready summary: counts, missingness, coverage and warnings; no per-sample data."""
        out = dict(self.site_summary)
        if self.alignment is not None:
            out["alignment"] = self.alignment.to_dict()
        out["warnings"] = [{"code": w.code, "message": w.message} for w in self.warnings]
        return out


def load_site(
    genotypes: str | Path,
    phenotypes: str | Path,
    *,
    panel: VariantPanel | str | Path | None = None,
    label_column: str = "label",
    min_samples: int = 20,
    min_coverage: float = MIN_COVERAGE,
) -> SiteData:
    """Read, join, check and (when a panel is given) align one site's data.

    Args:
        genotypes: VCF(.gz), PLINK 1 (.bed/.bim/.fam or prefix), or CSV/Parquet table.
        phenotypes: CSV with `sample_id`, the label column and optional covariates (sex and age;
            other columns are not read, and named in a warning). Every genotyped sample needs a
            row; rows of samples without genotypes are left out, with a warning.
        panel: the federation's variant panel (object or panel.tsv path). Without one, the
            site's own variants are kept as they are; with one, a VCF's records and a PLINK
            fileset's variants at positions outside it are skipped unread (`sites` of `read_vcf`
            and `read_plink`), so the checks and the summary are of the variants the model can use.
        label_column: name of the 0/1 disease column in the phenotype file.
        min_samples: fewer samples than this is refused: DP training on a handful of patients
            gives noise, not a model.
        min_coverage: share of panel variants the site must have (see `align_to_panel`).

    Raises:
        DataError: naming the file, the line or sample, and what to do.
    """
    if panel is not None and not isinstance(panel, VariantPanel):
        panel = VariantPanel.load(panel)
    # with a panel, only its positions are read: a record no model reads (a male's haploid chrX
    # call) refuses nothing
    matrix = read_genotypes(genotypes, sites=None if panel is None else panel_sites(panel.variant_ids))
    pheno = read_phenotypes(phenotypes, label_column=label_column)
    cohort = join_cohort(matrix, pheno)
    # the readers' notes: e.g. split multi-allelics, phenotype columns no model reads
    warnings = [DataWarning("reader", note) for note in [*matrix.notes, *pheno.notes]]
    # a registry's patients who were not genotyped: left out of the cohort, counted here
    warnings += phenotypes_without_genotypes(matrix.sample_ids, matrix.source, pheno)
    warnings += check_cohort(cohort, min_samples=min_samples)
    site_summary = summarize_cohort(cohort)
    if panel is None:
        return SiteData(cohort, site_summary, warnings)
    aligned, alignment = align_to_panel(
        cohort.dosages,
        cohort.variant_ids,
        panel,
        source=cohort.genotype_source,
        min_coverage=min_coverage,
    )
    cohort = replace(cohort, dosages=aligned, variant_ids=list(panel.variant_ids))
    if alignment.absent:
        warnings.append(
            DataWarning(
                "panel_coverage",
                f"{alignment.absent} of {alignment.panel_variants} panel variants are absent "
                "from this site and will be imputed from the panel allele frequency",
            )
        )
    return SiteData(cohort, site_summary, warnings, alignment)


def site_patients(genotypes: str | Path, phenotypes: str | Path, *, label_column: str = "label") -> list[str]:
    """The sample ids of the cohort `load_site` makes of these files (the genotyped samples with a
    phenotype row, in genotype-file order), without reading a genotype where the format allows
    (`genotype_sample_ids`): what binds a ledger to a site's patients before its genotypes are read.
    Not the phenotype file's ids: a registry export lists patients who were not genotyped, whom
    `load_site` leaves out, so those ids would bind a ledger to other patients than `hospital
    check` binds it to. The phenotype file is read in full, so a refusal comes early."""
    rows = set(read_phenotypes(phenotypes, label_column=label_column).sample_ids)
    return [sample for sample in genotype_sample_ids(genotypes) if sample in rows]
