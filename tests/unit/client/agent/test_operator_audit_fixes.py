"""An operator audit of the hospital agent:

- #4 a budget typed into hospital.json is refused by `ledger`, `start` and local releases (the
  ledger binding records the one `hospital check` set); an unknown key in hospital.json is refused;
- #2 the ClientApp worker gives up a task whose objects never arrive (a crashed SuperLink's)
  within a bound, and goes on taking tasks;
- #6 `start` refuses a CA that does not sign the coordinator's certificate, or is not valid now;
- #7 `check` is refused while the site's agent runs;
- #8 `start` before `check` names every option `check` requires.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import logging
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from genofed.cli.main import build_parser, main
from genofed.client.agent import worker as worker_module
from genofed.client.agent.audit import read_audit
from genofed.client.agent.check import check_site
from genofed.client.agent.keys import load_site_file
from genofed.client.agent.launch import (
    AgentOptions,
    check_start_options,
    prepare_start,
    require_ca_signs_coordinator,
    start_site,
)
from genofed.client.agent.ledger_binding import BINDING_FILE, BUDGET_KEY
from genofed.client.agent.ledger_report import site_ledger
from genofed.client.agent.site_lock import LOCK_FILE, AgentRunning, hold_site
from genofed.client.agent.site_settings_record import BudgetEdited, bound_budget
from genofed.client.agent.worker import TASK_INPUT_MAX_SECONDS, TaskInputUnavailable, Worker, pull_task_input
from genofed.client.local_ledger import local_ledger
from genofed.common.data.layout import hospital_folders
from genofed.common.deployment.app_bundle import approved_app_hash
from genofed.common.errors import ConfigError, GenofedError
from genofed.server.service.pki import write_pki
from genofed.simulations.local.loopback import free_port


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A federation's PKI for localhost: ca.pem, server.pem, server.key."""
    folder = tmp_path_factory.mktemp("pki")
    write_pki(folder, ["localhost"])
    return folder


@pytest.fixture
def site(tmp_path: Path) -> Path:
    from genofed.client.agent.keys import init_site

    init_site(tmp_path / "site-rostov", "rostov")
    return tmp_path / "site-rostov"


def _check(site: Path, cohorts: Path, index: Path, **options) -> dict:
    data = hospital_folders(cohorts)[0]
    options = {"epsilon_budget": 8.0, **options}
    return check_site(
        site, data.genotypes, data.phenotypes, cohorts / "panel.tsv", ledger_index=index, **options
    )


def _edit(site: Path, **data) -> None:
    """Edit hospital.json's "data" by hand, as the auditor did."""
    info = json.loads((site / "hospital.json").read_text())
    info["data"].update(data)
    (site / "hospital.json").write_text(json.dumps(info))


def _options(index: Path, pki: Path) -> AgentOptions:
    return AgentOptions("localhost:9", pki / "ca.pem", local_port=free_port(), ledger_index=index)


# --- #4: hospital.json edited by hand --------------------------------------------------------


