"""Every arm at every chosen clinic of one (size, seed) federation folder, each (epsilon, arm
family) a cached piece under the folder's utility/."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from genofed.common.data.panel import VariantPanel
from genofed.common.errors import GenofedError
from genofed.common.model.network import ModelConfig
from genofed.common.synthetic.reference_panel import ReferencePanel
from genofed.common.util.progress import Progress
from genofed.server.evaluation import TestCohort
from genofed.server.settings import RunSettings
from genofed.simulations.experiments.base import cached, epsilon_key, site_settings
from genofed.simulations.experiments.synthetic_utility.arms import real_row
from genofed.simulations.experiments.synthetic_utility.config import SynthUtilityConfig
from genofed.simulations.experiments.synthetic_utility.public_panel import panel_for_site
from genofed.simulations.experiments.synthetic_utility.site_data import (
    SiteData,
    holdout_reference,
    load_site_data,
)
from genofed.simulations.experiments.synthetic_utility.site_generator import (
    GeneratorOverBudget,
    generator_epochs,
    synthetic_rows,
)
from genofed.simulations.local.simulate import simulated_sites


def site_rows(
    folder: Path,
    cohorts: Path,
    panel: VariantPanel,
    test: TestCohort,
    size: int,
    seed: int,
    config: SynthUtilityConfig,
    available: dict[str, str | None],
    say: Progress,
    references: list[dict[str, Any]],
    reference: ReferencePanel | None = None,
    skipped: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Every arm at every chosen clinic of one (size, seed) federation folder; each (epsilon, arm
    family) is a cached piece, so a generator that becomes available later is run on the rerun.
    `reference`: the public panel on the federation panel's columns (the reference generator's).
    `skipped` collects the (generator, epsilon) pieces that cannot fit their budget share."""
    base = site_settings(config.run, folder, cohorts, seed)
    sites = simulated_sites(base)
    names = list(sites)
    rows: list[dict[str, Any]] = []
    for name in config.clinics or names:
        if name not in sites:
            raise GenofedError(f"no clinic {name!r} in preset {config.preset}; clinics: {', '.join(names)}")
        site = load_site_data(base, names.index(name), sites[name], panel)
        clinic = _Clinic(
            folder,
            name,
            site,
            ModelConfig(n_variants=sites[name].n_variants),
            size,
            seed,
            None if reference is None else panel_for_site(reference, site.variant_ids, panel.variant_ids),
        )
        references += cached(
            folder / "utility" / f"{name}-holdout-reference.json",
            lambda site=site, name=name: [holdout_reference(site, seed, size, name)],
        )
        for epsilon in config.epsilons:
            rows += _epsilon_rows(
                clinic, replace(base, epsilon=epsilon), test, panel, config, available, say, skipped
            )
    return rows


@dataclass
class _Clinic:
    """One chosen clinic of a (size, seed) folder, as its pieces need it."""

    folder: Path
    name: str
    site: SiteData
    model_config: ModelConfig
    size: int
    seed: int
    reference: ReferencePanel | None  # the public panel on the site's columns, or None


def _epsilon_rows(
    clinic: _Clinic,
    settings: RunSettings,
    test: TestCohort,
    panel: VariantPanel,
    config: SynthUtilityConfig,
    available: dict[str, str | None],
    say: Progress,
    skipped: list[dict[str, Any]] | None,
) -> list[dict[str, Any]]:
    """The clinic's real-only piece and one piece per available generator at one privacy level."""
    name, size, seed = clinic.name, clinic.size, clinic.seed
    tag = f"{name}-eps{settings.epsilon:g}"
    rows = cached(
        clinic.folder / "utility" / f"{tag}-real.json",
        lambda: [real_row(clinic.site, settings, clinic.model_config, test, name, size, seed)],
    )
    for kind in config.generators:
        if available[kind] is not None:
            continue
        say(f"sites of {size}, seed {seed}, {name}, epsilon {settings.epsilon:g}: {kind}")
        ratios = "_".join(f"{r:g}" for r in config.ratios)
        piece = f"{tag}-{kind}-r{ratios}-e{generator_epochs(kind, config) or 'default'}"
        try:
            rows += _generator_piece(clinic, settings, test, panel, config, kind, piece)
        except GeneratorOverBudget as exc:
            say(f"  skipped: {exc}")
            if skipped is not None:
                skipped.append(
                    {
                        "generator": kind,
                        "epsilon": epsilon_key(settings.epsilon),
                        "size": size,
                        "reason": str(exc),
                    }
                )
    return rows


def _generator_piece(
    clinic: _Clinic,
    settings: RunSettings,
    test: TestCohort,
    panel: VariantPanel,
    config: SynthUtilityConfig,
    kind: str,
    piece: str,
) -> list[dict[str, Any]]:
    """One generator's cached piece at one privacy level (trained once, every ratio)."""
    return cached(
        clinic.folder / "utility" / f"{piece}.json",
        partial(
            synthetic_rows,
            clinic.site,
            settings,
            clinic.model_config,
            test,
            panel,
            kind,
            clinic.name,
            clinic.size,
            clinic.seed,
            config,
            reference=clinic.reference,
        ),
    )
