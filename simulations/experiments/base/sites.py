"""The experiments' small sites: drawn from the simulated clinics, nested, written as clinics write.

For every (size, seed) of the grid an experiment writes one federation folder, OUT/sites/
n{size}-seed{seed}, holding a `size`-patient site per clinic (PLINK + phenotypes.csv) and the
panel. The sites are then read back through the hospitals' own loader, so the experiments test
the product's path, not a shortcut around it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from genofed.common.data.cohort import Cohort
from genofed.common.data.layout import PANEL, PHENOTYPES, TEST, TRUTH, hospital_folders
from genofed.common.data.loading import load_site
from genofed.common.data.panel import VariantPanel
from genofed.common.data.writers import write_plink
from genofed.common.errors import GenofedError
from genofed.common.util.atomic import write_text_atomic
from genofed.server.settings import RunSettings
from genofed.server.training_rule import resolve_settings


def check_sites_fit(sizes: tuple[int, ...], preset: str, clinics: tuple[str, ...] | None = None) -> None:
    """Refuse, before minutes of simulation rather than after, a site larger than its clinic.

    Args:
        sizes: the grid's site sizes.
        preset: the cohort preset the sites are drawn from.
        clinics: the clinics that act as the small site; None: every clinic of the preset.
    """
    from genofed.simulations.cohorts.presets import get_preset  # msprime comes with it

    hospitals = get_preset(preset).hospitals
    if clinics is None:
        smallest = min(c.n for c in hospitals)
        if max(sizes) > smallest:
            raise GenofedError(
                f"site size {max(sizes)} is larger than the smallest clinic of preset {preset} ({smallest})"
            )
        return
    smallest = min(c.n for c in hospitals if c.name in clinics)
    if max(sizes) > smallest:
        raise GenofedError(
            f"site size {max(sizes)} is larger than clinic(s) {', '.join(clinics)} of preset "
            f"{preset} ({smallest} patients)"
        )


def load_hospitals(cohorts: Path) -> dict[str, Cohort]:
    """Each clinic's data as the clinic exported it (its own variants and allele orientation):
    a site drawn from it is written the same way, and aligned to the panel by the site loader."""
    return {
        folder.name: load_site(folder.genotypes, folder.phenotypes).cohort
        for folder in hospital_folders(cohorts)
    }


def nested_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """A patient order whose every prefix keeps the clinic's case share: sites of 50, 100, 200
    and 400 with one seed are nested, so a bigger site only adds patients."""
    rng = np.random.default_rng(seed)
    cases, controls = (rng.permutation(np.flatnonzero(labels == v)) for v in (1, 0))
    share = len(cases) / len(labels)
    order, taken_cases = [], 0
    for k in range(1, len(labels) + 1):
        if taken_cases < len(cases) and (
            taken_cases < round(share * k) or len(order) - taken_cases >= len(controls)
        ):
            order.append(cases[taken_cases])
            taken_cases += 1
        else:
            order.append(controls[len(order) - taken_cases])
    return np.asarray(order)


def write_sites(folder: Path, hospitals: dict[str, Cohort], size: int, seed: int, cohorts: Path) -> None:
    """One federation folder of `size`-patient sites (PLINK + phenotypes.csv), one per clinic;
    nothing to do if the folder is complete (its panel is written last) but its simulation's
    truth.json, which marks the folder as simulated: its virtual hospitals then derive their
    secrets from the run's seed, so the experiment is reproducible and the driver's split is the
    hospitals' (real exports get random secrets, `client.site.site_secret`)."""
    if not (folder / TRUTH).exists() and (cohorts / TRUTH).exists():
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(folder / TRUTH, (cohorts / TRUTH).read_text())
    if (folder / PANEL).exists():
        return
    for name, cohort in hospitals.items():
        members = np.sort(nested_order(cohort.labels, seed)[:size])
        ids = [cohort.sample_ids[i] for i in members]
        write_plink(folder / name / "genotypes", cohort.dosages[members], ids, cohort.variant_ids)
        frame = cohort.covariates.iloc[members].copy()
        if "sex" in frame:  # the reader's 0 = male / 1 = female, written as text to stay unambiguous
            frame["sex"] = frame["sex"].map({0.0: "M", 1.0: "F"}).fillna("")
        frame.insert(0, "label", cohort.labels[members].astype(int))
        frame.insert(0, "sample_id", ids)
        write_text_atomic(folder / name / PHENOTYPES, frame.to_csv(index=False))
    write_text_atomic(folder / PANEL, (cohorts / PANEL).read_text())


def site_folders(
    out: Path,
    hospitals: dict[str, Cohort],
    cohorts: Path,
    sizes: tuple[int, ...],
    seeds: tuple[int, ...],
) -> Iterator[tuple[int, int, Path]]:
    """(size, seed, folder) for every cell of the grid, sizes outermost, each folder written
    (`write_sites`) just before it is handed out."""
    for size in sizes:
        for seed in seeds:
            folder = out / "sites" / f"n{size}-seed{seed}"
            write_sites(folder, hospitals, size, seed, cohorts)
            yield size, seed, folder


def site_settings(run: RunSettings, folder: Path, cohorts: Path, seed: int) -> RunSettings:
    """The run settings of the sites in `folder`: the experiment's `run`, quiet, tested on the
    simulation's test cohort, seeded per grid cell, every clinic required, the rule's values filled."""
    settings = replace(
        run,
        data_dir=str(folder),
        test_dir=str(cohorts / TEST),
        seed=seed,
        quiet=True,
        min_nodes=len(hospital_folders(folder)),
    )
    # every training setting concrete (the model's rule for those left at 0), since the experiments
    # also train reference models on their own, outside a federation
    return resolve_settings(settings, VariantPanel.load(folder / PANEL))
