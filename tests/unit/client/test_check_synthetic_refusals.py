"""`genofed hospital check --synthetic` refuses what the running site's training would refuse
(outside audit of synthetic data, finding 1).

It used to look at `passed` and `records_written` only, so a batch made without DP at a site with a
finite budget, another clinic's batch on variants the site's panel lacks, or a DP batch charged to
another ledger passed the check: its verdict went into this site's ledger and audit log as a
"declared-public" release and the folder was bound in hospital.json, and then every training
request failed (`check_end_to_end`) or the site could not load its data (`load_synthetic`). Now
`check` and `start` run those same calls first (`synthetic_use.require_trainable_batch`) and refuse
in one line naming the folder, before anything is declared, charged, bound or written.

The batches are written directly (validation.json + records the loader reads), as
test_synthetic_public_count.py does: no generator is trained.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genofed.cli.main import main
from genofed.client.agent.keys import init_site
from genofed.client.synth import SUMMARY_FILE
from genofed.client.synthetic_use import RECORDS_DIGESTS, records_digests
from genofed.common.data.layout import hospital_folders
from genofed.common.data.panel import VariantPanel
from genofed.common.data.writers import write_vcf
from genofed.common.privacy.ledger import DECLARED_PUBLIC, LEDGER_FILE, Charge, PrivacyLedger

RECORDS = 40
PLAN = "synth-vae-0123456789abcdef-0-cafe"  # the batch's charge, as `genofed synth --epsilon` names it


@pytest.fixture(scope="module")
def federation(simulated_cohorts) -> Path:
    return simulated_cohorts(21)


def write_batch(
    folder: Path,
    variant_ids: list[str],
    *,
    epsilon: float | None = None,
    ledger_plan: str | None = None,
) -> Path:
    """A `genofed synth` output that passed validation, with RECORDS records on `variant_ids`; made
    with DP (`epsilon`, charged as `ledger_plan`) or without (None)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    ids = [f"SYN{i + 1:06d}" for i in range(RECORDS)]
    write_vcf(folder / "genotypes.vcf.gz", rng.integers(0, 3, (RECORDS, len(variant_ids))), ids, variant_ids)
    labels = rng.integers(0, 2, RECORDS)
    pd.DataFrame({"sample_id": ids, "label": labels}).to_csv(folder / "phenotypes.csv", index=False)
    summary = {
        "passed": True,
        "failed_checks": [],
        "records_generated": RECORDS,
        "records_dropped_as_too_close": 0,
        "records_written": RECORDS,
        "epsilon": epsilon,
        "ledger_plan": ledger_plan,
        "generator": {"kind": "vae"},
        RECORDS_DIGESTS: records_digests(folder),  # as `genofed synth` binds its records
    }
    (folder / SUMMARY_FILE).write_text(json.dumps(summary))
    return folder


def charge_generator(state: Path, plan: str) -> None:
    """What `genofed synth --epsilon 1 --state-dir SITE/state` leaves in the site's ledger: the
    generator's DP-SGD charged under its plan (epsilon about 1.2, within the site's budget of 3:
    a re-check refuses a budget the ledger already exceeds)."""
    ledger = PrivacyLedger(state / LEDGER_FILE)
    ledger.charge(Charge(plan, 0, noise_multiplier=2.0, sample_rate=0.1, steps=20, epsilon_after=1.2))


