"""The on-disk layout of a federation folder: one sub-folder per hospital, a test cohort, the panel.

`simulate-cohorts` writes it the way clinics hand data over; the simulation mode's virtual
hospitals find their own folder in it; and reading every cohort back through `load_site` (the
hospital agent's own loader) proves simulated files pass the checks real data must pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from genofed.common.data.loading import SiteData, load_site
from genofed.common.data.panel import VariantPanel
from genofed.common.errors import DataError

GENOTYPES = "genotypes.vcf.gz"
GENOTYPES_PLINK = "genotypes.bed"  # a clinic that exports PLINK 1 (.bed/.bim/.fam)
PHENOTYPES = "phenotypes.csv"
PANEL = "panel.tsv"
TRUTH = "truth.json"
#: A simulated federation's stand-in for a clinician's list of known disease genes (a BED file; a
#: file, not a folder, so never taken for a hospital).
GENE_LIST = "known_genes.bed"
TEST = "test"
#: Folders of a federation directory that are not hospitals.
NOT_HOSPITALS = frozenset({TEST, "sources"})


@dataclass(frozen=True)
class SiteFolder:
    name: str
    genotypes: Path
    phenotypes: Path


def hospital_folders(federation_dir: str | Path) -> list[SiteFolder]:
    """Every hospital of a federation folder: sub-folders holding genotypes + phenotypes."""
    root = Path(federation_dir)
    if not root.is_dir():
        raise DataError(
            root, "federation folder not found", hint="create one with `genofed simulate-cohorts --out DIR`"
        )
    sites = [
        SiteFolder(d.name, genotypes, d / PHENOTYPES)
        for d in sorted(root.iterdir())
        if d.is_dir()
        and d.name not in NOT_HOSPITALS
        and not d.name.startswith(".")
        and (genotypes := genotype_file(d)) is not None
    ]
    if not sites:
        raise DataError(
            root,
            f"no hospital folders (sub-folders with {GENOTYPES} or {GENOTYPES_PLINK}, and {PHENOTYPES})",
            hint="point at the folder `genofed simulate-cohorts` wrote",
        )
    return sites


def genotype_file(folder: Path) -> Path | None:
    """The cohort's genotype file in `folder` (VCF first, then PLINK), or None."""
    for name in (GENOTYPES, GENOTYPES_PLINK):
        if (folder / name).exists():
            return folder / name
    return None


def load_federation(federation_dir: str | Path, *, min_samples: int = 20) -> dict[str, SiteData]:
    """Load and check every hospital and the test cohort, aligned to the federation's panel."""
    root = Path(federation_dir)
    panel = VariantPanel.load(root / PANEL)
    folders = [*hospital_folders(root), SiteFolder(TEST, root / TEST / GENOTYPES, root / TEST / PHENOTYPES)]
    return {
        f.name: load_site(f.genotypes, f.phenotypes, panel=panel, min_samples=min_samples) for f in folders
    }
