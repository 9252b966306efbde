"""What `genofed hospital init / start / audit / check` refuse or warn about before anything starts:
one agent per site folder (a second start writes nothing), paths and ports named in one line,
never a traceback, and a declared cohort size far from the real count (no Flower process)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from genofed.cli.main import main
from genofed.client.agent.check import check_site, declared_size_warnings
from genofed.client.agent.keys import init_site
from genofed.client.agent.launch import (
    AgentOptions,
    check_start_options,
    prepare_start,
    start_site,
)
from genofed.client.agent.site_lock import (
    CHECK_WHILE_RUNNING,
    LOCK_FILE,
    SECOND_AGENT,
    AgentRunning,
    _refusal,
    hold_site,
)
from genofed.client.agent.supernode import require_free_port
from genofed.common.data.layout import hospital_folders
from genofed.common.deployment.flower_env import SUPEREXEC_SECRET
from genofed.common.deployment.processes import process_identity
from genofed.common.errors import ConfigError, GenofedError
from genofed.server.service.pki import write_pki


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pki")
    write_pki(folder, ["localhost"])
    return folder / "ca.pem"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    init_site(tmp_path / "site", "rostov")
    return tmp_path / "site"


def _one_line_error(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    """Run the CLI; it must fail with genofed's one-line error (no traceback): returns that line."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err, err
    return err


# finding 1: one agent per site folder


def test_a_second_start_is_refused_before_it_rewrites_the_secret(site: Path, ca: Path) -> None:
    (site / SUPEREXEC_SECRET).write_text("the running agent's")
    with hold_site(site.resolve()):  # the first agent
        assert issubclass(AgentRunning, GenofedError)  # printed as one line by the CLI
        running = r"already running \(pid \d+: genofed hospital start\); stop it first"
        with pytest.raises(AgentRunning, match=running):
            start_site(site, AgentOptions(coordinator="localhost:9", ca=ca))
    assert (site / SUPEREXEC_SECRET).read_text() == "the running agent's"


def test_a_check_holding_the_site_is_named_as_a_check_not_an_agent(site: Path) -> None:
    """A second `check` while a first runs used to be told "a hospital agent ... is already
    running": the refusal names what holds the site, from what the holder recorded."""
    with hold_site(site, why=CHECK_WHILE_RUNNING):  # a first `genofed hospital check`
        assert json.loads((site / LOCK_FILE).read_text())["command"] == "genofed hospital check"
        for why in (CHECK_WHILE_RUNNING, SECOND_AGENT):  # a second check, or a start
            with pytest.raises(AgentRunning) as refused:
                with hold_site(site, why=why):
                    pass
            said = str(refused.value)
            assert f"another genofed command (pid {os.getpid()}: genofed hospital check) holds {site}" in said
            assert "a hospital agent" not in said and "already running" not in said


def test_a_holder_that_recorded_no_command_is_not_called_an_agent(site: Path) -> None:
    """An agent of an older genofed records its pid only: the refusal names the pid and both
    possibilities, not one it cannot know."""
    said = _refusal(site, {"pid": 4242}, CHECK_WHILE_RUNNING)
    either = "a hospital agent, or a `genofed hospital check`"
    assert said.startswith(f"another genofed command (pid 4242: {either}) holds {site}")


def test_a_killed_agents_pid_taken_by_another_process_is_not_called_the_agent(site: Path) -> None:
    """An agent killed and its pid since given to another process (here this test's): the identity
    recorded beside the pid tells them apart, so the refusal names the SuperNode it left, as for
    a pid no one has."""
    supernode = os.getpid()  # any live process stands for the SuperNode the lock was handed to
    holders = {"pid": os.getpid(), "supernode_pid": supernode, "command": "genofed hospital start"}
    holders["identities"] = {"pid": "another-boot:1", "supernode_pid": process_identity(supernode)}
    assert _refusal(site, holders).startswith(f"{site} is still held by a SuperNode (pid {supernode})")
    holders["identities"]["pid"] = process_identity(os.getpid())  # the agent itself: still running
    assert _refusal(site, holders).startswith(f"a hospital agent for {site} is already running")


def test_the_lock_is_free_again_once_its_agent_ends(site: Path) -> None:
    with hold_site(site):
        pass
    with hold_site(site) as lock:
        lock.record(supernode_pid=123)
        assert json.loads((site / LOCK_FILE).read_text())["supernode_pid"] == 123


