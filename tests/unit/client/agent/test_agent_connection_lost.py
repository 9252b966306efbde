"""A SuperNode whose connection to the coordinator is lost for good ends, and the agent says why:
it stops in one line, non-zero, when the coordinator's certificate no longer verifies with --ca (a
new federation, with a new CA, on the same address), and starts the SuperNode again otherwise.

Why: Flower's SuperNode (flwr 1.42) gave up reconnecting ("SSL/TLS handshake error detected",
"Giving up reconnection after ...") and returned from its entry point, but its Runtime API thread
(not a daemon) kept the process alive: the agent, its SuperNode and its worker ran on for good and
nothing said why (walkthrough h12, finding 1). genofed.client.agent.flower_supernode exits with
CONNECTION_LOST_EXIT instead; the deployed case, against two real coordinators:
tests/e2e/test_deployed_new_federation.py.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from genofed.client.agent import supernode
from genofed.client.agent.flower_supernode import CONNECTION_LOST_EXIT
from genofed.client.agent.supernode import AgentOptions, Launch
from genofed.common.errors import ConfigError

#: Flower's SuperNode, its entry point standing in: a non-daemon thread (its Runtime API), then
#: `{end}`. A return is what it does after giving up reconnecting (the thread still runs: the
#: process hung for good); a SystemExit is a stop signal or a Flower error exit (`flwr_exit`), which
#: ends that thread first (its exit handler: `daemon=True` here).
ENTRY_POINT = textwrap.dedent(
    """
    import runpy, sys, threading, time
    import flwr.supernode.cli as cli

    def flower_supernode():
        threading.Thread(target=time.sleep, args=(120,), daemon={daemon}).start()
        {end}

    cli.flower_supernode = flower_supernode
    runpy.run_module("genofed.client.agent.flower_supernode", run_name="__main__")
    """
)


@pytest.mark.parametrize(
    ("end", "daemon", "code"),
    [
        ("return  # its connection was lost for good", False, CONNECTION_LOST_EXIT),
        ("sys.exit(3)  # a stop signal or a Flower error exit", True, 3),
    ],
)
def test_the_supernode_exits_once_flowers_entry_point_returns(end: str, daemon: bool, code: int) -> None:
    """Returned: CONNECTION_LOST_EXIT at once, though a non-daemon thread still runs (it hung for
    good); SystemExit passes through with Flower's own code."""
    ended = subprocess.run(
        [sys.executable, "-c", ENTRY_POINT.format(end=end, daemon=daemon)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ended.returncode == code, ended.stderr[-2000:]


def _serve(
    tmp_path: Path,
    monkeypatch,
    runs: list[tuple[int, int | None]],
    check_ca,
    *,
    stopped_in_last: bool = False,
) -> tuple[int, list[str], int]:
    """`supernode.serve` with SuperNodes that end as `runs` says, no wait before a retry; returns its
    exit code, what it said and how many SuperNodes it started. `stopped_in_last`: the agent gets a
    stop signal (SIGTERM) while the last SuperNode runs."""
    stop = {"signal": None, "restart_agent": 0, "supernode": None, "ended": None, "killed": False}
    started: list[int] = []

    def run_supernode(*args):
        started.append(1)
        if stopped_in_last and len(started) == len(runs):
            stop["signal"] = 15
        return runs[len(started) - 1]

    monkeypatch.setattr(supernode, "_stop_on_signals", lambda: stop)
    monkeypatch.setattr(supernode, "_run_supernode", run_supernode)
    monkeypatch.setattr(supernode, "_wait_unless_stopped", lambda seconds, stop: False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = AgentOptions(coordinator="fl.example.org:9092", ca=tmp_path / "ca.pem", local_port=port)
    launch = Launch([], {}, f"127.0.0.1:{port}", tmp_path / "s", "h", tmp_path / "a")
    said: list[str] = []
    code = supernode.serve(tmp_path, launch, options, None, said.append, check_ca)
    return code, said, len(started)


def test_a_lost_connection_to_a_coordinator_whose_certificate_no_longer_verifies_stops_the_agent(
    tmp_path, monkeypatch
):
    """A new federation on the coordinator's address: one line, with the CA refusal `hospital start`
    gives and what to do, and a non-zero exit, so a service manager restarts (or alerts)."""

    def refuse() -> None:
        raise ConfigError(
            f"--ca {tmp_path / 'ca.pem'}: the coordinator's certificate at fl.example.org:9092 is not signed "
            "by this CA (TLS said: unable to get local issuer certificate); use the federation's ca.pem"
        )

    code, said, started = _serve(tmp_path, monkeypatch, [(CONNECTION_LOST_EXIT, None)], refuse)
    assert code == CONNECTION_LOST_EXIT != 0 and started == 1, said
    assert len(said) == 1, said
    assert "lost its connection to the coordinator at fl.example.org:9092" in said[0]
    assert "not signed by this CA" in said[0] and "new federation" in said[0]
    assert f"put it at --ca ({tmp_path / 'ca.pem'})" in said[0] and "stopping this agent" in said[0]


def test_a_lost_connection_to_a_coordinator_that_still_verifies_starts_the_supernode_again(
    tmp_path, monkeypatch
):
    """Flower gave up for another reason (the coordinator down past --max-retries): the agent says
    so and starts a SuperNode again after its wait, as after a refused activation."""
    checked: list[int] = []
    code, said, started = _serve(
        tmp_path,
        monkeypatch,
        [(CONNECTION_LOST_EXIT, None), (0, None)],
        lambda: checked.append(1),
        stopped_in_last=True,
    )
    assert code == 0 and started == 2 and checked == [1], said
    assert "lost its connection" in said[0] and "starting the SuperNode again" in said[0], said
    assert said[1:] == [f"retrying in {supernode.RETRY_SECONDS:.0f} s"], said


def test_a_flower_exit_that_happens_to_be_the_same_number_is_not_a_lost_connection(tmp_path, monkeypatch):
    """CONNECTION_LOST_EXIT counts only without a Flower exit code in the SuperNode's output."""
    code, said, started = _serve(tmp_path, monkeypatch, [(CONNECTION_LOST_EXIT, 335)], lambda: None)
    assert code == CONNECTION_LOST_EXIT and started == 1 and len(said) == 1, said
    assert "exited with code" in said[0] and "lost its connection" not in said[0]


def test_a_supernode_the_coordinator_no_longer_knows_is_started_again_not_left_ended(tmp_path, monkeypatch):
    """A second study on the same federation (`coordinator init --same-federation-as`): the same CA,
    a new SuperLink that does not know the node id of the SuperNode that served the first study;
    Flower answers its heartbeat's 401 with SIGINT to itself and exits 0. The agent used to take that
    for a stop and exit 0, so a service manager (Restart=on-failure) never started it again and the
    hospital missed the study; now it probes the CA and activates a new SuperNode, which joins."""
    checked: list[int] = []
    code, said, started = _serve(
        tmp_path, monkeypatch, [(0, None), (0, None)], lambda: checked.append(1), stopped_in_last=True
    )
    assert code == 0 and started == 2 and checked == [1], said
    assert "does not know it" in said[0] and "starting the SuperNode again" in said[0], said
    assert said[1:] == [f"retrying in {supernode.RETRY_SECONDS:.0f} s"], said


def test_a_supernode_ended_at_a_coordinator_with_another_ca_still_stops_the_agent(tmp_path, monkeypatch):
    """The same exit 0, but the coordinator's certificate no longer verifies: a new federation
    (a new CA), so the agent stops non-zero saying so, as after a lost connection."""

    def refuse() -> None:
        raise ConfigError(
            "--ca ca.pem: the coordinator's certificate at fl.example.org:9092 is not signed by this CA"
        )

    code, said, started = _serve(tmp_path, monkeypatch, [(0, None)], refuse)
    assert code == CONNECTION_LOST_EXIT and started == 1, said
    assert "not signed by this CA" in said[0] and "stopping this agent" in said[0], said
