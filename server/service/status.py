"""DIR/coordinator.json, the coordinator's state file, and what `genofed coordinator status` shows.

`coordinator start` (launch.py) writes the file (`write_status`) from the moment it starts the
SuperLink; `status` only reads it, with the run's results or last checkpoint, and needs none of
start's machinery (Flower, nginx, signals): hence a module of its own. From the pids the file
records it also tells whether the SuperLink group of a killed coordinator still runs
(`orphans_alive`): `status` reports such a group, orphans.py stops it; this module stops nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genofed.common.deployment.processes import pid_alive, recorded_alive
from genofed.common.errors import DataError, GenofedError
from genofed.common.util.atomic import write_text_atomic
from genofed.server.service.enrollment import without_size
from genofed.server.service.federation_folder import NODES_FILE, RUN_DIR, check_nodes, read_federation_file
from genofed.server.service.folder_files import STATUS_FILE, require_complete
from genofed.server.service.handover import PREDECESSOR_KEY, handed_over_to
from genofed.server.service.participation import who_took_part
from genofed.server.training_rule import rule_rounds

#: The run's results (genofed.server.results.RESULTS, not imported: it loads torch); written
#: once the run completed, so its presence marks a finished run.
RESULTS_FILE = "results.json"


def coordinator_status(folder: str | Path) -> dict[str, Any]:
    """What `genofed coordinator status` shows: the service state, hospitals, rounds and metrics.

    `coordinator_running`: whether the coordinator that wrote DIR/coordinator.json still runs;
    only then are the hospitals' connection states and the run's Flower state current. One killed
    while its run went on is "crashed" (a start resumes the run), or, once results.json is there,
    the run "finished while the coordinator was down" (its SuperLink group completed it)."""
    folder = Path(folder)
    require_complete(folder)  # not "never started" for a folder with its certificates missing
    federation = read_federation_file(folder)
    status = read_json(folder / STATUS_FILE, {"state": "never started"})
    under_way = status.get("state") in ("starting", "running")
    status["coordinator_running"] = under_way and recorded_alive(status, "pid")
    results_file = folder / RUN_DIR / RESULTS_FILE
    if (under_way or status.get("ended_while_down")) and not status["coordinator_running"]:
        if results_file.is_file():  # the killed coordinator's SuperLink group finished the run
            status["state"] = _finished_while_down(status)
        elif under_way:
            alive = orphans_alive(status)
            status["state"] = (
                f"crashed, but the SuperLink group it started (pids {', '.join(map(str, alive))}) still runs "
                "the run: the hospitals go on training and spending; let it finish, or `genofed coordinator "
                "start` stops it and resumes from the last checkpoint"
                if alive
                else "crashed (restart with genofed coordinator start; it resumes from the last checkpoint)"
            )
    if not status["coordinator_running"]:
        status["hospitals"] = _last_known(status.get("hospitals", {}), status.get("updated"))
    settings = federation["settings"]
    # 0 = the rule's (server/training_rule.py), which needs no panel for the count
    status["rounds_planned"] = planned_rounds(settings)
    status["rounds_by_rule"] = not settings["rounds"]
    results = read_json(results_file, None)
    record = results if results else round_progress(folder / RUN_DIR / "checkpoints")
    history = record.get("rounds") or []
    status["rounds_done"] = max((r["round"] for r in history), default=0)
    status["last_round"] = history[-1] if history else None
    status["results"] = str(folder / RUN_DIR / RESULTS_FILE) if results else None
    # a SecAgg+ run that stopped before its last round since no later round could complete
    status["ended_early"] = results.get("ended_early") if results else None
    # what each hospital spent on the whole run, its evaluations included: a round's epsilon_max is
    # the one its training reported, before that round's DP evaluation spent more
    status["epsilon_spent"] = _spent(results) if results else None
    # the evaluations each hospital makes per run (`site-evaluations`): with none, a round's
    # training figure is all a hospital spends on it, and `status` says nothing of evaluations
    status["site_evaluations"] = planned_evaluations(settings, results)
    # evaluations the run planned and did not record: the figures above are then a floor
    status["unrecorded_evaluations"] = unrecorded_evaluations(results) if results else 0
    # enrolled with --no-declared-size (or before enroll asked for the size): their sizes are their word
    status["without_enrolled_size"] = without_size(folder)
    # which hospitals trained in how many of the rounds so far, and each one left out of some, why
    took_part = who_took_part(record)
    status["trained"], status["left_out"] = took_part if took_part else (None, [])
    # a later study took this federation over (`init --same-federation-as`): this folder starts no more
    handover = handed_over_to(folder)
    status["carried_over_to"] = (
        None if handover is None else {"folder": str(handover.successor), "at": handover.at}
    )
    # where this folder's CA and enrolments came from, for a second study's folder
    status["same_federation_as"] = federation.get(PREDECESSOR_KEY)
    status["serverapp_log_tail"] = (
        _serverapp_log_tail(folder, status) if status["coordinator_running"] else []
    )
    # what the running coordinator's last poll of the SuperLink found (`flwr ls`, every
    # `poll_seconds`): asking the SuperLink again here ran a second `flwr` CLI, 9 s of status's
    # 17 s at a load average of 8 (see round_progress)
    status["other_runs"] = list(status.get("other_runs") or []) if status["coordinator_running"] else []
    return status


def other_runs(runs: list[Any], ours: str) -> list[dict[str, str]]:
    """The runs of a `flwr ls` listing whose app is not `ours`, the one this coordinator submits:
    anyone reaching its Control API, which has no authentication, can submit one, and the
    hospitals refuse it (genofed.client.agent.pinning). An ML engineer's walkthrough found such a
    run only with `flwr ls`; `coordinator status` said nothing. `coordinator start` records them in
    coordinator.json at every poll; [] when it recorded no app."""
    if not ours:
        return []
    return [
        {
            "run_id": str(run.get("run-id")),
            "status": str(run.get("status")),
            "fab_hash": str(run.get("fab-hash")),
        }
        for run in runs
        if isinstance(run, dict) and str(run.get("fab-hash")) != ours
    ]


#: How many of the running ServerApp's last log lines `coordinator status` shows.
LOG_TAIL_LINES = 8


def _serverapp_log_tail(folder: Path, status: dict[str, Any]) -> list[str]:
    """The running ServerApp's last log lines, read from its SuperLink (`flwr log --show`): its
    "waiting for hospitals ... giving up in 570 s" and "no reply from rostov" lines reached the run
    folder only at the end, and an operator's walkthrough watched 3 minutes of "hospitals online: 1 of
    3" with no sign of them. [] when there is no run yet or the SuperLink does not answer."""
    import subprocess

    from genofed.server.service.flower_control import CONNECTION, FlowerControl

    if not status.get("run_id") or not status.get("internal_address"):
        return []
    try:
        control = FlowerControl(folder, status["internal_address"])
        text = control.text("log", str(status["run_id"]), CONNECTION, "--show", timeout=20)
    except (GenofedError, OSError, subprocess.SubprocessError):
        return []
    # without Flower's colour codes (`\x1b[92mINFO \x1b[0m:`), which a pipe or a file keeps
    plain = (ANSI_CODE.sub("", line) for line in text.splitlines())
    return [line for line in plain if line.strip()][-LOG_TAIL_LINES:]