def test_a_supernode_left_by_a_killed_agent_still_holds_the_site(site: Path) -> None:
    """The agent hands the lock to its SuperNode: killed (SIGKILL), it leaves the site held by that
    SuperNode, and the refusal names it."""
    agent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import os, signal, subprocess
                from pathlib import Path
                from genofed.client.agent.site_lock import hold_site
                with hold_site(Path({str(site)!r})) as lock:
                    supernode = subprocess.Popen(["sleep", "60"], pass_fds=(lock.fd,))
                    lock.record(supernode_pid=supernode.pid)
                    print(supernode.pid, flush=True)
                    os.kill(os.getpid(), signal.SIGKILL)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    orphan = int(agent.stdout.readline())
    agent.wait()
    try:
        with pytest.raises(AgentRunning, match=rf"held by a SuperNode \(pid {orphan}\).*kill {orphan}"):
            with hold_site(site):
                pass
    finally:
        os.kill(orphan, signal.SIGTERM)
    _wait_gone(orphan)
    with hold_site(site):  # the orphan gone, the site is free
        pass


def _wait_gone(pid: int) -> None:
    """Until `pid` has exited (it is a grandchild: init reaps it)."""
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


# finding 2: paths and ports, named in one line


def test_init_into_an_existing_file_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "afile").write_text("x")
    err = _one_line_error(["hospital", "init", str(tmp_path / "afile"), "--name", "a"], capsys)
    assert "afile is a file, not a folder" in err
    err = _one_line_error(["hospital", "init", str(tmp_path / "afile" / "sub"), "--name", "a"], capsys)
    assert "cannot make the site folder" in err


def test_a_folder_given_as_the_ca_is_named(tmp_path: Path, site: Path, capsys) -> None:
    argv = ["hospital", "start", str(site), "--coordinator", "localhost:9092", "--ca", str(tmp_path)]
    assert "a folder; give the certificate file itself" in _one_line_error(argv, capsys)


def test_a_local_port_in_use_is_named_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"--local-port {port}: 127.0.0.1:{port} is in use"):
            require_free_port(port)
    require_free_port(port)  # free again


def test_a_local_port_taken_while_the_agent_waits_to_retry_is_refused_in_one_line(tmp_path, monkeypatch):
    """Two agents started at once on one port: the first's SuperNode was not activated yet and it
    waited to retry while the second took the port; the retry's SuperNode then failed with Flower's
    traceback (a verification walkthrough). The port is checked again before each retry."""
    from genofed.client.agent import supernode

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    taken = socket.socket()

    def another_agent_takes_the_port(seconds: float, stop: dict) -> bool:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        return False  # not stopped: the agent goes on to its retry

    stop = {"signal": None, "restart_agent": 0, "supernode": None, "ended": None, "killed": False}
    monkeypatch.setattr(supernode, "_stop_on_signals", lambda: stop)
    monkeypatch.setattr(supernode, "_run_supernode", lambda *args: (1, supernode.NOT_ACTIVATED_EXIT))
    monkeypatch.setattr(supernode, "_wait_unless_stopped", another_agent_takes_the_port)
    options = AgentOptions(coordinator="localhost:9", ca=tmp_path / "ca.pem", local_port=port)
    launch = supernode.Launch([], {}, f"127.0.0.1:{port}", tmp_path / "s", "h", tmp_path / "a")
    try:
        with pytest.raises(ConfigError, match=rf"--local-port {port}: 127.0.0.1:{port} is in use"):
            supernode.serve(tmp_path, launch, options, None, lambda message: None)
    finally:
        taken.close()


def test_a_supernode_that_ends_in_an_error_is_said_with_the_port_it_may_have_lost(tmp_path, monkeypatch):
    """Two agents started at the same moment on the default --local-port both passed the port check;
    the second one's SuperNode died ("Runtime HTTP API failed to start") and the agent said nothing
    (an audit as two unprivileged users)."""
    from genofed.client.agent import supernode

    stop = {"signal": None, "restart_agent": 0, "supernode": None, "ended": None, "killed": False}
    monkeypatch.setattr(supernode, "_stop_on_signals", lambda: stop)
    monkeypatch.setattr(supernode, "_run_supernode", lambda *args: (1, None))
    options = AgentOptions(coordinator="localhost:9", ca=tmp_path / "ca.pem", local_port=9094)
    launch = supernode.Launch([], {}, "127.0.0.1:9094", tmp_path / "s", "h", tmp_path / "a")
    said: list[str] = []
    assert supernode.serve(tmp_path, launch, options, None, said.append) == 1
    assert len(said) == 1 and "exited with code 1" in said[0] and "another --local-port" in said[0]

    def stopped(*args):  # the operator's stop: the SuperNode ends 0 (a 0 without one is retried)
        stop["signal"] = 15
        return 0, None

    monkeypatch.setattr(supernode, "_run_supernode", stopped)
    said.clear()
    assert supernode.serve(tmp_path, launch, options, None, said.append) == 0 and said == []


