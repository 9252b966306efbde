"""The ServerApp's word that a deployed run has ended, so the coordinator notices at once.

Why: the coordinator learns a run's state from the SuperLink with the `flwr` CLI, about 1 s of
CPU per call, so it asks only every `poll_seconds` (10 s): an operator (and every deployed test)
waited up to that long, plus the call, after the last round for `genofed coordinator start` to
return. The ServerApp runs on the coordinator's machine and writes into the federation folder
anyway, so as its last act it writes DIR/run/serverapp-ended.json (its run id, whether it
completed and, when it stopped on a genofed error, that error's one-line message); the
coordinator looks for that file between its polls (a stat every `CHECK_SECONDS`) and asks the
SuperLink right away. The SuperLink stays the authority on the run's state: the file only says
when to ask, and its message is what the operator is shown when the run failed, in place of the
tail of the ServerApp's traceback.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from genofed.common.errors import GenofedError
from genofed.common.util.atomic import write_text_atomic

#: In the run's output folder (DIR/run).
RUN_END_FILE = "serverapp-ended.json"
#: How often the coordinator looks for the file while it waits between polls (seconds).
CHECK_SECONDS = 0.5


@contextlib.contextmanager
def announcing_the_end(run_dir: str | Path, run_id: int) -> Iterator[None]:
    """Run the body, then write RUN_END_FILE in `run_dir` for run `run_id`, however it ends.

    A `GenofedError` (a hospital refused, too few hospitals, a bad setting) is recorded with its
    message; any other exception as a failure without one (its traceback is in the ServerApp's
    log). The exception is re-raised either way: Flower marks the run failed.
    """
    ended: dict[str, Any] = {"run_id": int(run_id), "completed": False, "error": None}
    try:
        yield
        ended["completed"] = True
    except GenofedError as error:
        ended["error"] = str(error)
        raise
    finally:
        write_run_record(run_dir, RUN_END_FILE, ended)


def run_end(run_dir: str | Path, run_id: int) -> dict[str, Any] | None:
    """What the ServerApp of run `run_id` wrote when it ended; None while it runs (or when the
    file is another run's, unreadable or damaged)."""
    return read_run_record(run_dir, RUN_END_FILE, run_id)


def write_run_record(run_dir: str | Path, name: str, record: dict[str, Any]) -> None:
    """Write the ServerApp's `record` (holding its `run_id`) as `name` in `run_dir`, atomically. A
    failure is ignored: the run's own outcome matters more than this hint to the coordinator."""
    path = Path(run_dir) / name
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(record) + "\n")


def read_run_record(run_dir: str | Path, name: str, run_id: int) -> dict[str, Any] | None:
    """The record `name` in `run_dir` the ServerApp of run `run_id` wrote; None when there is none,
    or it is another run's, unreadable or damaged."""
    try:
        record = json.loads((Path(run_dir) / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("run_id") != int(run_id):
        return None
    return record


def wait_for_run_end(run_dir: str | Path, run_id: int, seconds: float) -> bool:
    """Wait up to `seconds`, returning early (True) once run `run_id`'s ServerApp has ended."""
    deadline = time.monotonic() + seconds
    while True:
        if run_end(run_dir, run_id) is not None:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(CHECK_SECONDS, left))


def utc_clock(moment: Any) -> str:
    """A UNIX time from a run record as the operator reads it: HH:MM:SS UTC."""
    try:
        return dt.datetime.fromtimestamp(float(moment), dt.timezone.utc).strftime("%H:%M:%S UTC")
    except (TypeError, ValueError, OverflowError):
        return "an unknown time"
