"""The number of synthetic records a site trains with is public (privacy audit 2, finding 3).

It leaves the site in the describe reply (`sizes.synthetic`), in every train reply
(`synthetic-examples`) and through DP-SGD's rate and steps (public rows = public training size +
synthetic). It used to be min(ratio x public training size, records that passed a non-DP
validation on the patients): one patient's removal flipped it from 96 to 0. It is now
ratio x public training size whatever the batch holds (resampled when fewer passed); a deployed
site refuses a failed or empty batch at `hospital check`/`start`, and at runtime with one fixed
message; a simulated site trains on its real patients when its batch failed.

The synthetic folders are written directly (validation.json + records the loader accepts), not
generated: the count must not depend on what the generator made."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from helpers.synthetic import write_batch

from genofed.client.agent.check import check_site
from genofed.client.agent.keys import init_site
from genofed.client.agent.launch import node_config
from genofed.client.app import make_client_app
from genofed.client.site import declared_split, load_site_tensors, resolve_site
from genofed.client.synth import SUMMARY_FILE
from genofed.client.synthetic_use import (
    UNUSABLE_BATCH,
    SyntheticCohort,
    SyntheticCohortError,
    declare_verdict,
    fit_to_count,
    synthetic_count,
)
from genofed.common.data.layout import hospital_folders
from genofed.common.data.loading import load_site
from genofed.common.data.panel import VariantPanel
from genofed.common.data.writers import write_vcf
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.privacy.ledger import DECLARED_PUBLIC, LEDGER_FILE, PrivacyLedger

DECLARED = 100  # the site's public cohort size: 80 training patients
RATIO = 2.0


@pytest.fixture(scope="module")
def federation(simulated_cohorts) -> Path:
    return simulated_cohorts(21)


@pytest.fixture(scope="module")
def neighbours(federation: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Hospital 0's cohort and its neighbour without its first patient: (genotypes, phenotypes)."""
    site = hospital_folders(federation)[0]
    cohort = load_site(site.genotypes, site.phenotypes).cohort
    folder = tmp_path_factory.mktemp("minus-one")
    keep = np.arange(1, len(cohort.sample_ids))
    write_vcf(
        folder / "genotypes.vcf.gz",
        cohort.dosages[keep],
        [cohort.sample_ids[i] for i in keep],
        cohort.variant_ids,
    )
    phenotypes = pd.read_csv(site.phenotypes)
    phenotypes[phenotypes["sample_id"] != cohort.sample_ids[0]].to_csv(folder / "phenotypes.csv", index=False)
    return {
        "full": (site.genotypes, site.phenotypes),
        "minus one": (folder / "genotypes.vcf.gz", folder / "phenotypes.csv"),
    }


pytestmark = pytest.mark.usefixtures("flower_task_identity")


def _node_config(federation: Path, data: tuple[Path, Path], state: Path, synthetic: Path) -> dict:
    """A deployed site's node config, its batch's verdict declared in its ledger as `hospital check
    --synthetic` declares it (a batch nobody declared is refused: test_synthetic_batch_binding.py)."""
    declare_verdict(synthetic, state / LEDGER_FILE, delta=1e-5, by="the test's configuration")
    return {
        "genotypes": str(data[0]),
        "phenotypes": str(data[1]),
        "panel": str(federation / "panel.tsv"),
        "state-dir": str(state),
        "epsilon-budget": math.inf,
        "declared-size": DECLARED,
        "synthetic": str(synthetic),
        "synthetic-ratio": RATIO,
    }


def _context(config: dict) -> Context:
    return Context(run_id=1, node_id=7, node_config=config, state=RecordDict(), run_config={})


def _describe(config: dict) -> Message:
    return make_client_app()(
        Message(RecordDict(), message_type=MessageType.QUERY, dst_node_id=7), _context(config)
    )


