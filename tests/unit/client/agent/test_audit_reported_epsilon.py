"""The audit log records the epsilon a reply reports, whichever record carries it: a plain reply's
MetricRecord, or under SecAgg+ the ConfigRecord `fitres.metrics` (Flower 1.42's `secaggplus_mod`
sends the app's FitRes with the arrays cleared, so a `--require-secagg` hospital's every training
round was logged with `epsilon: None`: a DPO audit). Under distributed DP the coalition epsilon is
logged next to it.

`genofed hospital audit` selects what a DPO asks of a log of months (`--run`, `--since`, `--until`,
`--last`, with `--json` too; genofed.client.agent.audit_filter), says on stderr how many of how many
entries it showed, and reads the log a line at a time (`iter_audit`): a damaged line is still an
error naming the file and the line; without options it prints what it always printed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS
from flwr.compat.common import recorddict_compat as compat

from genofed.cli.main import main
from genofed.client.agent.audit import AUDIT_KEY, audit_line, audit_mod, iter_audit, read_audit
from genofed.client.agent.keys import init_site
from genofed.common.errors import GenofedError

#: What a distributed-DP training round reports (client/train_handler.py; client/outbound.py's keys).
METRICS = {
    "num-examples": 80,
    "synthetic-examples": 0,
    "epsilon": 5.03,
    "coalition-epsilon": 9.1,
    "noise-multiplier": 1.2,
}


pytestmark = pytest.mark.usefixtures("flower_task_identity")


def _received(kind: str = "train", **config: str) -> Message:
    content = RecordDict({"config": ConfigRecord({"server-round": 3, **config})})
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
    from genofed.client.agent.launch import audit_lines

    site = tmp_path / "site"
    init_site(site, "rostov")
    received = _received()
    _audited(site, received, _secagg_reply(received, METRICS))
    (line,) = audit_lines(site)
    assert "epsilon=5.030 coalition_epsilon=9.100" in line


def test_a_message_is_audited_with_the_plan_its_request_named(tmp_path):
    received = _received("evaluate", **{"plan-id": "fed-2026-12"})
    reply = Message(RecordDict({"metrics": MetricRecord({"epsilon": 1.0})}), reply_to=received)
    assert _audited(tmp_path, received, reply)["plan_id"] == "fed-2026-12"
    assert "plan_id" not in _audited(tmp_path / "none", _received(), _secagg_reply(_received(), METRICS))


# --- `hospital audit`: filters, the count line, a log read a line at a time ------------------

#: A message as `audit_entry` logs it, for the logs below.
MESSAGE = {
    "reply_to": "m1",
    "destination": "coordinator",
    "status": "ok",
    "records": [{"name": "arrays", "kind": "arrays", "keys": 1, "bytes": 12, "sha256": "ab" * 32}],
    "bytes": 12,
    "sha256": "cd" * 32,
    "type": "train",
}
#: A log of two runs and a local release, around midnight UTC of 2026-12-01 (`_site_log`).
ENTRIES = [
    dict(MESSAGE, time="2026-11-30T23:59:59.999+00:00", run=7, round=1, epsilon=0.5),
    dict(MESSAGE, time="2026-12-01T00:00:00.000+00:00", run=7, round=2, epsilon=0.9),
    dict(MESSAGE, time="2026-12-01T14:30:00.000+00:00", run=8, round=1, epsilon=1.2, plan_id="plan-b"),
    {
        "time": "2026-12-01T23:59:59.999+00:00",
        "type": "release",
        "status": "ok",
        "run": None,
        "round": None,
        "records": [],
        "bytes": 0,
        "command": "hospital variants",
        "what": "variant summary",
        "kind": "declared-public",
        "plan_id": "plan-b",
        "input_digest": "ef" * 32,
        "epsilon_spent": 0.0,
        "release_delta": 1e-5,
        "epsilon": 1.2,
        "delta": 1e-5,
        "output": "/out/v.tsv",
        "state_dir": "/site/state",
    },
    dict(MESSAGE, time="2026-12-02T00:00:00.000+00:00", run=8, round=2, epsilon=1.5, plan_id="plan-b"),
]


def _site_log(tmp_path: Path, lines: list[str] | None = None) -> Path:
    """A site folder whose audit log holds `lines` (default: `ENTRIES`, one JSON object a line)."""
    site = tmp_path / "site"
    init_site(site, "rostov")
    text = lines if lines is not None else [json.dumps(e) for e in ENTRIES]
    (site / "audit.jsonl").write_text("".join(f"{line}\n" for line in text))
    return site


def _audit(site: Path, capsys, *options: str) -> tuple[list[str], str]:
    """`hospital audit SITE OPTIONS`: its stdout lines and its stderr."""
    assert main(["hospital", "audit", str(site), *options]) == 0
    out, err = capsys.readouterr()
    return out.splitlines(), err


def _lines(*indices: int) -> list[str]:
    return [audit_line(ENTRIES[i]) for i in indices]


def test_hospital_audit_without_options_prints_exactly_what_it_did(tmp_path, capsys):
    site = _site_log(tmp_path)
    assert main(["hospital", "audit", str(site)]) == 0
    assert capsys.readouterr() == ("".join(f"{audit_line(e)}\n" for e in ENTRIES), "")
    assert main(["hospital", "audit", str(site), "--json"]) == 0
    assert capsys.readouterr() == (json.dumps(ENTRIES, indent=2) + "\n", "")
    (site / "audit.jsonl").write_text("")  # an empty log: an empty list, as before
    assert main(["hospital", "audit", str(site), "--json"]) == 0
    assert capsys.readouterr() == ("[]\n", "")


def test_hospital_audit_run_selects_by_flower_run_id_or_plan_id(tmp_path, capsys):
    site = _site_log(tmp_path)
    assert _audit(site, capsys, "--run", "7")[0] == _lines(0, 1)
    assert _audit(site, capsys, "--run", "plan-b")[0] == _lines(2, 3, 4)  # the release has no run id
    assert _audit(site, capsys, "--run", "8")[0] == _lines(2, 4)


def test_hospital_audit_run_takes_a_plan_id_as_hospital_ledger_shortens_it(tmp_path, capsys):
    """A deployment walkthrough pasted the ledger's `f6a39...6ad49b668c30` into `--run` and got
    "0 of 51 entries", read as no audit trail; the shortened form, or a prefix, names its plan."""
    long_id = "f6a39c0e" + "5" * 40 + "6ad49b668c30"
    entries = [
        dict(ENTRIES[0], plan_id=long_id),
        dict(ENTRIES[1], run=9, plan_id=long_id.replace("f6a39", "0b17e")),
        ENTRIES[2],
    ]
    site = _site_log(tmp_path, [json.dumps(e) for e in entries])
    for asked in ("f6a39...6ad49b668c30", "f6a39c0e"):
        lines, err = _audit(site, capsys, "--run", asked)
        assert lines == [audit_line(entries[0])]
        assert f"--run {asked}: plan {long_id}" in err
    assert _audit(site, capsys, "--run", "plan-b")[0] == [audit_line(entries[2])]
    assert main(["hospital", "audit", str(site), "--run", "...6ad49b668c30"]) != 0
    assert "matches 2 plan ids" in capsys.readouterr().err


def test_hospital_audit_run_of_a_plan_includes_its_secagg_stage_messages(tmp_path, capsys):
    """A SecAgg+ round's stage messages (setup, shares, unmasking) name only their Flower run, not
    the plan; `--run PLAN` lists them with the plan's other messages, of every run that named it."""
    stage = dict(MESSAGE, type="query", run=8, round=1, epsilon=None)
    other = dict(MESSAGE, time="2026-12-03T00:00:00.000+00:00", type="query", run=9, round=1, epsilon=None)
    entries = [
        dict(stage, time="2026-12-01T14:29:00.000+00:00"),  # before the plan's first charged message
        *ENTRIES,
        dict(stage, time="2026-12-02T00:00:01.000+00:00", round=2),
        other,  # another run's: not the plan's
    ]
    site = _site_log(tmp_path, [json.dumps(e) for e in entries])
    lines, err = _audit(site, capsys, "--run", "plan-b")
    assert lines == [audit_line(entries[i]) for i in (0, 3, 4, 5, 6)]
    assert "--run plan-b (with every message of its Flower run 8)" in err
    # by its Flower run id: the same messages, not the plan's local release (it has no run)
    assert _audit(site, capsys, "--run", "8")[0] == [audit_line(entries[i]) for i in (0, 3, 5, 6)]
    assert _audit(site, capsys, "--run", "7")[0] == [audit_line(entries[i]) for i in (1, 2)]


