"""A deployed hospital's data file edited while its agent runs (an operator audit).

`genofed hospital check` binds the site's genotypes and phenotypes files (their SHA-256) to its
ledger, and `hospital start` refuses files that changed since. The warm ClientApp worker keeps the
site's data between messages, keyed on the files' mtime, and used to re-read an edited file
silently: rounds then trained and were charged on data nobody had checked. Now a deployed site
hashes its files again when their stat changed and refuses the round, before anything is computed
or charged, when a hash is not the bound one; unchanged files cost a `stat`, not a hash.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from flwr.app import Context, MessageType, RecordDict
from helpers.round_message import round_message

import genofed.client.agent.ledger_binding as ledger_binding
from genofed.client.agent.check import check_site
from genofed.client.agent.keys import init_site
from genofed.client.agent.launch import node_config
from genofed.client.agent.site_layout import STATE_DIR
from genofed.client.app import REFUSED, make_client_app
from genofed.common.data.layout import hospital_folders
from genofed.common.data.panel import VariantPanel
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger

pytestmark = pytest.mark.usefixtures("flower_task_identity")


def _checked_site(tmp_path: Path, cohorts: Path) -> tuple[Path, Path, Context]:
    """A site checked on its own copy of a hospital's files; returns the site folder, its
    phenotypes file and the ClientApp's context with the node config `hospital start` gives."""
    data = hospital_folders(cohorts)[0]
    own = tmp_path / "data"
    shutil.copytree(data.genotypes.parent, own)
    genotypes, phenotypes = own / data.genotypes.name, own / data.phenotypes.name
    site = tmp_path / "site"
    init_site(site, "rostov")
    index = tmp_path / "home" / "ledgers.json"
    check_site(site, genotypes, phenotypes, cohorts / "panel.tsv", ledger_index=index)
    config = node_config(site, json.loads((site / "hospital.json").read_text()))
    context = Context(run_id=1, node_id=7, node_config=config, state=RecordDict(), run_config={})
    return site, phenotypes, context


def _train(cohorts: Path, server_round: int):
    """Round `server_round` of a 3-round run on the logistic model this site agreed to."""
    model = ModelConfig(n_variants=len(VariantPanel.load(cohorts / "panel.tsv")), architecture="logistic")
    weights = build_model(model, seed=0).state_dict()
    return round_message(MessageType.TRAIN, weights, model, 8.0, {"server-round": server_round})


def _flip_one_label(phenotypes: Path) -> None:
    """Flip the first patient's 0/1 label and move the file's mtime on, as an edit does."""
    before = phenotypes.stat().st_mtime_ns
    header, first, *rest = phenotypes.read_text().splitlines()
    column = header.split(",").index("label")
    cells = first.split(",")
    cells[column] = "1" if cells[column] == "0" else "0"
    phenotypes.write_text("\n".join([header, ",".join(cells), *rest]) + "\n")
    os.utime(phenotypes, ns=(before + 10**9, before + 10**9))


def _charged_rounds(site: Path) -> list[int]:
    return [c.round for c in PrivacyLedger(site / STATE_DIR / LEDGER_FILE).charges]


def test_a_phenotype_edited_while_the_agent_runs_is_refused_and_not_charged(tmp_path, cohorts) -> None:
    site, phenotypes, context = _checked_site(tmp_path, cohorts)
    app = make_client_app()
    first = app(_train(cohorts, 1), context)
    assert not first.has_error(), first.error
    assert _charged_rounds(site) == [1]

    _flip_one_label(phenotypes)
    refused = app(_train(cohorts, 2), context)
    assert refused.has_error() and refused.error.code == REFUSED
    reason = refused.error.reason
    # the coordinator is told the file's role, not its path (test_refusals_leave_without_paths.py)
    assert reason.startswith("<phenotypes file> changed since `genofed hospital check`"), reason
    assert "its SHA-256 differs from the one bound to this site's ledger" in reason
    assert "nothing was trained or sent" in reason and "--data-update REASON" in reason
    assert _charged_rounds(site) == [1]  # round 2 was neither trained nor charged

    # and it stays refused: the file is not taken for checked because its stat was seen before
    again = app(_train(cohorts, 3), context)
    assert again.has_error() and "changed since `genofed hospital check`" in again.error.reason
    assert _charged_rounds(site) == [1]


def test_unchanged_files_are_hashed_once_not_every_round(tmp_path, cohorts, monkeypatch) -> None:
    site, _phenotypes, context = _checked_site(tmp_path, cohorts)
    hashed: list[Path] = []
    real = ledger_binding.file_sha256

    def counting(path):
        hashed.append(Path(path))
        return real(path)

    monkeypatch.setattr(ledger_binding, "file_sha256", counting)
    app = make_client_app()
    for server_round in (1, 2, 3):
        reply = app(_train(cohorts, server_round), context)
        assert not reply.has_error(), reply.error
    # the first message checks the two files (nothing in this process had); later rounds stat them
    config = context.node_config
    assert sorted(hashed) == sorted([Path(config["genotypes"]), Path(config["phenotypes"])])
    assert _charged_rounds(site) == [1, 2, 3]


def test_a_touched_but_unchanged_file_is_hashed_again_and_accepted(tmp_path, cohorts, monkeypatch) -> None:
    site, phenotypes, context = _checked_site(tmp_path, cohorts)
    app = make_client_app()
    assert not app(_train(cohorts, 1), context).has_error()
    hashed: list[Path] = []
    real = ledger_binding.file_sha256
    monkeypatch.setattr(ledger_binding, "file_sha256", lambda path: hashed.append(Path(path)) or real(path))
    before = phenotypes.stat().st_mtime_ns
    os.utime(phenotypes, ns=(before + 10**9, before + 10**9))  # same bytes, a new mtime
    reply = app(_train(cohorts, 2), context)
    assert not reply.has_error(), reply.error
    assert phenotypes in hashed and _charged_rounds(site) == [1, 2]