def test_an_unknown_key_in_hospital_json_is_refused_naming_the_one_meant(site: Path, capsys) -> None:
    info = json.loads((site / "hospital.json").read_text())
    info["data"] = {"epsilon_budget": 8.0, "delta": 1e-5, "require_secag": True}
    (site / "hospital.json").write_text(json.dumps(info))
    with pytest.raises(
        GenofedError, match=r"unknown key data\.'require_secag' \(did you mean data\.'require_secagg'"
    ):
        load_site_file(site)
    assert main(["hospital", "ledger", str(site)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "require_secag" in err and "epsilon_budget" in err


def test_a_top_level_unknown_key_is_refused_too(site: Path) -> None:
    info = json.loads((site / "hospital.json").read_text())
    info["budget"] = 50
    (site / "hospital.json").write_text(json.dumps(info))
    with pytest.raises(GenofedError, match=r"unknown key 'budget'; genofed writes only created, data, "):
        load_site_file(site)


def test_what_check_writes_is_all_known(site: Path, cohorts: Path, tmp_path: Path) -> None:
    _check(site, cohorts, tmp_path / "index" / "ledgers.json", max_coalition_epsilon=4.0)
    load_site_file(site)  # every key check wrote is known


def test_a_budget_raised_by_hand_is_refused_by_ledger_start_and_local_releases(
    site: Path, cohorts: Path, tmp_path: Path, pki: Path
) -> None:
    index = tmp_path / "index" / "ledgers.json"
    _check(site, cohorts, index)
    assert bound_budget(site / "state")["epsilon_budget"] == 8.0
    _edit(site, epsilon_budget=50.0)
    audit_before = read_audit(site / "audit.jsonl") if (site / "audit.jsonl").exists() else []
    for refused in (
        lambda: site_ledger(site),
        lambda: prepare_start(site, _options(index, pki)),
        lambda: local_ledger(site / "state", None),
    ):
        with pytest.raises(BudgetEdited, match="edited outside genofed") as info:
            refused()
        assert "epsilon 50 at delta 1e-05" in str(info.value) and "epsilon 8 at delta 1e-05" in str(
            info.value
        )
        assert "--change-budget REASON" in str(info.value)
    after = read_audit(site / "audit.jsonl") if (site / "audit.jsonl").exists() else []
    assert after == audit_before


@pytest.mark.parametrize(
    ("key", "edited"),
    [
        ("require_secagg", False),
        ("max_coalition_epsilon", 40.0),
        ("max_evaluations", 100),
        ("declared_size", 10),
    ],
)
def test_another_privacy_setting_edited_by_hand_is_refused(
    site: Path, cohorts: Path, tmp_path: Path, key: str, edited: object
) -> None:
    """require-secagg dropped, the coalition cap or the evaluations raised, the declared size
    changed in hospital.json: each bounds what the site releases, so each is refused like the budget."""
    index = tmp_path / "index" / "ledgers.json"
    _check(site, cohorts, index, max_coalition_epsilon=4.0, require_secagg=True)
    site_ledger(site)  # as checked: fine
    _edit(site, **{key: edited})
    with pytest.raises(
        BudgetEdited, match=rf"its {key} \({json.dumps(edited)}\) is not the one genofed recorded"
    ):
        site_ledger(site)


def test_checking_again_at_the_edited_budget_is_the_audited_change(
    site: Path, cohorts: Path, tmp_path: Path
) -> None:
    index = tmp_path / "index" / "ledgers.json"
    _check(site, cohorts, index)
    _edit(site, epsilon_budget=50.0)
    with pytest.raises(ConfigError, match=r"would raise this site's recorded lifetime budget \(epsilon 8 "):
        _check(site, cohorts, index, epsilon_budget=50.0)
    bound = _check(site, cohorts, index, epsilon_budget=50.0, change_budget="DPO decision")
    assert bound["budget_changed"]
    (entry,) = [e for e in read_audit(site / "audit.jsonl") if e.get("event") == "budget-change"]
    assert entry["old"]["epsilon_budget"] == 8.0 and entry["new"]["epsilon_budget"] == 50.0
    assert site_ledger(site)["budget"]["epsilon"] == 50.0


def test_a_lower_budget_goes_through_check_and_is_recorded(site: Path, cohorts: Path, tmp_path: Path) -> None:
    index = tmp_path / "index" / "ledgers.json"
    _check(site, cohorts, index)
    _edit(site, epsilon_budget=4.0)
    with pytest.raises(BudgetEdited):
        site_ledger(site)
    bound = _check(site, cohorts, index, epsilon_budget=4.0)  # stricter: no reason needed
    assert bound["budget_changed"] and bound_budget(site / "state")["epsilon_budget"] == 4.0
    assert [e["new"]["epsilon_budget"] for e in read_audit(site / "audit.jsonl") if "new" in e] == [4.0]
    assert site_ledger(site)["budget"]["epsilon"] == 4.0


def test_start_adopts_the_budget_of_a_site_checked_before_it_was_recorded(
    site: Path, cohorts: Path, tmp_path: Path, pki: Path
) -> None:
    index = tmp_path / "index" / "ledgers.json"
    _check(site, cohorts, index)
    binding = json.loads((site / "state" / BINDING_FILE).read_text())
    del binding[BUDGET_KEY]  # as an older genofed wrote it
    (site / "state" / BINDING_FILE).write_text(json.dumps(binding))
    prepare_start(site, _options(index, pki))
    assert bound_budget(site / "state")["epsilon_budget"] == 8.0
    _edit(site, epsilon_budget=50.0)
    with pytest.raises(BudgetEdited):
        prepare_start(site, _options(index, pki))


# --- #2: a task whose objects never arrive is given up within a bound --------------------------


class _DeadSuperLinkClient:
    """A Runtime API client whose task's message objects never arrive ("unavailable" for ever)."""

    def __init__(self) -> None:
        self.pulls = 0

    def PullTaskInput(self, request):  # noqa: N802 - Flower's API
        from flwr.app import Context, RecordDict
        from flwr.common.serde import context_to_proto
        from flwr.proto.fab_pb2 import Fab
        from flwr.proto.run_pb2 import Run
        from flwr.proto.runtime_pb2 import PullTaskInputResponse

        context = Context(run_id=7, node_id=3, node_config={}, state=RecordDict(), run_config={})
        return PullTaskInputResponse(
            context=context_to_proto(context), run=Run(run_id=7), fab=Fab(), task_id=1
        )

    def PullMessages(self, request):  # noqa: N802
        from flwr.proto.message_pb2 import Message, ObjectTree
        from flwr.proto.runtime_pb2 import PullAppMessagesResponse

        return PullAppMessagesResponse(
            messages_list=[Message()], message_object_trees=[ObjectTree(object_id="ab" * 32)]
        )

    def PullObject(self, request):  # noqa: N802
        from flwr.proto.message_pb2 import PullObjectResponse

        self.pulls += 1
        return PullObjectResponse(object_found=True, object_available=False)

    def ConfirmMessageReceived(self, request):  # noqa: N802
        pytest.fail("a message whose objects never arrived is never confirmed")

    def close(self) -> None:
        pass


def test_the_pull_of_a_dead_superlinks_task_ends_within_its_bound() -> None:
    client = _DeadSuperLinkClient()
    start = time.monotonic()
    with pytest.raises(TaskInputUnavailable, match="did not arrive from the SuperNode within 0.5 s"):
        pull_task_input(client, max_seconds=0.5)
    assert time.monotonic() - start < 3 and client.pulls > 1
    # below the deployed default round timeout (600 s), so a restarted coordinator's first query is answered
    assert TASK_INPUT_MAX_SECONDS < 600


def test_the_worker_fails_that_task_in_one_line_and_takes_the_next(monkeypatch, caplog) -> None:
    import flwr.supernode.runtime.run_clientapp as runtime

    outputs: list[tuple[str, str]] = []
    monkeypatch.setattr(runtime, "push_message", lambda *a: pytest.fail("no reply without a message"))
    monkeypatch.setattr(
        runtime,
        "push_task_output",
        lambda client, context, sub_status, details: outputs.append((sub_status, details)),
    )
    monkeypatch.setattr(worker_module, "pull_task_input", functools.partial(pull_task_input, max_seconds=0.3))
    monkeypatch.setattr(worker_module, "_task_client", lambda address, token: _DeadSuperLinkClient())
    monkeypatch.setattr("flwr.supercore.heartbeat.HeartbeatSender.start", lambda self: None)
    monkeypatch.setattr("flwr.supercore.heartbeat.HeartbeatSender.stop", lambda self: None)
    worker = Worker("127.0.0.1:1", b"s", approved_app_hash())
    with caplog.at_level(logging.INFO, logger="genofed.worker"):
        worker.run_task("token")
        worker.run_task("token")  # the worker is free for the next task
    assert [status for status, _ in outputs] == ["failed", "failed"]
    assert "giving the task up" in outputs[0][1]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all(r.exc_info is None for r in warnings)


# --- #6: the CA is checked against the coordinator before anything starts ---------------------


def _tls_server(pki: Path, negotiated: list | None = None) -> tuple[int, threading.Thread]:
    """A TLS server with the federation's server.pem on 127.0.0.1, answering one handshake; it
    speaks HTTP/1.1 only, as the coordinator's nginx does, and appends the application protocol the
    handshake agreed on to `negotiated` (nginx ends a handshake that offers none it speaks)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.pem", pki / "server.key")
    context.set_alpn_protocols(["http/1.1"])
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        with listener:
            connection, _ = listener.accept()
            try:
                with context.wrap_socket(connection, server_side=True) as tls:
                    if negotiated is not None:
                        negotiated.append(tls.selected_alpn_protocol())
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return port, thread


def test_another_federations_ca_is_refused_before_start(pki: Path, tmp_path: Path, site: Path) -> None:
    other = tmp_path / "other-pki"
    write_pki(other, ["localhost"])
    port, thread = _tls_server(pki)
    options = AgentOptions(f"localhost:{port}", other / "ca.pem")
    with pytest.raises(ConfigError, match=r"is not signed by this CA .*use the federation's ca.pem"):
        start_site(site, options)
    thread.join(5)
    assert not (site / LOCK_FILE).exists()


def test_the_federations_ca_passes_and_an_unreachable_coordinator_is_left_to_the_retries(pki: Path) -> None:
    negotiated: list = []
    port, thread = _tls_server(pki, negotiated)
    require_ca_signs_coordinator(AgentOptions(f"localhost:{port}", pki / "ca.pem"))
    thread.join(5)
    # the probe offers what nginx speaks: offered h2 alone, nginx ended the handshake before its
    # certificate was checked, and a wrong ca.pem was never refused (an operator's walkthrough)
    assert negotiated == ["http/1.1"]
    require_ca_signs_coordinator(AgentOptions(f"127.0.0.1:{free_port()}", pki / "ca.pem"))  # nothing there


def test_a_coordinator_that_does_not_answer_is_said_in_genofeds_words(pki: Path, capsys) -> None:
    """Flower says only 'Connection attempt failed, retrying': a mistyped --coordinator looked like a
    coordinator not started yet (an operator's walkthrough). The agent keeps trying either way."""
    port = free_port()
    require_ca_signs_coordinator(AgentOptions(f"127.0.0.1:{port}", pki / "ca.pem"))
    refused = capsys.readouterr().err
    assert refused.startswith(f"genofed: the coordinator at 127.0.0.1:{port} does not answer (nothing")
    assert "keeps trying" in refused
    require_ca_signs_coordinator(AgentOptions("no-such-coordinator.invalid:9092", pki / "ca.pem"))
    unresolved = capsys.readouterr().err
    assert "the name no-such-coordinator.invalid does not resolve: check --coordinator" in unresolved
    # something answers there, but not TLS (a plain HTTP server): said as such, not "does not answer"
    listener = socket.create_server(("127.0.0.1", 0))

    def plain_http() -> None:
        with listener:
            connection, _ = listener.accept()
            with connection:
                connection.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    thread = threading.Thread(target=plain_http, daemon=True)
    thread.start()
    require_ca_signs_coordinator(AgentOptions(f"127.0.0.1:{listener.getsockname()[1]}", pki / "ca.pem"))
    thread.join(5)
    assert "answered, but the TLS handshake failed" in capsys.readouterr().err


def _ca_valid(tmp_path: Path, monkeypatch, start: dt.datetime, end: dt.datetime) -> Path:
    """A CA made as `coordinator init` makes one (`pki.create_ca`), valid from about `start` to
    `end`: its clock set to `start`."""
    from genofed.server.service import pki as pki_module

    monkeypatch.setattr(pki_module, "_now", lambda: start)
    ca = pki_module.create_ca("old federation CA", days=(end - start).days)
    monkeypatch.undo()
    path = tmp_path / "ca.pem"
    path.write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.mark.parametrize(
    ("days_from", "days_to", "expected"),
    [(-30, -1, "this CA certificate expired on "), (2, 30, "this CA certificate is valid only from ")],
)
def test_a_ca_outside_its_validity_is_refused(
    tmp_path: Path, monkeypatch, days_from: int, days_to: int, expected: str
) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    ca = _ca_valid(
        tmp_path, monkeypatch, now + dt.timedelta(days=days_from), now + dt.timedelta(days=days_to)
    )
    with pytest.raises(ConfigError, match=expected):
        check_start_options(AgentOptions("localhost:9", ca))


# --- #7: check while the agent runs ------------------------------------------------------------


def test_check_is_refused_while_the_sites_agent_runs(site: Path, cohorts: Path, tmp_path: Path) -> None:
    before = (site / "hospital.json").read_text()
    with hold_site(site.resolve()):
        running = r"already running \(pid \d+: genofed hospital start\); stop it first .*rewrites"
        with pytest.raises(AgentRunning, match=running):
            _check(site, cohorts, tmp_path / "index" / "ledgers.json", declared_size=90)
    assert (site / "hospital.json").read_text() == before


# --- #8: start before check -------------------------------------------------------------------


def test_start_before_check_names_every_option_check_requires(site: Path, tmp_path: Path, pki: Path) -> None:
    with pytest.raises(GenofedError, match="never checked") as info:
        prepare_start(site, _options(tmp_path / "ledgers.json", pki))
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    hospital = commands.choices["hospital"]
    check = next(a for a in hospital._actions if isinstance(a, argparse._SubParsersAction)).choices["check"]
    required = [a.option_strings[0] for a in check._actions if a.required and a.option_strings]
    assert "--epsilon-budget" in str(info.value)
    assert required and all(option in str(info.value) for option in required)