def test_hospital_audit_since_and_until_read_a_date_as_a_whole_utc_day(tmp_path, capsys):
    site = _site_log(tmp_path)
    assert _audit(site, capsys, "--since", "2026-12-01")[0] == _lines(1, 2, 3, 4)
    assert _audit(site, capsys, "--until", "2026-12-01")[0] == _lines(0, 1, 2, 3)
    assert _audit(site, capsys, "--since", "2026-12-01", "--until", "2026-12-01")[0] == _lines(1, 2, 3)


def test_hospital_audit_since_and_until_take_a_date_time_utc_unless_it_has_an_offset(tmp_path, capsys):
    site = _site_log(tmp_path)
    assert _audit(site, capsys, "--since", "2026-12-01T14:30")[0] == _lines(2, 3, 4)  # inclusive
    assert _audit(site, capsys, "--until", "2026-12-01T14:30:00")[0] == _lines(0, 1, 2)  # inclusive
    until = "2026-12-02T00:59:59.999+01:00"  # the release's own time, in UTC+1: included
    lines, err = _audit(site, capsys, "--since", "2026-12-01T15:30+01:00", "--until", until)
    assert lines == _lines(2, 3)
    assert "--since 2026-12-01T15:30+01:00 (from 2026-12-01T14:30:00+00:00)" in err
    assert f"--until {until} (up to 2026-12-01T23:59:59.999000+00:00)" in err


