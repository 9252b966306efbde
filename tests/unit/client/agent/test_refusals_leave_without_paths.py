"""What a deployed hospital's refusal tells the coordinator names the problem and the command to
run, never the site's local paths; the site's own log and audit log keep the full text.

Why: the refusals are worded for the hospital's operator (`/srv/h/data/pheno.csv changed since
`genofed hospital check` ...`, `/srv/h/synth: this synthetic batch is not the one ... declared
(... in this site's ledger /srv/h/site/state/privacy-ledger.json) ...`), and the same text went
to the coordinator as the error reply's reason. One rule (`genofed.client.outward_words`) rewrites
every error reply on its way out; these tests send Flower Messages through `make_client_app`, as
the deployed worker does, with the node config `hospital start` gives."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from pathlib import Path

import pytest
from flwr.app import Context, MessageType, RecordDict
from helpers.round_message import round_message
from helpers.synthetic import write_batch

import genofed.client.train_handler as train_handler
from genofed.client.agent.audit import read_audit
from genofed.client.agent.check import check_site
from genofed.client.agent.keys import init_site
from genofed.client.agent.launch import node_config
from genofed.client.app import REFUSED, make_client_app
from genofed.client.outward_words import OTHER_PATH, outward_reason
from genofed.common.data.layout import hospital_folders
from genofed.common.data.panel import VariantPanel
from genofed.common.errors import GenofedError
from genofed.common.model.network import ModelConfig, build_model

pytestmark = pytest.mark.usefixtures("flower_task_identity")


def _site(tmp_path: Path, cohorts: Path, *, synthetic: Path | None = None) -> tuple[Path, Path, Context]:
    """A site checked on its own copy of a hospital's files (and a synthetic batch, at a site
    without DP); returns the site folder, its phenotypes file and the ClientApp's context."""
    data = hospital_folders(cohorts)[0]
    own = tmp_path / "data"
    shutil.copytree(data.genotypes.parent, own)
    site = tmp_path / "site"
    init_site(site, "rostov")
    extra = {"synthetic": synthetic, "synthetic_ratio": 0.5, "epsilon_budget": math.inf} if synthetic else {}
    check_site(
        site,
        own / data.genotypes.name,
        own / data.phenotypes.name,
        cohorts / "panel.tsv",
        ledger_index=tmp_path / "home" / "ledgers.json",
        **extra,
    )
    config = node_config(site, json.loads((site / "hospital.json").read_text()))
    context = Context(run_id=1, node_id=7, node_config=config, state=RecordDict(), run_config={})
    return site, own / data.phenotypes.name, context


def _train(cohorts: Path, server_round: int = 1, epsilon: float = 8.0):
    model = ModelConfig(n_variants=len(VariantPanel.load(cohorts / "panel.tsv")), architecture="logistic")
    weights = build_model(model, seed=0).state_dict()
    return round_message(MessageType.TRAIN, weights, model, epsilon, {"server-round": server_round})


def _last_refusal(site: Path) -> dict:
    return [e for e in read_audit(site / "audit.jsonl") if e.get("status") == "error"][-1]


def test_data_changed_since_check_reaches_the_coordinator_without_its_path(tmp_path, cohorts, caplog):
    site, phenotypes, context = _site(tmp_path, cohorts)
    with phenotypes.open("a") as handle:
        handle.write("\n")
    os.utime(phenotypes, ns=(phenotypes.stat().st_mtime_ns + 10**9,) * 2)
    with caplog.at_level(logging.WARNING):
        reply = make_client_app()(_train(cohorts), context)
    assert reply.has_error() and reply.error.code == REFUSED
    sent = reply.error.reason
    assert sent.startswith("<phenotypes file> changed since `genofed hospital check`"), sent
    assert "--data-update REASON" in sent and str(tmp_path) not in sent
    # the hospital's own log and audit log keep the full text, with the path; the audit entry
    # records beside it what was sent
    assert f"{phenotypes} changed since `genofed hospital check`" in caplog.text
    entry = _last_refusal(site)
    assert entry["error"].startswith(f"{phenotypes} changed since") and entry["error_sent"] == sent