def snapshot(*folders: Path) -> dict[str, bytes]:
    """Every file under `folders`, by path: what a refused check must leave byte-identical."""
    return {str(p): p.read_bytes() for folder in folders for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def site(federation: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    """A site checked once without synthetic data at a finite budget (as an operator does before
    `genofed synth --state-dir SITE/state`), and the `hospital check` argv to check it again."""
    data = hospital_folders(federation)[0]
    folder = tmp_path / "site"
    init_site(folder, "rostov")
    args = ["hospital", "check", str(folder), "--genotypes", str(data.genotypes)]
    args += ["--phenotypes", str(data.phenotypes), "--panel", str(federation / "panel.tsv")]
    args += ["--epsilon-budget", "3"]
    assert main(args) == 0
    return folder, args


def _refused(argv: list[str], site_dir: Path, capsys) -> str:
    """Run `argv`, assert it was refused with one error line and left the site and the ledger index
    unchanged; returns the line."""
    home = Path(os.environ["GENOFED_HOME"])
    before = snapshot(site_dir, home)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert snapshot(site_dir, home) == before  # hospital.json, state/, audit.jsonl, the index
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_check_refuses_a_batch_made_without_dp_at_a_site_with_a_finite_budget(site, federation, capsys):
    folder, args = site
    panel = VariantPanel.load(federation / "panel.tsv")
    charge_generator(folder / "state", PLAN)  # a ledger with charges: nothing may be added to it
    batch = write_batch(folder.parent / "no-dp", panel.variant_ids)
    line = _refused([*args, "--synthetic", str(batch), "--synthetic-ratio", "0.5"], folder, capsys)
    assert str(batch.resolve()) in line and "WITHOUT differential privacy" in line
    assert f"genofed synth --epsilon E --state-dir {folder.resolve() / 'state'}" in line


def test_check_refuses_another_clinics_batch_on_variants_the_panel_lacks(site, federation, capsys):
    folder, args = site
    panel = VariantPanel.load(federation / "panel.tsv")
    elsewhere = [f"22:{10_000_000 + 100 * i}:A:G" for i in range(len(panel))]  # none in this panel
    assert not set(elsewhere) & set(panel.variant_ids)
    charge_generator(folder / "state", PLAN)  # even charged here, it is no batch of this panel
    batch = write_batch(folder.parent / "clinicG", elsewhere, epsilon=1.0, ledger_plan=PLAN)
    line = _refused([*args, "--synthetic", str(batch)], folder, capsys)
    # the reader finds none of the panel's positions in the batch, and names both sides' contigs
    assert str(batch.resolve()) in line and "no panel variant is in this file" in line
    assert "configure this site without synthetic data" in line


def test_check_refuses_a_dp_batch_charged_to_another_ledger(site, federation, capsys):
    folder, args = site
    panel = VariantPanel.load(federation / "panel.tsv")
    charge_generator(folder.parent / "other-state", PLAN)  # `synth --state-dir` of another folder
    batch = write_batch(folder.parent / "dp-elsewhere", panel.variant_ids, epsilon=1.0, ledger_plan=PLAN)
    line = _refused([*args, "--synthetic", str(batch)], folder, capsys)
    assert str(batch.resolve()) in line and f"plan {PLAN}) is not in this site's ledger" in line


def test_check_binds_a_dp_batch_charged_to_this_site_and_start_rechecks_it(
    site, federation, tmp_path, capsys
):
    from genofed.client.agent.launch import AgentOptions, prepare_start
    from genofed.client.synthetic_use import SyntheticCohortError, declare_verdict
    from genofed.common.deployment.flower_env import SUPEREXEC_SECRET
    from genofed.server.service.pki import write_pki

    folder, args = site
    panel = VariantPanel.load(federation / "panel.tsv")
    charge_generator(folder / "state", PLAN)
    batch = write_batch(tmp_path / "dp-here", panel.variant_ids, epsilon=1.0, ledger_plan=PLAN)
    assert main([*args, "--synthetic", str(batch), "--synthetic-ratio", "0.5"]) == 0
    assert "declared public: that this batch passed validation" in capsys.readouterr().out
    recorded = json.loads((folder / "hospital.json").read_text())["data"]["synthetic"]
    checked = hashlib.sha256((batch / SUMMARY_FILE).read_bytes()).hexdigest()  # the batch declared
    assert recorded == {"path": str(batch.resolve()), "ratio": 0.5, "validation_sha256": checked}
    charges = PrivacyLedger(folder / "state" / LEDGER_FILE).charges
    assert [c.kind for c in charges] == ["train", DECLARED_PUBLIC]
    # the folder's batch replaced by one made without DP after the check: start refuses it before
    # it writes its secret, first as a batch whose verdict check did not declare
    # (test_synthetic_batch_binding.py), and, its verdict declared, as made without DP (an older
    # check bound such batches too)
    summary = json.loads((batch / SUMMARY_FILE).read_text())
    (batch / SUMMARY_FILE).write_text(json.dumps(dict(summary, epsilon=None, ledger_plan=None)))
    write_pki(tmp_path / "pki", ["localhost"])
    options = AgentOptions("localhost:9", tmp_path / "pki" / "ca.pem")
    with pytest.raises(
        SyntheticCohortError, match="not the one `genofed hospital check --synthetic` declared"
    ):
        prepare_start(folder, options)
    declare_verdict(batch, folder / "state" / LEDGER_FILE, delta=1e-5, by="the test's configuration")
    with pytest.raises(SyntheticCohortError, match="WITHOUT differential privacy"):
        prepare_start(folder, options)
    assert not (folder / SUPEREXEC_SECRET).exists()


def test_a_site_without_dp_may_train_with_a_batch_made_without_dp(site, federation, capsys):
    folder, args = site
    panel = VariantPanel.load(federation / "panel.tsv")
    batch = write_batch(folder.parent / "no-dp", panel.variant_ids)
    # --epsilon-budget inf: no DP, its choice (the DPO's, recorded: the site was checked at 3)
    argv = [*args[:-1], "inf", "--change-budget", "no DP at this site", "--synthetic", str(batch)]
    assert main(argv) == 0
    recorded = json.loads((folder / "hospital.json").read_text())["data"]["synthetic"]
    assert recorded["path"] == str(batch.resolve())