#: A terminal's colour or style code, as Flower's log lines carry them.
ANSI_CODE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _last_known(hospitals: dict[str, dict[str, Any]], updated: str | None) -> dict[str, dict[str, Any]]:
    """The hospitals' connection state once the coordinator is not running: "unknown" (no
    SuperLink to ask), with the state it last recorded and when (`last_status`, `last_seen`), not
    that state as if it were current (every hospital "online" after the run)."""
    return {
        name: dict(node, status="unknown", last_status=node["status"], last_seen=updated)
        for name, node in hospitals.items()
    }


def unrecorded_evaluations(results: Mapping[str, Any]) -> int:
    """How many evaluations of the final model a finished run planned (`site-evaluations`) when it
    recorded none (`site_evaluation` None: stopped before the replies arrived, or every hospital
    refused); 0 otherwise. The hospitals may have answered, and paid, all the same: each figure of
    their spending read from results.json is then a floor, and says so."""
    config = results.get("config") if isinstance(results.get("config"), Mapping) else {}
    planned = config.get("site-evaluations")  # absent (an older or partial record): not known
    if (
        results.get("site_evaluation") is not None
        or isinstance(planned, bool)
        or not isinstance(planned, int)
    ):
        return 0
    if planned <= 0:
        return 0
    ended = results.get("ended_early")
    if isinstance(ended, Mapping) and all(
        isinstance(ended.get(key), int) for key in ("after_round", "rounds_planned")
    ):  # a run that ended early never sent the evaluations after its end
        from genofed.server.strategies import evaluations_before_the_end

        return evaluations_before_the_end(dict(ended), planned)
    return planned


