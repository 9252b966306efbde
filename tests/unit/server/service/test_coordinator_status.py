"""`genofed coordinator status` says only what is true now (an operator audit): after the run
every hospital was still shown "online" with no SuperLink left to ask; while the run was watched
the first line read "running, run 1835... (None)"; after a SIGTERM "stopped, run 9637... (running)".

The hospitals' connection states are shown only while the coordinator runs, else "unknown" with
the state last recorded and when; the parenthesis after the run names Flower's run state, is
left out before the coordinator first asked, and a run stopped before it finished is
"interrupted", not "running"."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from genofed.cli.main import main
from genofed.common.deployment.processes import process_identity
from genofed.server.service import launch
from genofed.server.service.status import STATUS_FILE

UPDATED = "2026-12-05T05:00:00+00:00"


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _status_lines(fed: Path, capsys, **recorded) -> list[str]:
    """`coordinator status`'s lines for a DIR/coordinator.json with `recorded` in it."""
    base = {"pid": os.getpid(), "run_id": 1835, "updated": UPDATED}
    base["hospitals"] = {"rostov": {"node_id": "77", "status": "online"}}
    (fed / STATUS_FILE).write_text(json.dumps(base | recorded))
    capsys.readouterr()
    assert main(["coordinator", "status", str(fed)]) == 0
    return capsys.readouterr().out.splitlines()


def test_while_running_the_hospitals_state_is_shown_and_no_none(fed, capsys):
    lines = _status_lines(fed, capsys, state="running", run_status=None)
    assert lines[0] == "coordinator: running, run 1835"
    assert lines[1].split() == ["rostov", "node", "77:", "online"]
    lines = _status_lines(fed, capsys, state="running", run_status="running")
    assert lines[0] == "coordinator: running, run 1835 (Flower's run state: running)"


@pytest.mark.parametrize("state", ["finished", "stopped", "failed"])
def test_once_the_coordinator_is_gone_the_hospitals_state_is_unknown(fed, capsys, state):
    lines = _status_lines(fed, capsys, state=state, run_status="finished:completed", pid=_dead_pid())
    assert lines[0] == f"coordinator: {state}, run 1835 (Flower's run state: finished:completed)"
    assert lines[1].endswith(
        f"node 77: unknown: the coordinator is not running (last seen online at {UPDATED})"
    )


def test_a_crashed_coordinators_hospitals_are_unknown_too(fed, capsys):
    lines = _status_lines(fed, capsys, state="running", run_status="running", pid=_dead_pid())
    assert lines[0].startswith("coordinator: crashed (restart with genofed coordinator start")
    assert lines[0].endswith(
        "run 1835 (interrupted; Flower's run state was running when the coordinator stopped)"
    )
    assert "unknown: the coordinator is not running (last seen online at" in lines[1]


def test_a_recorded_pid_now_another_process_is_no_running_coordinator(fed, capsys):
    """After a power loss the recorded pid may be a new, unrelated process (here this test's own):
    the identity recorded beside it tells them apart, so status says crashed, not running."""
    another_boot = {"pid": "another-boot:1234"}
    lines = _status_lines(fed, capsys, state="running", run_status="running", identities=another_boot)
    assert lines[0].startswith("coordinator: crashed (restart with genofed coordinator start")
    this_process = {"pid": process_identity(os.getpid())}
    lines = _status_lines(fed, capsys, state="running", run_status="running", identities=this_process)
    assert lines[0] == "coordinator: running, run 1835 (Flower's run state: running)"


def test_a_run_stopped_by_a_signal_is_not_described_as_running(fed, capsys):
    lines = _status_lines(fed, capsys, state="stopped", run_status="running", pid=_dead_pid())
    assert lines[0] == (
        "coordinator: stopped, run 1835 (interrupted; Flower's run state was running when the coordinator "
        "stopped)"
    )
    assert "(running)" not in "\n".join(lines)