def _train(federation: Path, config: dict) -> Message:
    model = ModelConfig(n_variants=len(VariantPanel.load(federation / "panel.tsv")))
    settings = ConfigRecord(
        {
            "server-round": 1,
            "num-rounds": 1,
            "plan-id": "fed-1",
            "local-epochs": 1,
            "batch-size": 32,
            "lr": 0.03,
            "clip": 1.0,
            "epsilon": math.inf,
            "delta": 1e-5,
            "model": json.dumps(model.to_dict()),
        }
    )
    content = RecordDict({"arrays": ArrayRecord(build_model(model, seed=0).state_dict()), "config": settings})
    return make_client_app()(
        Message(content, message_type=MessageType.TRAIN, dst_node_id=7), _context(config)
    )


def _metrics(reply: Message) -> dict:
    assert not reply.has_error(), reply.error.reason
    return dict(next(iter(reply.content.metric_records.values())))


def test_neighbouring_cohorts_report_and_train_with_the_same_public_count(federation, neighbours, tmp_path):
    """Two neighbouring cohorts (one patient removed), each with its own batch holding a different
    number of accepted records (more and fewer than the count): both report and train with
    ratio x public training size, and so have the same DP-SGD rows."""
    panel = VariantPanel.load(federation / "panel.tsv")
    public = synthetic_count(RATIO, declared_split(DECLARED)[0])
    assert public == 160
    batches = {
        "full": write_batch(tmp_path / "a", panel, 200),
        "minus one": write_batch(tmp_path / "b", panel, 30),
    }
    seen = {}
    for name, data in neighbours.items():
        config = _node_config(federation, data, tmp_path / f"state-{name}", batches[name])
        sizes = _metrics(_describe(config))
        train = _metrics(_train(federation, config))
        seen[name] = (sizes["synthetic"], train["synthetic-examples"], sizes["train"])
    assert seen["full"] == seen["minus one"] == (public, public, 80), seen


def test_a_deployed_site_answers_a_failed_or_empty_batch_with_one_fixed_message(
    federation, neighbours, tmp_path
):
    panel = VariantPanel.load(federation / "panel.tsv")
    failed = write_batch(tmp_path / "failed", panel, 50, passed=False)
    empty = write_batch(tmp_path / "empty", panel, 0)
    reasons = set()
    for i, batch in enumerate((failed, empty)):
        config = _node_config(federation, neighbours["full"], tmp_path / f"state{i}", batch)
        for reply in (_describe(config), _train(federation, config)):
            assert reply.has_error()
            reasons.add(reply.error.reason)
    assert reasons == {UNUSABLE_BATCH}  # nothing says which checks failed, nor failed from empty
    assert "ld_correlation" not in UNUSABLE_BATCH


def test_a_simulated_site_trains_on_its_patients_when_its_batch_failed(federation, tmp_path):
    run_config = {"data-dir": str(federation), "ledger-dir": str(tmp_path), "synthetic-ratio": RATIO}
    site = resolve_site({"partition-id": 0}, run_config)
    panel = VariantPanel.load(federation / "panel.tsv")
    write_batch(site.synthetic, panel, 30, passed=False)
    assert load_site_tensors(site, 5).n_synthetic == 0  # not used, as before
    other = write_batch(tmp_path / "ok", panel, 30)
    data = load_site_tensors(dataclasses.replace(site, synthetic=other), 5)
    assert data.n_synthetic == synthetic_count(RATIO, data.public_train) > 30  # resampled up to it


def test_resampling_keeps_every_record_then_draws_the_rest_from_the_secret_seed():
    cohort = SyntheticCohort(
        Path("."), np.arange(10, dtype=np.float32)[:, None], np.zeros(10, np.float32), None, None, "vae"
    )
    assert len(fit_to_count(cohort, 4, 1)) == 4 and list(fit_to_count(cohort, 4, 1).features[:, 0]) == [
        0,
        1,
        2,
        3,
    ]
    big = fit_to_count(cohort, 25, 1)
    assert len(big) == 25 and set(big.features[:10, 0]) == set(range(10))
    assert np.array_equal(big.features, fit_to_count(cohort, 25, 1).features)  # deterministic per seed
    assert not np.array_equal(big.features, fit_to_count(cohort, 25, 2).features)
    assert synthetic_count(0.4, 100) == 40 and synthetic_count(2.0, 80) == 160