def planned_evaluations(settings: Mapping[str, Any], results: Mapping[str, Any] | None) -> int:
    """How many evaluations of the model each hospital makes in the run, a DP release each: the
    count the run recorded in results.json's config, else the federation's `site-evaluations`.
    Why: `status` said "(its evaluation spends more)" after a round's epsilon in a run with
    `site-evaluations 0`, where the hospitals evaluate nothing and spend nothing more (an
    operator's walkthrough)."""
    config = results.get("config") if results and isinstance(results.get("config"), Mapping) else {}
    for planned in (config.get("site-evaluations"), settings.get("site-evaluations")):
        if isinstance(planned, int) and not isinstance(planned, bool):
            return max(planned, 0)
    return 0


def _spent(results: dict[str, Any]) -> dict[str, float]:
    """Each hospital's epsilon on the whole run as results.json records it (`sites.NAME.epsilon`,
    what the report's privacy line reads first), evaluations included."""
    sites = results.get("sites") if isinstance(results.get("sites"), dict) else {}
    return {
        name: float(site["epsilon"])
        for name, site in sites.items()
        if isinstance(site, dict) and isinstance(site.get("epsilon"), int | float)
    }


def planned_rounds(settings: dict[str, Any]) -> int:
    """The rounds a federation's run trains: its `rounds`, else (0) the training rule's count, which
    needs no panel (server/training_rule.py)."""
    return settings["rounds"] or rule_rounds(settings.get("model", "auto"))


#: The run's round progress beside its checkpoints (genofed.server.checkpoint.PROGRESS, not
#: imported: that module loads torch).
PROGRESS_FILE = "progress.json"
_CHECKPOINT_NAME = re.compile(r"round-(\d+)\.pt")


