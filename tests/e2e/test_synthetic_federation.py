"""Synthetic data in a federation on Flower's simulation engine: each virtual site generates its
cohort (its ledger charged), trains on real + synthetic records, and the report says who used
what. The ClientApp's side alone is in tests/unit/client/test_synthetic_training.py."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from helpers.synthetic import PERMISSIVE

from genofed.client.synth import SynthOptions
from genofed.common.privacy.ledger import DECLARED_PUBLIC, LEDGER_FILE, PrivacyLedger
from genofed.server.settings import RunSettings


@pytest.fixture(scope="module")
def federation(simulated_cohorts) -> Path:
    """The session's small cohorts, seed 21 (read only: ledgers and synthetic cohorts are written
    to each test's own folders)."""
    return simulated_cohorts(21)


pytestmark = pytest.mark.usefixtures("flower_task_identity")


def test_simulate_with_synthetic_data_generates_charges_and_reports_per_site(
    federation, tmp_path, monkeypatch
):
    """The whole path on Flower's simulation engine: each virtual site generates its cohort (its
    ledger charged), trains on real + synthetic, and the report says who used what."""
    import functools

    import genofed.simulations.local.synthetic_sites as synthetic_sites
    from genofed.server.report import render_markdown
    from genofed.simulations.local.simulate import simulate

    monkeypatch.setattr(
        synthetic_sites, "SynthOptions", functools.partial(SynthOptions, epochs=3, thresholds=PERMISSIVE)
    )
    settings = RunSettings(
        data_dir=str(federation),
        out_dir=str(tmp_path / "run"),
        rounds=2,
        epsilon=8.0,
        quiet=True,
        synthetic_ratio=0.5,
        synthetic_epsilon=2.0,
    )
    results = simulate(settings, references=False)
    synthetic = results["synthetic"]
    assert synthetic["ratio"] == 0.5 and synthetic["generator_epsilon"] == 2.0
    for name, site in results["sites"].items():
        assert synthetic["sites"][name]["passed"]
        assert site["synthetic"] == round(
            0.5 * site["train"]
        )  # what the site trained with, from its own reply
        # under DP what the report shows follows from public values: the count from the declared
        # training size, and not which checks failed nor the spurious rate (read from patients)
        record = synthetic["sites"][name]
        assert record["records_generated"] == math.ceil(0.5 * site["train"]) + 1
        assert record["failed_checks"] is None and record["spurious_association_rate"] is None
        ledger = PrivacyLedger(tmp_path / "run" / "privacy-ledgers" / name / LEDGER_FILE)
        assert any(c.plan_id.startswith("synth-") for c in ledger.charges)
        # the verdict that decided the batch's use is listed as declared public, at epsilon 0
        declared = [c for c in ledger.charges if c.kind == DECLARED_PUBLIC]
        assert len(declared) == 1 and declared[0].steps == 0 and "(passed)" in declared[0].note
        assert ledger.epsilon(1e-5) <= 8.0 + 1e-6 and results["epsilon"][name] == pytest.approx(
            ledger.epsilon(1e-5)
        )
    assert "## Synthetic data" in render_markdown(results, {})


def test_simulate_with_reference_synthetic_data_copies_the_federation_s_public_panel(
    federation, tmp_path, monkeypatch
):
    """`--synthetic-generator reference`: every virtual site copies the federation folder's
    public panel (reference/), its one release charged to its ledger within the site's epsilon."""
    import functools

    import genofed.simulations.local.synthetic_sites as synthetic_sites
    from genofed.simulations.local.simulate import simulate

    monkeypatch.setattr(
        synthetic_sites, "SynthOptions", functools.partial(SynthOptions, thresholds=PERMISSIVE)
    )
    settings = RunSettings(
        data_dir=str(federation),
        out_dir=str(tmp_path / "run"),
        rounds=1,
        epsilon=8.0,
        quiet=True,
        synthetic_ratio=0.5,
        synthetic_epsilon=2.0,
        synthetic_generator="reference",
    )
    results = simulate(settings, references=False)
    assert results["synthetic"]["generator"] == "reference"
    for name in results["sites"]:
        ledger = PrivacyLedger(tmp_path / "run" / "privacy-ledgers" / name / LEDGER_FILE)
        release = [c for c in ledger.charges if c.plan_id.startswith("synth-reference-")]
        assert [(c.sample_rate, c.steps) for c in release] == [(1.0, 1)]
        assert ledger.epsilon(1e-5) <= 8.0 + 1e-6