def test_hospital_audit_last_is_the_latest_n_after_the_other_filters(tmp_path, capsys):
    site = _site_log(tmp_path)
    assert _audit(site, capsys, "--last", "2")[0] == _lines(3, 4)
    assert _audit(site, capsys, "--last", "9")[0] == _lines(0, 1, 2, 3, 4)
    assert _audit(site, capsys, "--run", "7", "--last", "1")[0] == _lines(1)
    lines, err = _audit(site, capsys, "--run", "plan-b", "--until", "2026-12-01", "--last", "1")
    assert lines == _lines(3)
    assert err == (
        f"1 of 5 entries of {site / 'audit.jsonl'} shown, selected by --run plan-b (with every message of "
        "its Flower run 8), --until 2026-12-01 (before 2026-12-02T00:00:00+00:00), --last 1\n"
    )


def test_hospital_audit_json_honours_the_filters_and_counts_on_stderr(tmp_path, capsys):
    site = _site_log(tmp_path)
    assert main(["hospital", "audit", str(site), "--json", "--run", "8", "--since", "2026-12-02"]) == 0
    out, err = capsys.readouterr()
    assert out == json.dumps([ENTRIES[4]], indent=2) + "\n"
    assert err.startswith("1 of 5 entries of ") and "selected by --run 8, --since 2026-12-02" in err


def test_hospital_audit_says_an_empty_selection_is_not_an_empty_log(tmp_path, capsys):
    site = _site_log(tmp_path)
    lines, err = _audit(site, capsys, "--run", "99")
    assert lines == [] and err == f"0 of 5 entries of {site / 'audit.jsonl'} shown, selected by --run 99\n"
    assert main(["hospital", "audit", str(site), "--json", "--since", "2027-01-01"]) == 0
    out, err = capsys.readouterr()
    assert out == "[]\n" and err.startswith("0 of 5 entries")