def test_status_json_keeps_the_last_known_state_with_its_time(fed, capsys):
    _status_lines(fed, capsys, state="finished", run_status="finished:completed", pid=_dead_pid())
    assert main(["coordinator", "status", str(fed), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["coordinator_running"] is False
    assert status["hospitals"]["rostov"] == {
        "node_id": "77",
        "status": "unknown",
        "last_status": "online",
        "last_seen": UPDATED,
    }


class _StillRunning:
    """A SuperLink that is still running, as `_finish_run` sees it after a signal ended the watch."""

    returncode = None

    def poll(self) -> None:
        return None


class _Log:
    def text(self, *_args, **_kwargs) -> str:
        return "the ServerApp's log\n"


def test_start_says_a_run_stopped_by_a_signal_was_interrupted_not_running(tmp_path):
    status = {"run_id": 9637, "run_status": "running"}
    said: list[str] = []
    code = launch._finish_run(tmp_path, _Log(), _StillRunning(), status, {"signal": 15}, said.append)
    assert code == 1 and status["state"] == "stopped"
    assert said[0].startswith(
        "run 9637: interrupted by signal 15 (Flower's run state was running; the next start resumes it)"
    )
    assert len(said) == 1  # not the ServerApp's log's last lines, as for a failed run
    # no results.json: none is said to be there (an operator's walkthrough was told "results in DIR/run")
    assert "; no results written yet, the ServerApp's log in " in said[0] and "results in" not in said[0]


def test_status_says_why_a_run_failed_as_start_said_it(tmp_path):
    """A run whose ServerApp stopped with genofed's error (a hospital refused the app bundle, too
    few could take part): `coordinator start` said why, but coordinator.json kept only "failed",
    so `coordinator status` said nothing more (a verification walkthrough)."""
    from genofed.server.service.federation_folder import RUN_DIR
    from genofed.server.service.run_end import RUN_END_FILE

    why = "only 1 hospital(s) can take part, 2 needed; node 12: UnapprovedApp: refused the app bundle"
    (tmp_path / RUN_DIR).mkdir()
    ended = {"run_id": 9637, "completed": False, "error": why}
    (tmp_path / RUN_DIR / RUN_END_FILE).write_text(json.dumps(ended))
    status = {"run_id": 9637, "run_status": "finished:failed"}
    said: list[str] = []
    code = launch._finish_run(tmp_path, _Log(), _StillRunning(), status, {"signal": None}, said.append)
    assert code == 1 and status["state"] == "failed" and status["error"] == why
    assert said[-1] == f"the run stopped: {why}"


def test_while_running_the_serverapps_last_log_lines_are_shown(fed, capsys, monkeypatch):
    """An operator's walkthrough watched 3 minutes of "hospitals online: 1 of 3" while the ServerApp
    logged "waiting for hospitals ... giving up in 570 s": its log reached DIR/run/ only at the end."""
    from genofed.server.service import flower_control

    asked: list[tuple[str, ...]] = []
    log = "\n".join(f"INFO : line {i}" for i in range(12)) + "\nINFO : waiting for hospitals: 1 of 3\n"

    def text(self, *args, timeout=60.0):
        asked.append(args)
        return log

    monkeypatch.setattr(flower_control.FlowerControl, "text", text)
    lines = _status_lines(
        fed, capsys, state="running", run_status="running", internal_address="127.0.0.1:9091"
    )
    assert asked == [("log", "1835", flower_control.CONNECTION, "--show")]
    start = lines.index("the ServerApp's last log lines (the whole log lands in DIR/run/ when the run ends):")
    assert lines[start + 1 :] == [f"  INFO : line {i}" for i in range(5, 12)] + [
        "  INFO : waiting for hospitals: 1 of 3"
    ]
    asked.clear()  # once the coordinator is gone: its SuperLink is not asked
    lines = _status_lines(fed, capsys, state="stopped", pid=_dead_pid(), internal_address="127.0.0.1:9091")
    assert asked == [] and not any("last log lines" in line for line in lines)
