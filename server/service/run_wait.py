"""The ServerApp's word that a deployed run is waiting for hospitals, so the coordinator says so.

Why: before its first round the ServerApp waits for `min-nodes` hospitals (up to
`sites.NODE_WAIT_SECONDS`) and for every enrolled one (up to `wait-seconds`), and says so every
30 s in its own log only, which Flower keeps on the SuperLink (`flwr log`). An ML engineer's
walkthrough watched `genofed coordinator start` print nothing for 4.5 minutes after "hospitals
online: 1 of 2" while the other hospital's agent had stopped. The ServerApp runs on the
coordinator's machine and writes into the federation folder anyway (as `run_end` does), so while
it waits it keeps DIR/run/serverapp-waiting.json (its run id, how many hospitals it needs, and when
it starts without the others or gives up, as UNIX times), and removes it when the wait is over;
the coordinator reads it between its polls and says who it waits for and until when
(genofed.server.service.launch).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from genofed.server.service.run_end import read_run_record, write_run_record

#: In the run's output folder (DIR/run).
RUN_WAIT_FILE = "serverapp-waiting.json"


def record_wait(run_dir: str | Path, run_id: int, wait: dict[str, Any] | None) -> None:
    """Write `wait` (`needed`, `expected`, `since`, `all_until`, `gives_up_at`) for run `run_id`, or remove
    the file when `wait` is None. A failure is ignored: the run matters more than this hint."""
    if wait is not None:
        write_run_record(run_dir, RUN_WAIT_FILE, {"run_id": int(run_id), **wait})
        return
    with contextlib.suppress(OSError):
        (Path(run_dir) / RUN_WAIT_FILE).unlink(missing_ok=True)


def run_wait(run_dir: str | Path, run_id: int) -> dict[str, Any] | None:
    """What the ServerApp of run `run_id` is waiting for; None when it is not waiting (or the file
    is another run's, unreadable or damaged)."""
    return read_run_record(run_dir, RUN_WAIT_FILE, run_id)