def test_hospital_check_and_start_refuse_a_failed_or_empty_batch(federation, tmp_path):
    from genofed.client.agent.launch import AgentOptions, prepare_start
    from genofed.common.deployment.flower_env import SUPEREXEC_SECRET
    from genofed.server.service.pki import write_pki

    write_pki(tmp_path / "pki", ["localhost"])

    panel = VariantPanel.load(federation / "panel.tsv")
    data = hospital_folders(federation)[0]
    site = tmp_path / "site"
    init_site(site, "rostov")
    for batch, reason in (
        (write_batch(tmp_path / "failed", panel, 40, passed=False), r"failed validation \(ld_corr"),
        (write_batch(tmp_path / "empty", panel, 0), "holds 0 records"),
    ):
        with pytest.raises(SyntheticCohortError, match=reason + ".*configure this site without synthetic"):
            check_site(
                site,
                data.genotypes,
                data.phenotypes,
                federation / "panel.tsv",
                ledger_index=tmp_path / "index",
                synthetic=batch,
            )
        assert "data" not in json.loads((site / "hospital.json").read_text())  # nothing recorded
    good = write_batch(tmp_path / "good", panel, 40)  # made without DP: a site without DP may use it
    bound = check_site(
        site,
        data.genotypes,
        data.phenotypes,
        federation / "panel.tsv",
        epsilon_budget=math.inf,
        ledger_index=tmp_path / "index",
        synthetic=good,
        synthetic_ratio=0.5,
    )
    assert {k: bound["synthetic"][k] for k in ("path", "ratio")} == {
        "path": str(good.resolve()),
        "ratio": 0.5,
    }
    recorded = json.loads((site / "hospital.json").read_text())
    config = node_config(site, recorded)
    assert config["synthetic"] == str(good.resolve()) and config["synthetic-ratio"] == 0.5
    # the batch replaced by a failed one after check: start refuses before it writes its secret, as
    # a batch nobody declared, in words that do not say it failed (test_synthetic_batch_binding.py)
    (good / SUMMARY_FILE).write_text(json.dumps({"passed": False, "failed_checks": ["privacy_loss"]}))
    with pytest.raises(
        SyntheticCohortError, match="not the one `genofed hospital check --synthetic` declared"
    ):
        prepare_start(
            site, AgentOptions("localhost:9", tmp_path / "pki" / "ca.pem", ledger_index=tmp_path / "index")
        )
    assert not (site / SUPEREXEC_SECRET).exists()


def test_hospital_check_takes_the_synthetic_folder_on_its_command_line(federation, tmp_path, capsys):
    from genofed.cli.main import main

    panel = VariantPanel.load(federation / "panel.tsv")
    data = hospital_folders(federation)[0]
    site = tmp_path / "site"
    init_site(site, "rostov")
    args = ["hospital", "check", str(site), "--genotypes", str(data.genotypes)]
    args += ["--phenotypes", str(data.phenotypes), "--panel", str(federation / "panel.tsv")]
    args += ["--epsilon-budget", "inf"]  # the batches are made without DP: refused under a finite budget
    failed = write_batch(tmp_path / "failed", panel, 40, passed=False)
    assert main([*args, "--synthetic", str(failed)]) == 2
    assert "failed validation" in capsys.readouterr().err
    good = write_batch(tmp_path / "good", panel, 40)
    assert main([*args, "--synthetic", str(good), "--synthetic-ratio", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "synthetic records: 0.5 per declared training patient" in out
    assert "declared public: that this batch passed validation" in out
    recorded = json.loads((site / "hospital.json").read_text())
    assert node_config(site, recorded)["synthetic-ratio"] == 0.5
    # The verdict leaves the site (a site training with the batch reports a synthetic count): its
    # ledger lists it as declared public, at epsilon 0, once however often the site is checked.
    assert main([*args, "--synthetic", str(good), "--synthetic-ratio", "0.5"]) == 0
    charges = PrivacyLedger(site / "state" / LEDGER_FILE).charges
    assert [(c.kind, c.steps, c.epsilon_after) for c in charges] == [(DECLARED_PUBLIC, 0, 0.0)]
    assert str(good.resolve()) in charges[0].note and "(passed)" in charges[0].note