@pytest.mark.parametrize(
    "option, value",
    [("--since", "last monday"), ("--until", "2026-13-01"), ("--since", "01/12/2026"), ("--last", "0")],
)
def test_hospital_audit_refuses_an_unreadable_filter_naming_the_option(tmp_path, capsys, option, value):
    site = _site_log(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        main(["hospital", "audit", str(site), option, value])
    assert stopped.value.code == 2
    out, err = capsys.readouterr()
    (line,) = [line for line in err.splitlines() if "error:" in line]
    assert out == "" and line.startswith(
        f"genofed hospital audit: error: argument {option}: {value!r} is not"
    )
    assert ("2026-12-01T14:30" if option != "--last" else "such as 20") in line and "Traceback" not in err


def test_hospital_audit_refuses_a_since_after_its_until(tmp_path, capsys):
    site = _site_log(tmp_path)
    assert main(["hospital", "audit", str(site), "--since", "2026-12-02", "--until", "2026-12-01"]) == 2
    assert "error: --since 2026-12-02 is after --until 2026-12-01" in capsys.readouterr().err


@pytest.mark.parametrize(
    "options", [[], ["--run", "7"], ["--last", "1"], ["--json", "--since", "2026-12-02"]]
)
def test_hospital_audit_names_a_damaged_line_also_when_filtering(tmp_path, capsys, options):
    lines = [json.dumps(e) for e in ENTRIES]
    site = _site_log(tmp_path, [*lines[:3], "", '{"time": "2026-12-01T1', *lines[3:]])
    assert main(["hospital", "audit", str(site), *options]) == 2
    err = capsys.readouterr().err
    assert f"error: {site / 'audit.jsonl'}, line 5: not a JSON audit entry" in err
    assert " shown, selected by " not in err  # no count of a listing that stopped


def test_hospital_audit_names_an_entry_without_a_time_when_filtering_by_time(tmp_path, capsys):
    entry = {k: v for k, v in ENTRIES[1].items() if k != "time"}
    site = _site_log(tmp_path, [json.dumps(ENTRIES[0]), json.dumps(entry)])
    assert main(["hospital", "audit", str(site), "--until", "2026-12-31"]) == 2
    assert (
        f"{site / 'audit.jsonl'}, line 2: the audit entry has no ISO time (None)" in capsys.readouterr().err
    )


def test_the_audit_log_is_read_a_line_at_a_time_and_a_non_object_line_is_named(tmp_path):
    log = _site_log(tmp_path, [json.dumps(ENTRIES[0]), "[1, 2]", json.dumps(ENTRIES[1])]) / "audit.jsonl"
    entries = iter_audit(log)
    assert next(entries) == (1, ENTRIES[0])  # yielded before the damaged line is read
    with pytest.raises(GenofedError, match=r"line 2: not a JSON audit entry \(a JSON list, not an object\)"):
        next(entries)
    with pytest.raises(GenofedError, match="line 2"):
        read_audit(log)  # the callers that want the whole list still get the error, not a partial list


def test_an_edited_log_is_named_not_a_traceback(tmp_path, capsys):
    """A byte that is not UTF-8 is named with its line (it was a UnicodeDecodeError traceback, in
    `hospital audit` and in check/start's look at a log when a ledger is missing), and an entry that
    lacks what its line needs is quoted (it was a KeyError traceback)."""
    site = _site_log(tmp_path)
    with (site / "audit.jsonl").open("ab") as log:
        log.write(b'{"note": "\xff"}\n')
    assert main(["hospital", "audit", str(site)]) == 2
    err = capsys.readouterr().err
    assert (
        f"{site / 'audit.jsonl'}, line 6: not a JSON audit entry (not UTF-8 text: invalid start byte" in err
    )
    assert "Traceback" not in err
    entry = {k: v for k, v in ENTRIES[0].items() if k != "records"}
    site = _site_log(tmp_path / "second", [json.dumps(entry)])
    assert main(["hospital", "audit", str(site)]) == 2
    err = capsys.readouterr().err
    assert (
        "error: an audit entry genofed cannot read (KeyError: 'records'); the log may have been edited" in err
    )
    assert json.dumps(entry, sort_keys=True)[:40] in err