def test_start_checks_the_local_port_before_writing_the_secret(
    tmp_path: Path, cohorts: Path, ca: Path
) -> None:
    site = tmp_path / "site"
    init_site(site, "rostov")
    data = hospital_folders(cohorts)[0]
    check_site(site, data.genotypes, data.phenotypes, cohorts / "panel.tsv", ledger_index=tmp_path / "index")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        options = AgentOptions(
            "localhost:9", ca, local_port=taken.getsockname()[1], ledger_index=tmp_path / "index"
        )
        with pytest.raises(
            ConfigError, match="is in use; stop what listens there or give this agent another"
        ):
            prepare_start(site, options)
    assert not (site / SUPEREXEC_SECRET).exists()
    prepare_start(site, options)  # the port free again: the secret is written
    assert (site / SUPEREXEC_SECRET).stat().st_mode & 0o777 == 0o600


# finding 3: every option checked in genofed, before Flower sees it


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--coordinator", "localhost", "expected HOST:PORT with a port in 1-65535"),
        ("--coordinator", "localhost:99999", "expected HOST:PORT with a port in 1-65535"),
        ("--coordinator", "https://fl.example.org:9092", "no https://"),
        ("--coordinator", ":9092", "expected HOST:PORT"),
        ("--local-port", "0", "--local-port must be in [1, 65535], got 0"),
        ("--local-port", "70000", "--local-port must be in [1, 65535], got 70000"),
        ("--max-retries", "-1", "--max-retries must be >= 0"),
    ],
)
def test_bad_start_options_are_refused_in_one_line(
    site: Path, ca: Path, option: str, value: str, expected: str, capsys
) -> None:
    argv = ["hospital", "start", str(site), "--coordinator", "fl.example.org:9092", "--ca", str(ca)]
    argv += [option, value]
    assert expected in _one_line_error(argv, capsys)
    assert not (site / SUPEREXEC_SECRET).exists() and not (site / LOCK_FILE).exists()


def test_good_start_options_pass(ca: Path) -> None:
    for coordinator in ("fl.example.org:9092", "127.0.0.1:1", "[::1]:65535"):
        check_start_options(AgentOptions(coordinator, ca, local_port=65535, max_retries=0))


# finding 4: audit names what is not a site folder


def test_audit_of_what_is_not_a_site_folder_says_so(tmp_path: Path, site: Path, capsys) -> None:
    (tmp_path / "afile").write_text("x")
    for path, what in (
        (tmp_path / "missing", "it does not exist"),
        (tmp_path / "afile", "it is a file"),
        (tmp_path, "it holds no hospital.json"),
    ):
        for extra in ([], ["--json"]):
            err = _one_line_error(["hospital", "audit", str(path), *extra], capsys)
            assert f"{path} is not a site folder (made by `genofed hospital init`): {what}" in err
    assert "no audit log yet" in _one_line_error(["hospital", "audit", str(site)], capsys)


# finding 5: a declared size far from the real count is warned about, locally


@pytest.mark.parametrize("declared", [None, 80, 160, 40])
def test_a_declared_size_near_the_real_count_is_not_warned_about(declared) -> None:
    assert declared_size_warnings(declared, 80) == []


def test_a_declared_size_far_from_the_real_count_is_warned_about() -> None:
    (over,) = declared_size_warnings(100_000, 80)
    assert over["code"] == "declared-size"
    assert "batches hold about 0.1% of the intended number" in over["message"]
    assert "as if it had 100000 patients" in over["message"] and "accounting stays correct" in over["message"]
    (under,) = declared_size_warnings(30, 80)
    assert "2.7x the intended number of patients" in under["message"]
    assert "refuses distributed-DP rounds" in under["message"]  # rows beyond the public bound's ceiling


def test_check_prints_the_warning_but_records_none(tmp_path: Path, cohorts: Path, capsys) -> None:
    site = tmp_path / "site"
    init_site(site, "rostov")
    data = hospital_folders(cohorts)[0]
    bound = check_site(
        site,
        data.genotypes,
        data.phenotypes,
        cohorts / "panel.tsv",
        ledger_index=tmp_path / "index",
        declared_size=100_000,
    )
    assert [w["code"] for w in bound["warnings"]].count("declared-size") == 1
    assert bound["declared_size"] == 100_000  # the hospital's statement stands
    recorded = json.loads((site / "hospital.json").read_text())
    assert "warnings" not in recorded and "warnings" not in recorded["data"]