def test_an_undeclared_synthetic_batch_is_refused_naming_the_command_not_the_folders(tmp_path, cohorts):
    panel = VariantPanel.load(cohorts / "panel.tsv")
    batch = write_batch(tmp_path / "syn", panel, 40)
    site, _phenotypes, context = _site(tmp_path, cohorts, synthetic=batch)
    shutil.move(batch, tmp_path / "syn.old")  # a new batch at the checked path: not declared
    write_batch(batch, panel, 60, seed=1)
    reply = make_client_app()(_train(cohorts, epsilon=math.inf), context)
    assert reply.has_error() and reply.error.code == REFUSED
    sent = reply.error.reason
    assert sent.startswith("<synthetic folder>: this synthetic batch is not the one"), sent
    assert "in this site's ledger SITE/state/privacy-ledger.json" in sent
    assert "run `genofed hospital check SITE ... --synthetic <synthetic folder>` again" in sent
    assert str(tmp_path) not in sent
    assert str(batch) in _last_refusal(site)["error"]  # the site keeps the full text


def test_every_refusal_goes_out_by_the_one_rule_whatever_raised_it(tmp_path, cohorts, monkeypatch):
    """A refusal nobody worded for the coordinator, naming a path outside the node config's."""
    site, _phenotypes, context = _site(tmp_path, cohorts)

    def refuse(*_args, **_kwargs):
        raise GenofedError(
            f"{tmp_path}/elsewhere/plan.json cannot be read; see {site}/state and docs/deployment.md"
        )

    monkeypatch.setattr(train_handler, "train", refuse)
    reply = make_client_app()(_train(cohorts), context)
    assert reply.error.reason == (f"{OTHER_PATH} cannot be read; see SITE/state and docs/deployment.md"), (
        reply.error.reason
    )


@pytest.mark.parametrize(
    ("reason", "sent"),
    [
        ("/srv/h/site/state: full", "SITE/state: full"),
        ("/srv/h/site/state/privacy-ledger.json: bad", "SITE/state/privacy-ledger.json: bad"),
        (
            "cannot write /srv/h/site/audit.jsonl (no space left)",
            "cannot write SITE/audit.jsonl (no space left)",
        ),
        ("/data/g.vcf.gz and /data/p.csv changed", "<genotypes file> and <phenotypes file> changed"),
        ("/srv/h/site-2/x is not /srv/h/site", f"{OTHER_PATH} is not SITE"),
        (
            "see https://flower.ai/docs/x and client/outbound.py",
            "see https://flower.ai/docs/x and client/outbound.py",
        ),
        ("~/keys/k.pem, C:\\Users\\h\\d.csv", f"{OTHER_PATH}, {OTHER_PATH}"),
        ("budget 8/2 left; ratio 1/3", "budget 8/2 left; ratio 1/3"),
    ],
)
def test_the_rule(reason, sent):
    config = {
        "state-dir": "/srv/h/site/state",
        "audit-log": "/srv/h/site/audit.jsonl",
        "genotypes": "/data/g.vcf.gz",
        "phenotypes": "/data/p.csv",
    }
    assert outward_reason(reason, config) == sent


def test_a_simulated_sites_refusals_keep_their_paths():
    """A simulation's hospitals answer their own operator, who chose every path."""
    config = {"partition-id": 0, "state-dir": "/runs/x/ledgers/h1"}
    assert outward_reason("/runs/x/ledgers/h1: full", config) == "/runs/x/ledgers/h1: full"


def test_a_relative_node_config_replaces_paths_not_words():
    """A node config written by hand with relative paths: `site/state` is the state folder, and the
    word "site" in the text stays a word."""
    config = {"state-dir": "site/state", "synthetic": "syn/batch-1"}
    reason = "this site's ledger site/state/privacy-ledger.json; run it with --synthetic syn/batch-1"
    assert outward_reason(reason, config) == (
        "this site's ledger SITE/state/privacy-ledger.json; run it with --synthetic <synthetic folder>"
    )
