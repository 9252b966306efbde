"""`genofed coordinator start` says, every minute, that the ServerApp is waiting for hospitals, for
whom and until when: an ML engineer's walkthrough watched it print nothing for 4.5 minutes after
"hospitals online: 1 of 2" while the other hospital's agent had stopped (only the ServerApp's own
log, on the SuperLink, said "waiting for hospitals")."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from helpers.coordinator_service import RunningThenFinished, StillRunning

from genofed.server import sites
from genofed.server.app import AdmittedGrid
from genofed.server.service import launch
from genofed.server.service.federation_folder import RUN_DIR
from genofed.server.service.run_wait import record_wait, run_wait


class _LateGrid:
    """Flower's grid, with both hospitals connecting at its third question; `seen` records what the
    run's wait file said at each question."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir, self.asked, self.seen = run_dir, 0, []

    def get_node_ids(self) -> list[int]:
        self.asked += 1
        self.seen.append(run_wait(self.run_dir, 7))
        return [1, 2] if self.asked >= 3 else []


def test_a_deployed_run_records_its_wait_for_hospitals_while_it_lasts(tmp_path, monkeypatch):
    monkeypatch.setattr(sites.time, "sleep", lambda seconds: None)
    inner = _LateGrid(tmp_path)
    grid = AdmittedGrid(
        inner, lambda: {1: "rostov", 2: "elista"}, dict, lambda wait: record_wait(tmp_path, 7, wait)
    )
    before = time.time()
    assert sorted(sites.wait_for_nodes(grid, 2, 600.0, expected=2, grace=120.0)) == [1, 2]
    assert inner.seen[0] is None  # the first look, before any wait
    wait = inner.seen[1]
    assert wait["needed"] == 2 and wait["all_until"] is None  # all the enrolled are needed: no grace
    assert before + 600 <= wait["gives_up_at"] <= time.time() + 600
    assert run_wait(tmp_path, 7) is None  # the wait is over: the file is gone


def _watch(folder: Path) -> list[str]:
    said: list[str] = []
    options = launch.ServiceOptions(poll_seconds=0.05, sync_seconds=60.0)
    status = {
        "run_id": 7,
        "hospitals": {"rostov": {"status": "online"}, "astrakhan": {"status": "offline"}},
    }
    signal = {"signal": None}
    launch._watch_run(
        folder,
        options,
        RunningThenFinished(),
        StillRunning(),
        {},
        status,
        signal,
        said.append,
        time.monotonic(),
    )
    return said


def test_start_says_every_minute_whom_the_serverapp_waits_for_and_until_when(tmp_path):
    gives_up = time.time() + 270
    wait = {"needed": 2, "expected": 2, "since": time.time() - 61, "all_until": None, "gives_up_at": gives_up}
    record_wait(tmp_path / RUN_DIR, 7, wait)
    (said,) = _watch(tmp_path)  # three polls within a second: said once, not at every poll
    at = dt.datetime.fromtimestamp(gives_up, dt.timezone.utc).strftime("%H:%M:%S UTC")
    assert said.startswith(
        "run 7: the ServerApp is waiting for hospitals: 1 of 2 enrolled hospitals online (rostov)"
    )
    assert f"not online: astrakhan; it needs 2 to start and gives up at {at}." in said
    assert "Start the missing hospitals' agents (`genofed hospital start`)" in said


def test_start_says_nothing_of_a_wait_shorter_than_a_minute_or_of_another_run(tmp_path):
    wait = {
        "needed": 2,
        "expected": 2,
        "since": time.time(),
        "all_until": None,
        "gives_up_at": time.time() + 600,
    }
    record_wait(tmp_path / RUN_DIR, 7, wait)
    assert _watch(tmp_path) == []
    record_wait(tmp_path / RUN_DIR, 6, dict(wait, since=time.time() - 600))  # an earlier run's
    assert _watch(tmp_path) == []


def test_a_wait_for_the_other_enrolled_hospitals_says_when_the_run_starts_without_them():
    said: list[str] = []
    hospitals = {
        "rostov": {"status": "online"},
        "elista": {"status": "online"},
        "tver": {"status": "offline"},
    }
    until = time.time() + 30
    wait = {
        "needed": 2,
        "expected": 3,
        "since": time.time() - 90,
        "all_until": until,
        "gives_up_at": until + 500,
    }
    assert launch._say_waiting(7, wait, hospitals, None, said.append) is not None
    at = dt.datetime.fromtimestamp(until, dt.timezone.utc).strftime("%H:%M:%S UTC")
    assert f"not online: tver; it waits for the others until {at}, then starts with those online." in said[0]
    assert launch._say_waiting(7, None, hospitals, time.time(), said.append) is None and len(said) == 1
