"""The public reference panel the "reference" generator copies from: the cohorts folder's
`reference/` (phased people of the simulated population that no clinic, test cohort or source
holds; `genofed simulate-cohorts` writes it), read once per run on the federation panel's columns.

Nothing in it is a patient of any site, so reading it costs no privacy; what the generator takes
from a site is its one DP release (`common.synthetic.site_release`), charged in the arms.
"""

from __future__ import annotations

from pathlib import Path

from genofed.common.data.layout import REFERENCE
from genofed.common.errors import DataError, GenofedError
from genofed.common.synthetic.reference_panel import ReferencePanel, load_reference_panel

#: What `genofed simulate-cohorts` writes under reference/.
PANEL_VCF = "genotypes.vcf.gz"
POPULATIONS = "samples.tsv"


def load_public_panel(cohorts: Path, variant_ids: list[str]) -> ReferencePanel:
    """The cohorts folder's reference panel aligned to `variant_ids` (the federation panel's
    columns, which every site's data is aligned to).

    Raises:
        DataError: the folder has no reference/ (cohorts simulated before the panel existed, or
            a preset with `reference_size` 0): regenerate them or leave the generator out.
    """
    vcf = Path(cohorts) / REFERENCE / PANEL_VCF
    if not vcf.is_file():
        raise DataError(
            vcf,
            "the reference generator needs the cohorts' public reference panel, which is missing "
            "(cohorts simulated before `genofed simulate-cohorts` wrote reference/, or a preset without one)",
            hint="regenerate the cohorts into a new folder (genofed simulate-cohorts --preset PRESET --seed "
            "SEED --out NEW, then --cohorts NEW; or a new --out), or leave reference out of --generators",
        )
    table = vcf.parent / POPULATIONS
    return load_reference_panel(vcf, variant_ids, populations=table if table.is_file() else None)


def panel_for_site(
    panel: ReferencePanel, site_variant_ids: list[str], panel_variant_ids: list[str]
) -> ReferencePanel:
    """`panel` for one site: every site's cohort is aligned to the federation panel, so its columns
    are the panel's and the panel read once serves it as is (checked, never silently misaligned)."""
    if list(site_variant_ids) != list(panel_variant_ids):
        raise GenofedError(
            "internal: a site's variants differ from the federation panel's, so the reference panel read "
            "on the federation's columns does not fit it"
        )
    return panel
