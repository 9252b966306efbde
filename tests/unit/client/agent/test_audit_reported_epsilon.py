"""The audit log records the epsilon a reply reports, whichever record carries it: a plain reply's
MetricRecord, or under SecAgg+ the ConfigRecord `fitres.metrics` (Flower 1.42's `secaggplus_mod`
sends the app's FitRes with the arrays cleared, so a `--require-secagg` hospital's every training
round was logged with `epsilon: None`: a DPO audit). Under distributed DP the coalition epsilon is
logged next to it."""

from __future__ import annotations

import numpy as np
import pytest
from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS
from flwr.compat.common import recorddict_compat as compat

from genofed.client.agent.audit import AUDIT_KEY, audit_mod, read_audit

#: What a distributed-DP training round reports (client/train_handler.py; client/outbound.py's keys).
METRICS = {
    "num-examples": 80,
    "synthetic-examples": 0,
    "epsilon": 5.03,
    "coalition-epsilon": 9.1,
    "noise-multiplier": 1.2,
}


pytestmark = pytest.mark.usefixtures("flower_task_identity")


def _received(kind: str = "train") -> Message:
    content = RecordDict({"config": ConfigRecord({"server-round": 3})})
    return Message(content, message_type=kind, dst_node_id=1)


def _secagg_reply(received: Message, metrics: dict) -> Message:
    """The reply SecAgg+'s last client stage sends, as `secaggplus_mod` builds it from the app's
    FitRes (client/secagg.py's `train_secagg`): the record dict of the FitRes with its arrays
    cleared, and the masked vector in the `secaggplus` ConfigRecord."""
    fitres = FitRes(Status(Code.OK, "Success"), ndarrays_to_parameters([np.zeros(3)]), 80, metrics)
    content = compat.fitres_to_recorddict(fitres, keep_input=False)
    for record in content.array_records.values():
        record.clear()
    content.config_records[RECORD_KEY_CONFIGS] = ConfigRecord({"masked-parameters": [b"x" * 10]})
    return Message(content, reply_to=received)


def _audited(tmp_path, received: Message, reply: Message) -> dict:
    """The entry `audit_mod` (the agent's outermost mod) writes for `reply`."""
    log = tmp_path / "audit.jsonl"
    context = Context(1, 1, {AUDIT_KEY: str(log)}, RecordDict(), {})
    assert audit_mod(received, context, lambda _msg, _ctx: reply) is reply
    (entry,) = read_audit(log)
    return entry


def test_a_secagg_training_round_is_audited_with_its_epsilon_and_coalition_epsilon(tmp_path):
    received = _received()
    reply = _secagg_reply(received, METRICS)
    assert "epsilon" in reply.content.config_records["fitres.metrics"]  # where SecAgg+ carries it
    assert not any("epsilon" in r for r in reply.content.metric_records.values())
    entry = _audited(tmp_path, received, reply)
    assert entry["round"] == 3 and entry["type"] == "train" and entry["status"] == "ok"
    assert entry["epsilon"] == pytest.approx(5.03)
    assert entry["coalition_epsilon"] == pytest.approx(9.1)
    kinds = {r["name"]: r["kind"] for r in entry["records"]}
    assert kinds["fitres.metrics"] == "config" and kinds[RECORD_KEY_CONFIGS] == "config"


def test_a_local_dp_secagg_round_logs_no_coalition_epsilon(tmp_path):
    metrics = {k: v for k, v in METRICS.items() if k != "coalition-epsilon"}
    received = _received()
    entry = _audited(tmp_path, received, _secagg_reply(received, metrics))
    assert entry["epsilon"] == pytest.approx(5.03) and "coalition_epsilon" not in entry


def test_a_plain_reply_is_audited_from_its_metric_record(tmp_path):
    received = _received("evaluate")
    metrics = MetricRecord({"epsilon": 5.04, "coalition-epsilon": 9.2})  # a distributed-DP evaluation
    reply = Message(RecordDict({"metrics": metrics}), reply_to=received)
    entry = _audited(tmp_path, received, reply)
    assert entry["epsilon"] == pytest.approx(5.04) and entry["coalition_epsilon"] == pytest.approx(9.2)


def test_a_reply_that_reports_no_epsilon_is_audited_with_none(tmp_path):
    received = _received("query")
    reply = Message(RecordDict({"config": ConfigRecord({"site": "rostov"})}), reply_to=received)
    entry = _audited(tmp_path, received, reply)
    assert entry["epsilon"] is None and "coalition_epsilon" not in entry


def test_hospital_audit_prints_the_coalition_epsilon_next_to_the_epsilon(tmp_path):
    from genofed.client.agent.keys import init_site
    from genofed.client.agent.launch import audit_lines

    site = tmp_path / "site"
    init_site(site, "rostov")
    received = _received()
    _audited(site, received, _secagg_reply(received, METRICS))
    (line,) = audit_lines(site)
    assert "epsilon=5.030 coalition_epsilon=9.100" in line
