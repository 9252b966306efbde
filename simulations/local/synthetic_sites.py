"""Synthetic cohorts for the simulation's virtual hospitals (`genofed simulate --synthetic-ratio`).

Before Flower starts, every virtual site does what a deployed hospital does with `genofed synth`:
it trains a generator on its own patients (under DP charged to its own ledger, in its state
dir), validates the batch and keeps it only if it passes; under DP its ledger lists that verdict
as declared public by the simulation's configuration (whether the site trains with the batch is
an exact bit read from its patients, `synthetic_use.declare_verdict`). Its ClientApp then trains on real +
synthetic rows (genofed.client.synthetic_use). A rerun of the same settings reuses the cohorts
(and so charges nothing twice); different generator settings in the same run folder are refused.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from genofed.client.site import (
    SiteConfig,
    derived_seed,
    load_site_tensors,
    resolve_site,
    site_secret,
    split_seed,
)
from genofed.client.synth import SUMMARY_FILE, SynthOptions, synthesize
from genofed.client.synthetic_use import declare_verdict
from genofed.common.data.layout import REFERENCE, hospital_folders
from genofed.common.data.readers import is_vcf
from genofed.common.errors import GenofedError
from genofed.common.privacy.ledger import LEDGER_FILE
from genofed.common.synthetic.pipeline import seeded_dp_noise
from genofed.common.util.progress import Progress
from genofed.server.settings import RunSettings

#: Extra records generated beyond ratio x patients: without DP validation drops the ones too close
#: to a real patient (about 5 % by construction, see checks.leakage.record_failures).
DROP_MARGIN = 1.1


def _simulated_vcf(site: SiteConfig, genotypes: Path) -> bool:
    """Whether the site's genotypes are a VCF genofed simulated (phased by construction)."""
    return site.secret_from_seed and is_vcf(genotypes)


def prepare_synthetic(settings: RunSettings, say: Progress) -> dict[str, dict[str, Any]]:
    """Generate (or reuse) each virtual site's synthetic cohort; returns results.json's per-site summary."""
    sites = {}
    for i, folder in enumerate(hospital_folders(settings.data_dir, test_dir=settings.test_dir)):
        site = resolve_site({"partition-id": i}, settings.to_config())
        assert site.synthetic is not None  # settings.synthetic_ratio > 0
        real = load_site_tensors(
            replace(site, synthetic=None, synthetic_ratio=0.0), split_seed(site, settings.seed)
        )
        # under DP the count follows from the declared (public) training size, and no record is
        # dropped: counted from the exact training rows, results.json told them (a privacy review)
        options = SynthOptions(
            n=(
                math.ceil(settings.synthetic_ratio * real.public_train) + 1
                if settings.private
                else math.ceil(settings.synthetic_ratio * len(real.train_y) * DROP_MARGIN) + 1
            ),
            epsilon=settings.synthetic_epsilon if settings.private else math.inf,
            delta=settings.delta,
            state_dir=str(site.state_dir),
            seed=derived_seed(site_secret(site, settings.seed), "synthetic") % 2**31,
            generator=settings.synthetic_generator,
            label_column=settings.label_column,
            # under DP the generator samples at the rate of the site's declared (public) size
            declared_size=(real.public_train + real.public_validation) if settings.private else None,
            # under DP `auto` models dosages (its decision would read the patients); a federation
            # genofed simulated (its truth.json: `secret_from_seed`) writes phased VCFs, so they
            # are declared phased and their haplotypes stay modelled; other data stay on `auto`
            phase="phased" if settings.private and _simulated_vcf(site, folder.genotypes) else "auto",
            **_reference_panel(settings),
        )
        summary_path = site.synthetic / SUMMARY_FILE
        if summary_path.is_file():
            summary = json.loads(summary_path.read_text())
            _check_reusable(summary, options, site.synthetic)
            say(f"{folder.name}: reusing its synthetic cohort in {site.synthetic}")
        else:
            say(f"{folder.name}: {making(options)}")
            # the generator's DP noise from the virtual site's secret (derived from --seed): a
            # deployed hospital's is secret randomness, a simulation's rerun must be identical
            noise = np.random.default_rng(derived_seed(site_secret(site, settings.seed), "synthetic-noise"))
            with seeded_dp_noise(noise):
                summary = synthesize(folder.genotypes, folder.phenotypes, site.synthetic, options)
        sites[folder.name] = _site_summary(summary)
        if settings.private:  # whether the site trains with its batch: an exact bit, listed as declared
            declare_verdict(
                site.synthetic,
                site.state_dir / LEDGER_FILE,
                delta=settings.delta,
                by="the simulation's configuration (--synthetic-ratio)",
            )
        verdict = (
            "passed"
            if summary["passed"]
            else "FAILED (" + ", ".join(summary["failed_checks"]) + "): not used"
        )
        say(f"{folder.name}: synthetic batch {verdict}")
    return sites


def making(options: SynthOptions) -> str:
    """What a virtual site does before its batch is validated, in words: the reference generator
    trains nothing (it copies the public panel's haplotypes at its patients' class frequencies), so
    "training its REFERENCE generator" misdescribed it."""
    private = f", DP epsilon {options.epsilon:g}" if not math.isinf(options.epsilon) else ", no DP"
    if options.generator == "reference":
        return (
            "making its reference generator's batch: the public panel's haplotypes at its own patients' "
            f"class frequencies{private}"
        )
    return f"training its {options.generator.upper()} generator on its own patients{private}"


def _reference_panel(settings: RunSettings) -> dict[str, str]:
    """The reference generator's public panel: the federation folder's `reference/` (written by
    `genofed simulate-cohorts`: people of the simulated population that no hospital holds)."""
    if settings.synthetic_generator != "reference":
        return {}
    folder = Path(settings.data_dir) / REFERENCE
    panel = folder / "genotypes.vcf.gz"
    if not panel.is_file():
        raise GenofedError(
            f"--synthetic-generator reference needs a public reference panel, {panel}, which is missing; "
            "genofed simulate-cohorts writes one (or choose --synthetic-generator vae)"
        )
    table = folder / "samples.tsv"
    return {"reference": str(panel), "reference_populations": str(table) if table.is_file() else ""}


def _check_reusable(summary: dict[str, Any], options: SynthOptions, folder) -> None:
    same = (
        summary.get("generator", {}).get("kind") == options.generator
        and summary.get("records_generated") == options.n
        and summary.get("epsilon") == (None if math.isinf(options.epsilon) else options.epsilon)
    )
    if not same:
        raise GenofedError(
            f"{folder} holds a synthetic cohort made with other settings (or by an earlier genofed, which "
            "sized a DP batch from the exact training rows); use a new --out folder (its ledger has "
            "already been charged for the old one)"
        )


def _site_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """A site's synthetic batch for results.json and the report. Under DP only what the site
    releases: the verdict (declared public), the record counts (from its public size) and the
    epsilon; which checks failed and the spurious-association rate are read from its patients
    outside the generator's release, so they stay in the batch's own validation.json (a privacy
    review: several uncharged bits and a real-valued statistic reached the federation's report)."""
    assoc = summary.get("validation", {}).get("associations", {})
    private = summary["epsilon"] is not None
    return {
        "passed": summary["passed"],
        "failed_checks": None if private else summary["failed_checks"],
        "records_generated": summary["records_generated"],
        "records_dropped_as_too_close": summary["records_dropped_as_too_close"],
        "records_accepted": summary["records_written"],
        "spurious_association_rate": None if private else assoc.get("spurious_rate"),
        "epsilon": summary["epsilon"],
    }
