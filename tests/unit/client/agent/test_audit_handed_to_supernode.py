"""A message's audit entry says its reply was handed to the site's SuperNode, not that it arrived,
and `hospital audit` says so under a listing of messages.

Why: a deployment walkthrough stopped a hospital's agent (SIGTERM) during round 6: the worker had
trained the round, the ledger charged it and the audit log listed it, but the SuperNode stopped
before sending the reply, and the coordinator recorded "no heartbeat" for that round. The log, "every
outbound message" to its DPO, named an update that never went out, and nothing explained the gap.
Flower's SuperNode gives the ClientApp no sign that it sent a reply, so the entry records what is
known: the hand-over.
"""

from __future__ import annotations

import json

import pytest
from flwr.app import ConfigRecord, Context, Error, Message, MetricRecord, RecordDict

from genofed.cli.hospital import HANDED_OVER_NOTE
from genofed.cli.main import main
from genofed.client.agent.audit import AUDIT_KEY, audit_mod, read_audit
from genofed.client.agent.keys import init_site

pytestmark = pytest.mark.usefixtures("flower_task_identity")


def _received() -> Message:
    return Message(
        RecordDict({"config": ConfigRecord({"server-round": 6})}), message_type="train", dst_node_id=1
    )


def test_every_message_entry_says_it_was_handed_to_the_supernode(tmp_path):
    site = tmp_path / "site"
    init_site(site, "maykop")
    log = site / "audit.jsonl"
    context = Context(1, 1, {AUDIT_KEY: str(log)}, RecordDict(), {})
    received = _received()
    trained = Message(RecordDict({"metrics": MetricRecord({"epsilon": 6.23})}), reply_to=received)
    refused = Message(Error(code=4001, reason="refusing: privacy budget exhausted"), reply_to=received)
    for reply in (trained, refused):
        audit_mod(received, context, lambda _msg, _ctx, reply=reply: reply)
    assert [entry["handed_to"] for entry in read_audit(log)] == ["supernode", "supernode"]


def test_hospital_audit_says_a_listed_reply_was_handed_over_not_that_it_arrived(tmp_path, capsys):
    site = tmp_path / "site"
    init_site(site, "maykop")
    log = site / "audit.jsonl"
    context = Context(1, 1, {AUDIT_KEY: str(log)}, RecordDict(), {})
    received = _received()
    reply = Message(RecordDict({"metrics": MetricRecord({"epsilon": 6.23})}), reply_to=received)
    audit_mod(received, context, lambda _msg, _ctx: reply)
    capsys.readouterr()
    assert main(["hospital", "audit", str(site)]) == 0
    out, err = capsys.readouterr()
    assert " round 6 train: " in out and err == HANDED_OVER_NOTE + "\n"
    assert "may not have left" in err and "its privacy charge stands" in err
    # a log written before the field (no `handed_to`): printed as it was, without the note
    entry = json.loads(log.read_text())
    del entry["handed_to"]
    log.write_text(json.dumps(entry) + "\n")
    assert main(["hospital", "audit", str(site)]) == 0
    assert capsys.readouterr().err == ""
