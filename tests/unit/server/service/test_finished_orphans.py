"""A coordinator killed (SIGKILL) while its run went on, whose SuperLink group finished the run
without it (an operator audit): its SuperLink, SuperExec, ServerApp and nginx (one process group)
completed the run and wrote results.json, model.pt and the report, then kept the ports, the
unauthenticated Control API and the hospitals' connections open. The next `coordinator start`
refused the finished run before it reached the orphan clean-up, so it left them running; `status`
said "crashed (restart ...; it resumes from the last checkpoint)" next to "rounds: 8 of 8"; and no
serverapp-RUN.log was saved (only the coordinator saves it).

Now `start` stops that group first (after saving the ServerApp's log from its SuperLink while it
still answers), says so, then refuses the finished run; `status` says the run finished while the
coordinator was down. The processes are `sleep`s in one process group; `flwr` is faked."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers.coordinator_service import dead_pid, loopback_service_options, sleeper

from genofed.cli.main import main
from genofed.common.deployment.processes import pid_alive
from genofed.common.errors import GenofedError
from genofed.server.service import launch, orphans
from genofed.server.service.flower_control import CONNECTION
from genofed.server.service.folder_files import CoordinatorRunning
from genofed.server.service.run_end import RUN_END_FILE
from genofed.server.service.status import STATUS_FILE, coordinator_status

RUN_ID = 1835
UPDATED = "2026-12-05T05:00:00+00:00"
LOG_TEXT = "INFO : round 8 of 8\nINFO : run finished\n"


def _finished_unsupervised(fed: Path, *, alive: bool = True, ended: bool = True) -> list[subprocess.Popen]:
    """The folder as a coordinator killed mid-run leaves it once its group finished the run:
    coordinator.json "running" with the killed coordinator's pid and its group's pids, the run's
    results (and, `ended`, the ServerApp's end-of-run file). Returns the group's processes
    (`alive`: still running, else their pids are dead)."""
    if alive:
        superlink = sleeper(0)
        group = [superlink, sleeper(superlink.pid), sleeper(superlink.pid)]
        pids = [p.pid for p in group]
    else:
        group, pids = [], [dead_pid() for _ in range(3)]
    status = {
        "pid": dead_pid(),
        "state": "running",
        "run_id": RUN_ID,
        "run_status": "running",
        "internal_address": "127.0.0.1:9091",
        "address": "0.0.0.0:9092",
        "superlink_pid": pids[0],
        "superexec_pid": pids[1],
        "proxy_pid": pids[2],
        "updated": UPDATED,
        "hospitals": {"rostov": {"node_id": "77", "status": "online"}},
    }
    (fed / STATUS_FILE).write_text(json.dumps(status))
    run = fed / "run"
    run.mkdir(exist_ok=True)
    (run / "results.json").write_text(json.dumps({"rounds": [{"round": r} for r in range(1, 9)]}))
    (run / "model.pt").write_bytes(b"the model the hospitals received")
    if ended:
        (run / RUN_END_FILE).write_text(json.dumps({"run_id": RUN_ID, "completed": True, "error": None}))
    return group


class _Flower:
    """`FlowerControl` against the orphaned SuperLink, without `flwr`: the run finished."""

    calls: list[tuple[str, ...]] = []
    ended_at_ls: list[bool] = []
    folder: Path | None = None

    def __init__(self, folder: Path, address: str) -> None:
        type(self).folder = folder
        type(self).calls.append(("connect", address))

    def __call__(self, *args: str, timeout: float = 60.0) -> dict:
        type(self).calls.append(args)
        type(self).ended_at_ls.append((self.folder / "run" / RUN_END_FILE).exists())
        return {"success": True, "runs": [{"run-id": RUN_ID, "status": "finished:completed"}]}

    def text(self, *args: str, timeout: float = 60.0) -> str:
        type(self).calls.append(args)
        return LOG_TEXT


@pytest.fixture
def flower(monkeypatch) -> type[_Flower]:
    monkeypatch.setattr(_Flower, "calls", [])
    monkeypatch.setattr(_Flower, "ended_at_ls", [])
    monkeypatch.setattr(orphans, "FlowerControl", _Flower)
    return _Flower


def _all_stopped(group: list[subprocess.Popen]) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not any(pid_alive(p.pid) for p in group):
            return True
        time.sleep(0.05)
    return False


def _status_lines(fed: Path, capsys) -> list[str]:
    capsys.readouterr()
    assert main(["coordinator", "status", str(fed)]) == 0
    return capsys.readouterr().out.splitlines()


def test_start_stops_the_group_that_finished_the_run_saves_its_log_then_refuses(fed, flower, capsys):
    group = _finished_unsupervised(fed)
    killed = json.loads((fed / STATUS_FILE).read_text())["pid"]
    said: list[str] = []
    with pytest.raises(GenofedError, match=r"already finished; outputs in .*run.*new federation folder"):
        launch.start_coordinator(fed, loopback_service_options(), said.append)
    assert _all_stopped(group)
    run = fed.resolve() / "run"
    pids = ", ".join(str(p.pid) for p in group)
    assert said == [
        f"stopped the processes a killed coordinator (pid {killed}, running) left running: pids {pids} "
        f"(its SuperLink group); the run had finished without it: results in {run}, the ServerApp's log "
        f"in {run / f'serverapp-{RUN_ID}.log'}"
    ]
    assert (run / f"serverapp-{RUN_ID}.log").read_text() == LOG_TEXT  # from the orphaned SuperLink
    assert ("connect", "127.0.0.1:9091") in flower.calls
    assert ("log", str(RUN_ID), CONNECTION, "--show") in flower.calls
    assert (run / "model.pt").read_bytes() == b"the model the hospitals received"  # nothing rewritten
    assert not (fed / "superlink.log").exists()  # nothing started
    recorded = json.loads((fed / STATUS_FILE).read_text())
    assert recorded["state"] == "finished" and recorded["ended_while_down"] is True
    assert recorded["run_status"] == "finished:completed" and recorded["updated"] == UPDATED
    # status: the run finished while the coordinator was down, not "crashed ... resumes"
    lines = _status_lines(fed, capsys)
    assert lines[0] == (
        "coordinator: finished while the coordinator was down (results written by the processes it left "
        f"running), run {RUN_ID} (Flower's run state: finished:completed)"
    )
    assert lines[1].endswith(
        f"node 77: unknown: the coordinator is not running (last seen online at {UPDATED})"
    )
    assert "rounds: 8 of" in "\n".join(lines)
    # and a second start: no group left, the record no longer "running": refused as before, nothing said
    said.clear()
    with pytest.raises(GenofedError, match="already finished"):
        launch.start_coordinator(fed, loopback_service_options(), said.append)
    assert said == []


def test_the_cli_says_what_it_stopped_before_the_refusal(fed, flower, capsys):
    group = _finished_unsupervised(fed)
    capsys.readouterr()
    assert main(["coordinator", "start", str(fed), "--nginx", "/bin/true"]) == 2
    err = capsys.readouterr().err
    assert _all_stopped(group)
    stopped = err.index("stopped the processes a killed coordinator")
    assert stopped < err.index("error: the federation's run already finished")
    assert "the run had finished without it: results in" in err


def test_a_superlink_that_does_not_answer_is_stopped_and_its_log_said_not_saved(fed, monkeypatch):
    group = _finished_unsupervised(fed)

    class Silent(_Flower):
        def __call__(self, *args: str, timeout: float = 60.0) -> dict:
            raise GenofedError("flwr ls failed: connection refused")

    monkeypatch.setattr(orphans, "FlowerControl", Silent)
    said: list[str] = []
    with pytest.raises(GenofedError, match="already finished"):
        launch.start_coordinator(fed, loopback_service_options(), said.append)
    assert _all_stopped(group)
    assert len(said) == 1 and said[0].startswith("stopped the processes a killed coordinator")
    assert said[0].endswith(
        "; the ServerApp's log was not saved (its SuperLink did not answer: flwr ls failed: connection "
        "refused)"
    )
    assert not (fed / "run" / f"serverapp-{RUN_ID}.log").exists()
    recorded = json.loads((fed / STATUS_FILE).read_text())
    assert recorded["state"] == "finished" and recorded["run_status"] == "running"  # Flower never said
    status = coordinator_status(fed)
    assert status["state"].startswith("finished while the coordinator was down")
    assert status["run_status"] is None and status["last_run_status"] == "running"


def test_a_group_already_gone_is_said_and_the_record_set_finished(fed, flower):
    _finished_unsupervised(fed, alive=False)
    said: list[str] = []
    with pytest.raises(GenofedError, match="already finished"):
        launch.start_coordinator(fed, loopback_service_options(), said.append)
    assert len(said) == 1 and "left nothing running; the run had finished without it: results in" in said[0]
    assert said[0].endswith("the ServerApp's log was not saved (its SuperLink was no longer running)")
    assert flower.calls == []  # no SuperLink to ask
    assert json.loads((fed / STATUS_FILE).read_text())["state"] == "finished"


def test_the_servers_end_is_awaited_before_its_group_is_stopped(fed, flower):
    """results.json comes before the report: the group is stopped once the ServerApp has ended."""
    group = _finished_unsupervised(fed, ended=False)
    end_file = fed / "run" / RUN_END_FILE

    def end_later() -> None:
        time.sleep(0.5)
        end_file.write_text(json.dumps({"run_id": RUN_ID, "completed": True, "error": None}))

    threading.Thread(target=end_later, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(GenofedError, match="already finished"):
        launch.start_coordinator(fed, loopback_service_options(), lambda _message: None)
    assert time.monotonic() - started < orphans.FINISHED_ORPHAN_GRACE / 2
    assert flower.ended_at_ls == [True]
    assert _all_stopped(group)


def test_a_live_coordinators_group_is_not_stopped_after_its_run_finished(fed, flower):
    """A coordinator still running (it holds the lock) whose run just finished: the start is
    refused on the lock, and nothing of the running coordinator's is stopped."""
    group = _finished_unsupervised(fed)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from genofed.server.service.folder_files import hold_federation\n"
            "with hold_federation(sys.argv[1]):\n    print('held', flush=True); time.sleep(120)",
            str(fed),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(CoordinatorRunning, match=rf"already running \(pid {holder.pid}\)"):
            launch.start_coordinator(fed, loopback_service_options(), lambda _message: None)
        assert all(pid_alive(p.pid) for p in group)
        assert json.loads((fed / STATUS_FILE).read_text())["state"] == "running"
    finally:
        holder.kill()
        holder.wait()
        for process in group:
            process.kill()


def test_status_says_finished_while_down_while_the_group_still_runs(fed, capsys):
    group = _finished_unsupervised(fed)
    try:
        lines = _status_lines(fed, capsys)
        pids = ", ".join(str(p.pid) for p in group)
        assert lines[0] == (
            "coordinator: finished while the coordinator was down; the processes it left running "
            f"(pids {pids}) still hold its ports: `genofed coordinator start` stops them, run {RUN_ID}"
        )
        assert "crashed" not in "\n".join(lines) and "resumes" not in "\n".join(lines)
        assert "rounds: 8 of" in "\n".join(lines)
        status = coordinator_status(fed)
        assert status["coordinator_running"] is False and status["results"]
        assert status["run_status"] is None and status["last_run_status"] == "running"  # not stale
    finally:
        for process in group:
            process.kill()
    assert _all_stopped(group)
    lines = _status_lines(fed, capsys)
    assert lines[0] == (
        "coordinator: finished while the coordinator was down (results written by the processes it left "
        f"running), run {RUN_ID}"
    )


def test_without_results_a_killed_coordinator_is_still_crashed_and_resumes(fed, capsys):
    _finished_unsupervised(fed, alive=False)
    (fed / "run" / "results.json").unlink()
    assert coordinator_status(fed)["state"].startswith(
        "crashed (restart with genofed coordinator start; it resumes from the last checkpoint)"
    )


def test_a_killed_coordinator_whose_group_still_runs_the_run_is_said_to(fed, capsys):
    """An operator's walkthrough SIGKILLed `coordinator start` in round 2: status said "crashed
    ... interrupted" and "rounds: 0 of 3" while the SuperLink group it left ran rounds 2-3 and the
    hospitals went on spending."""
    group = _finished_unsupervised(fed, alive=True)
    try:
        (fed / "run" / "results.json").unlink()
        state = coordinator_status(fed)["state"]
        pids = ", ".join(str(process.pid) for process in group)
        assert state.startswith(
            f"crashed, but the SuperLink group it started (pids {pids}) still runs the run"
        )
        assert "the hospitals go on training and spending" in state
    finally:
        for process in group:
            process.kill()
            process.wait()


def test_status_shows_the_epsilon_spent_with_the_evaluations_not_only_the_last_training(fed, capsys):
    """A round's epsilon_max is what its training reported; its DP evaluation spends more after it.
    `status` said 'epsilon <= 7.56' where the hospital's ledger and the report said 7.97 (an
    operator's walkthrough): it now says what the round's figure is and adds the run's spend."""
    _finished_unsupervised(fed, alive=False)
    rounds = [{"round": 1, "test_auc": 0.61, "epsilon_max": 7.56, "participants": ["rostov", "eysk"]}]
    sites = {"rostov": {"epsilon": 7.97}, "eysk": {"epsilon": 7.9}}
    (fed / "run" / "results.json").write_text(json.dumps({"rounds": rounds, "sites": sites}))
    text = "\n".join(_status_lines(fed, capsys))
    assert "round 1: test AUC 0.610, epsilon after its training <= 7.56 (its evaluation spends more)" in text
    assert (
        "each hospital's epsilon after the run, earlier runs and evaluations included: at most 7.97 "
        "(rostov 7.97, eysk 7.90)" in text
    )
    assert coordinator_status(fed)["epsilon_spent"] == {"rostov": 7.97, "eysk": 7.9}
    # evaluations planned and none recorded (the coordinator stopped in the last round while its
    # hospitals answered and paid): the figure is what the coordinator recorded, not "at most"
    record = {"rounds": rounds, "sites": sites, "site_evaluation": None, "config": {"site-evaluations": 1}}
    (fed / "run" / "results.json").write_text(json.dumps(record))
    text = "\n".join(_status_lines(fed, capsys))
    assert "at most" not in text
    assert "as the coordinator recorded it, earlier runs included: 7.97 (rostov 7.97, eysk 7.90)" in text
    assert "planned 1 evaluation(s) of the final model and recorded none" in text
    # a run without DP: no epsilon, and nothing said of an evaluation's spending
    rounds[0]["epsilon_max"] = None
    (fed / "run" / "results.json").write_text(json.dumps({"rounds": rounds, "sites": {}}))
    text = "\n".join(_status_lines(fed, capsys))
    assert "round 1: test AUC 0.610, epsilon n/a, participants" in text and "spends more" not in text


def test_status_says_nothing_of_evaluations_in_a_run_that_makes_none(fed, capsys):
    """`status` said "(its evaluation spends more)" after a round's epsilon in a run with
    `site-evaluations 0` (an operator's walkthrough): the hospitals evaluated nothing and spent
    nothing more. The count is the run's (results.json's config), else the federation's."""
    _finished_unsupervised(fed, alive=False)
    rounds = [{"round": 1, "test_auc": 0.61, "epsilon_max": 7.56, "participants": ["rostov"]}]
    record = {"rounds": rounds, "sites": {"rostov": {"epsilon": 7.56}}, "config": {"site-evaluations": 0}}
    (fed / "run" / "results.json").write_text(json.dumps(record))
    text = "\n".join(_status_lines(fed, capsys))
    assert "round 1: test AUC 0.610, epsilon after its training <= 7.56, participants rostov" in text
    assert "spends more" not in text
    # no config recorded (an older results.json): the federation's settings say it
    del record["config"]
    (fed / "run" / "results.json").write_text(json.dumps(record))
    assert "(its evaluation spends more)" in "\n".join(_status_lines(fed, capsys))  # init's default, 1
    federation = json.loads((fed / "federation.json").read_text())
    federation["settings"]["site-evaluations"] = 0
    (fed / "federation.json").write_text(json.dumps(federation))
    assert "spends more" not in "\n".join(_status_lines(fed, capsys))
    assert coordinator_status(fed)["site_evaluations"] == 0


def test_status_of_a_failed_start_says_why(fed, capsys):
    """`coordinator status` printed only 'coordinator: failed'; the reason was in coordinator.json
    (an operator's walkthrough)."""
    error = "nginx exited with code 1 at start: ... (is 127.0.0.1:9092 in use?)"
    (fed / STATUS_FILE).write_text(json.dumps({"state": "failed", "pid": dead_pid(), "error": error}))
    lines = _status_lines(fed, capsys)
    assert lines[0] == "coordinator: failed" and lines[1] == f"  why: {error}"


def test_status_says_why_a_run_ended_before_its_last_round(fed, capsys):
    """A SecAgg+ run that ended early (no later round could complete) is not "2 of 3" unexplained."""
    _finished_unsupervised(fed, alive=False)
    rounds = [{"round": 1, "test_auc": 0.61, "epsilon_max": 2.0, "participants": ["rostov", "eysk"]}]
    why = "round 2 of 3: 1 of the run's 2 hospitals refused its plan, and a SecAgg+ round needs at least 2"
    ended = {"after_round": 2, "rounds_planned": 3, "reason": why}
    (fed / "run" / "results.json").write_text(json.dumps({"rounds": rounds, "ended_early": ended}))
    assert f"  the run ended early: {why}" in _status_lines(fed, capsys)
    # a last round that halted (SecAgg+: too few to unmask) used nobody's update: it says so
    halted = [*rounds, {"round": 2, "test_auc": 0.61, "epsilon_max": None, "participants": []}]
    (fed / "run" / "results.json").write_text(json.dumps({"rounds": halted, "ended_early": ended}))
    assert "  round 2: test AUC 0.610, epsilon n/a, participants none (no update was used in it)" in (
        _status_lines(fed, capsys)
    )
    (fed / "run" / "results.json").write_text(json.dumps({"rounds": rounds}))
    assert not any("ended early" in line for line in _status_lines(fed, capsys))