def round_progress(checkpoints: Path) -> dict[str, Any]:
    """The rounds of a run under way and who was left out of them, as results.json has them
    (`rounds`, `refusals`, `not_connected`, `turned_away`): from the progress file the run writes
    with each checkpoint (JSON), when it is the latest checkpoint's; else from that checkpoint
    itself, which needs torch. {} without a checkpoint.

    Why: reading the checkpoint imported torch, 13 s of `coordinator status`'s 28-39 s during a
    run at a load average of 8 (profiled on a loopback deployment; 20-42 s in a walkthrough), where
    a stopped coordinator's status took 0.7-2.6 s."""
    if not checkpoints.is_dir():
        return {}
    latest = max(
        (
            int(m.group(1))
            for p in checkpoints.glob("round-*.pt")
            if (m := _CHECKPOINT_NAME.fullmatch(p.name))
        ),
        default=None,
    )
    if latest is None:
        return {}
    try:
        progress = json.loads((checkpoints / PROGRESS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        progress = None
    if (
        isinstance(progress, dict)
        and progress.get("round") == latest
        and isinstance(progress.get("rounds"), list)
    ):
        return progress
    from genofed.server.checkpoint import latest_checkpoint  # torch: a run that wrote no progress file

    checkpoint = latest_checkpoint(checkpoints)
    if checkpoint is None:
        return {}
    refused = checkpoint.log.get("refused") or {}
    return {
        "rounds": list(checkpoint.history),
        "refusals": {str(r): dict(reasons) for r, reasons in sorted(refused.items())},
    }


#: The processes `start` records in DIR/coordinator.json, all in the SuperLink's process group.
ORPHAN_PROCESSES = ("superlink", "superexec", "proxy")


def orphans_alive(status: dict[str, Any]) -> list[int]:
    """The pids of the SuperLink group coordinator.json records that are still alive (none without
    the SuperLink's: the group is stopped through it). Alive means the same process
    (`recorded_alive`): after a power loss a recorded pid may be another program's, which a start
    must not stop."""
    if not status.get("superlink_pid") or _superlink_replaced(status):
        return []
    keys = [f"{name}_pid" for name in ORPHAN_PROCESSES if status.get(f"{name}_pid")]
    return [status[key] for key in keys if recorded_alive(status, key)]


def _superlink_replaced(status: dict[str, Any]) -> bool:
    """Whether the SuperLink's pid, through which its group is stopped (`killpg`), now belongs to
    another process than the one recorded (a reboot): then none of the group is taken for alive,
    whatever its other members' pids now name (a review: a member trusted for an unrecorded
    identity would have had the new owner's process group stopped). A live pid that is not the
    recorded process can only be one whose identity was recorded (`recorded_alive`)."""
    return pid_alive(status["superlink_pid"]) and not recorded_alive(status, "superlink_pid")


def _finished_while_down(status: dict[str, Any]) -> str:
    """`status`'s state for a run that finished while its coordinator was down (killed, its
    SuperLink group left running). Flower's run state the coordinator last recorded ("running") is
    stale: kept as `last_run_status`, `run_status` None (unless Flower's final word was recorded)."""
    run_status = status.get("run_status")
    if run_status is not None and not str(run_status).startswith("finished"):
        status.update(last_run_status=run_status, run_status=None)
    if status.get("ended_while_down"):  # a later start stopped what it left
        return "finished while the coordinator was down (results written by the processes it left running)"
    alive = orphans_alive(status)
    if alive:
        return (
            "finished while the coordinator was down; the processes it left running (pids "
            f"{', '.join(map(str, alive))}) still hold its ports: `genofed coordinator start` stops them"
        )
    return "finished while the coordinator was down (results written by the processes it left running)"


def write_status(folder: Path, status: dict[str, Any]) -> None:
    write_text_atomic(folder / STATUS_FILE, json.dumps(dict(status, updated=now()), indent=2) + "\n")


def read_json(path: Path, default: Any) -> Any:
    """One of the coordinator's own state files (coordinator.json, nodes.json, results.json), or
    `default` when there is none; each is checked for the fields the commands read, so a file
    damaged or edited by hand is one DataError naming the field, not a traceback (`status`)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default
    except (OSError, json.JSONDecodeError) as exc:
        raise GenofedError(f"{path}: cannot read ({exc})") from None
    if path.name == NODES_FILE:
        check_nodes(path, data)
    elif path.name == STATUS_FILE:
        _check_status(path, data)
    elif not isinstance(data, dict) or not isinstance(data.get("rounds"), list):
        raise DataError(path, "not a run's results (an object with a 'rounds' list)", hint=_STATE_FIX)
    return data


_STATE_FIX = "restore it, or delete it while the coordinator is stopped (`coordinator start` writes it anew)"


def _check_status(path: Path, status: Any) -> None:
    """coordinator.json: an object whose `state` is a text, and whose `hospitals` (if any) maps
    each name to {"node_id", "status"}: what `status` and `start` read."""
    if not isinstance(status, dict):
        raise DataError(path, "not an object (the coordinator's state)", hint=_STATE_FIX)
    if not isinstance(status.get("state"), str):
        raise DataError(path, "field 'state' is missing or not a text", hint=_STATE_FIX)
    hospitals = status.get("hospitals", {})
    if not isinstance(hospitals, dict):
        raise DataError(path, "field 'hospitals' is not an object", hint=_STATE_FIX)
    for name, node in hospitals.items():
        if not isinstance(node, dict) or not {"node_id", "status"} <= node.keys():
            raise DataError(
                path,
                "the entry needs 'node_id' and 'status'",
                location=f"'hospitals' entry {name!r}",
                hint=_STATE_FIX,
            )


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
