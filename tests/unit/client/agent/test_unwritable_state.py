"""A deployed hospital whose state folder or audit log cannot be written (read-only, full, not the
agent's): the site refuses the round in its own words, without a traceback in its log, and never
sends an update that is not charged to its ledger (an operator audit: the coordinator got only
"the site hit an internal error" and clientapp.log a traceback)."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
from pathlib import Path

import pytest
from flwr.app import Context, MessageType, RecordDict
from helpers.round_message import round_message

import genofed.client.agent.audit as audit
import genofed.common.privacy.ledger as ledger_module
from genofed.client.agent.check import check_site
from genofed.client.agent.keys import init_site
from genofed.client.agent.launch import node_config
from genofed.client.agent.site_layout import STATE_DIR
from genofed.client.app import FAILED, REFUSED, make_client_app
from genofed.common.data.layout import hospital_folders
from genofed.common.data.panel import VariantPanel
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger

pytestmark = pytest.mark.usefixtures("flower_task_identity")

#: As root, a folder's mode does not stop writes: the tests then make the ledger's write fail instead.
ROOT = os.geteuid() == 0


def _checked_site(tmp_path: Path, cohorts: Path) -> tuple[Path, Context]:
    data = hospital_folders(cohorts)[0]
    own = tmp_path / "data"
    shutil.copytree(data.genotypes.parent, own)
    site = tmp_path / "site"
    init_site(site, "rostov")
    index = tmp_path / "home" / "ledgers.json"
    check_site(
        site, own / data.genotypes.name, own / data.phenotypes.name, cohorts / "panel.tsv", ledger_index=index
    )
    config = node_config(site, json.loads((site / "hospital.json").read_text()))
    return site, Context(run_id=1, node_id=7, node_config=config, state=RecordDict(), run_config={})


def _train(cohorts: Path, server_round: int):
    model = ModelConfig(n_variants=len(VariantPanel.load(cohorts / "panel.tsv")), architecture="logistic")
    weights = build_model(model, seed=0).state_dict()
    return round_message(MessageType.TRAIN, weights, model, 8.0, {"server-round": server_round})


def _charged_rounds(site: Path) -> list[int]:
    return [c.round for c in PrivacyLedger(site / STATE_DIR / LEDGER_FILE).charges]


def _no_traceback(caplog) -> None:
    assert not [r for r in caplog.records if r.exc_info], "a traceback went to the site's log"
    assert "Traceback" not in caplog.text


def test_a_read_only_state_folder_is_refused_in_words_without_a_traceback(
    tmp_path, cohorts, monkeypatch, caplog
) -> None:
    site, context = _checked_site(tmp_path, cohorts)
    state = site / STATE_DIR
    if ROOT:  # chmod does not stop root: the file system says read-only at the ledger's write
        real = ledger_module.write_text_atomic

        def read_only(path, text, mode=None):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

        monkeypatch.setattr(ledger_module, "write_text_atomic", read_only)
    else:
        os.chmod(state, 0o500)
    app = make_client_app()
    try:
        with caplog.at_level(logging.INFO):
            reply = app(_train(cohorts, 1), context)
    finally:
        if ROOT:
            monkeypatch.setattr(ledger_module, "write_text_atomic", real)
        else:
            os.chmod(state, 0o700)
    assert reply.has_error() and reply.error.code == REFUSED, reply.error
    reason = reply.error.reason
    why = "read-only file system" if ROOT else "permission denied"
    # the site folder goes out as SITE (test_refusals_leave_without_paths.py)
    assert reason.startswith("cannot write SITE/state") and f"({why}): nothing was trained or sent" in reason
    assert "free space or fix the folder's permissions, then the next round can train" in reason
    _no_traceback(caplog)
    assert _charged_rounds(site) == []
    # the folder writable again, the next round trains
    assert not app(_train(cohorts, 2), context).has_error()
    assert _charged_rounds(site) == [2]


def test_a_charge_that_cannot_be_written_sends_nothing(tmp_path, cohorts, monkeypatch, caplog) -> None:
    """The disk fills after training, at the charge: no charge is written, so no update is sent."""
    site, context = _checked_site(tmp_path, cohorts)
    real = ledger_module.write_text_atomic

    def full_at_the_charge(path, text, mode=None):
        if json.loads(text)["charges"]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # a write to an open file: no name
        return real(path, text, mode)

    monkeypatch.setattr(ledger_module, "write_text_atomic", full_at_the_charge)
    with caplog.at_level(logging.INFO):
        reply = make_client_app()(_train(cohorts, 1), context)
    assert reply.has_error() and reply.error.code == REFUSED and not reply.has_content()
    assert reply.error.reason.startswith("cannot write SITE/state (no space left): nothing was")
    _no_traceback(caplog)
    assert _charged_rounds(site) == []


def test_an_audit_log_that_cannot_be_written_stops_the_reply(tmp_path, cohorts, monkeypatch, caplog) -> None:
    """The audit entry is written after the charge: the update is not sent (nothing leaves
    unrecorded) and the round stays charged (conservative)."""
    site, context = _checked_site(tmp_path, cohorts)

    def full(path, entry):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(audit, "append_entry", full)
    with caplog.at_level(logging.INFO):
        reply = make_client_app()(_train(cohorts, 1), context)
    assert reply.has_error() and reply.error.code == REFUSED and not reply.has_content()
    assert reply.error.reason.startswith("cannot write SITE/audit.jsonl (no space left): this reply was not")
    _no_traceback(caplog)
    assert _charged_rounds(site) == [1]


def test_another_os_error_stays_an_internal_error(tmp_path, cohorts, monkeypatch) -> None:
    """A failure that is not the site's own files being unwritable keeps its details in the log."""
    _site, context = _checked_site(tmp_path, cohorts)

    def gone(path, text, mode=None):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))

    monkeypatch.setattr(ledger_module, "write_text_atomic", gone)
    reply = make_client_app()(_train(cohorts, 1), context)
    assert reply.has_error() and reply.error.code == FAILED


def test_permission_denied_counts_on_the_site_state_only(tmp_path, cohorts, monkeypatch, caplog) -> None:
    """A permission error writing the state folder is the site's refusal in words; the same error on
    a file outside the site's state (which a read may give) stays an internal error, details in the log."""
    site, context = _checked_site(tmp_path, cohorts)
    denied_at: list[Path] = [site / STATE_DIR / LEDGER_FILE]

    def denied(path, text, mode=None):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(denied_at[0]))

    monkeypatch.setattr(ledger_module, "write_text_atomic", denied)
    app = make_client_app()
    with caplog.at_level(logging.INFO):
        reply = app(_train(cohorts, 1), context)
    assert reply.has_error() and reply.error.code == REFUSED
    assert reply.error.reason.startswith(
        f"cannot write SITE/{STATE_DIR}/{LEDGER_FILE} (permission denied): nothing was trained"
    )
    _no_traceback(caplog)
    denied_at[0] = tmp_path / "data" / "phenotypes.csv"
    assert app(_train(cohorts, 1), context).error.code == FAILED
