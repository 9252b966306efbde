"""What a coordinator killed while it ran (SIGKILL, power loss) left running: its SuperLink group
(SuperExec, ServerApp, nginx), found from the pids DIR/coordinator.json recorded and stopped by
the next `coordinator start` (launch.py) under the folder's lock, before anything listens. A group
that finished the run without it has the ServerApp's log saved from its SuperLink first, and the
state file then says the run "finished while the coordinator was down".

Its own module: recovering from a crash is not starting a run, and `start` does it in two places
(before a new or resumed run, and before refusing a finished one). `coordinator status` only
reports such a group (status.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from genofed.common.deployment.processes import pid_alive
from genofed.common.errors import GenofedError
from genofed.common.util.atomic import write_text_atomic
from genofed.server.service.federation_folder import RUN_DIR
from genofed.server.service.flower_control import CONNECTION, FlowerControl, save_run_log
from genofed.server.service.run_end import wait_for_run_end
from genofed.server.service.status import STATUS_FILE, now, orphans_alive, read_json


def refuse_second_instance(folder: Path) -> str | None:
    """Stop what a killed coordinator of this folder left running; returns what it stopped (to
    say), None when nothing was left.

    A live coordinator holds the folder's lock (`hold_federation`), so a second start is refused
    before it gets here; a "starting" or "running" DIR/coordinator.json here is a coordinator
    killed (SIGKILL, power loss) while it ran, whose SuperLink group (its SuperExec, the
    ServerApp, nginx) may still hold the ports and the database: stopped before starting again,
    from the pids coordinator.json recorded when it started them. Its ports may take a moment to
    be free after that (`require_free_addresses`'s grace)."""
    status = read_json(folder / STATUS_FILE, {})
    if status.get("state") not in ("starting", "running"):
        return None
    alive = orphans_alive(status)
    if not alive:
        return None
    _stop_group(int(status["superlink_pid"]), alive)
    return _stopped_words(status, alive)


def _stopped_words(status: dict[str, Any], alive: list[int]) -> str:
    return (
        f"stopped the processes a killed coordinator (pid {status.get('pid')}, {status['state']}) left "
        f"running: pids {', '.join(map(str, alive))} (its SuperLink group)"
    )


#: Seconds a killed coordinator's SuperLink group gets, once results.json is there, to end the
#: ServerApp (the report is written after results.json; DIR/run/serverapp-ended.json comes last).
FINISHED_ORPHAN_GRACE = 30.0


def finished_without_coordinator(folder: Path) -> str | None:
    """With the folder's lock held and DIR/run/results.json there: what a coordinator killed while
    its run went on left behind, dealt with; returns what to say (None when the last coordinator
    did not die while the run was under way).

    Its SuperLink group (SuperExec, ServerApp, nginx) completed the run unsupervised and would
    keep the ports, the Control API and the hospitals' connections open: it is stopped, after the
    ServerApp's end (up to FINISHED_ORPHAN_GRACE) and after the ServerApp's log is saved from the
    SuperLink as the coordinator does (`save_run_log`). coordinator.json then says "finished",
    with `ended_while_down` (its `updated` kept: when the hospitals were last seen)."""
    status = read_json(folder / STATUS_FILE, {})
    if status.get("state") not in ("starting", "running"):
        return None
    alive = orphans_alive(status)
    results = f"results in {folder / RUN_DIR}"
    if alive:
        if status.get("run_id"):
            wait_for_run_end(folder / RUN_DIR, status["run_id"], FINISHED_ORPHAN_GRACE)
        log_file, why = _save_orphans_run_log(folder, status)
        _stop_group(int(status["superlink_pid"]), alive)
        said = f"{_stopped_words(status, alive)}; the run had finished without it: {results}"
    else:
        log_file, why = None, "its SuperLink was no longer running"
        said = (
            f"a coordinator killed while its run went on (pid {status.get('pid')}, {status['state']}) "
            f"left nothing running; the run had finished without it: {results}"
        )
    if log_file:
        said += f", the ServerApp's log in {log_file}"
    else:
        said += f"; the ServerApp's log was not saved ({why})"
    status.update(state="finished", ended_while_down=True, stopped=now())
    write_text_atomic(folder / STATUS_FILE, json.dumps(status, indent=2) + "\n")
    return said


def _save_orphans_run_log(folder: Path, status: dict[str, Any]) -> tuple[Path | None, str]:
    """The ServerApp's log from the still-running SuperLink a killed coordinator left (and the
    run's Flower state into `status`); (None, why not) when it cannot be had."""
    run_id = status.get("run_id")
    if not run_id:
        return None, "the killed coordinator had not recorded the run's id"
    if not status.get("internal_address"):
        return None, "the killed coordinator had not recorded its SuperLink's address"
    try:
        control = FlowerControl(folder, status["internal_address"])
        run = control("ls", "--run-id", str(run_id), CONNECTION, timeout=15)["runs"][0]
        status["run_status"] = run["status"]
        return save_run_log(control, folder, int(run_id)), ""
    except (GenofedError, OSError, subprocess.SubprocessError, KeyError, IndexError, TypeError) as exc:
        return None, f"its SuperLink did not answer: {exc}"


def _stop_group(leader: int, group: list[int]) -> None:
    """SIGTERM the process group of `leader` (the SuperLink), SIGKILL after 10 s if any of
    `group` still lives; one that is not ours to stop is an error naming it."""
    try:
        os.killpg(leader, signal.SIGTERM)
        for _ in range(50):
            if not any(pid_alive(pid) for pid in group):
                return
            time.sleep(0.2)
        os.killpg(leader, signal.SIGKILL)
    except ProcessLookupError:
        pass
    except PermissionError:
        raise GenofedError(
            f"processes a killed coordinator left running (pids {', '.join(map(str, group))}) belong to "
            "another user: stop them as that user, then start again"
        ) from None
