"""Ctrl-C during `genofed simulate`: the process exits within seconds with one "interrupted: ..." line
and no traceback, leaves no Ray process behind, and RUN resumes to the end with --resume. SIGTERM to
the process alone (`kill PID`, `timeout`) stops it the same way.

Before `simulations/local/interrupt.py` the process never exited (the ServerApp's thread waited for
a round's replies for an hour) and printed Flower's tracebacks of the ClientApp actors Ctrl-C killed.
Ctrl-C is sent as a terminal sends it: SIGINT to the command's whole process group, Ray's included.
Before `interrupt.start_ray`, SIGTERM met Ray's failure handler: a stack dump and status 134.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

#: Seconds the command may take to exit after Ctrl-C (it takes about 5 to 8 on a busy 2-core machine).
EXIT_SECONDS = 30
ROUNDS = 6
#: Restores Python's own Ctrl-C handler, which a parent may have set to "ignore" (a background job).
CLI = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from genofed.cli.main import main; sys.exit(main(sys.argv[1:]))"
)


def _simulate(federation: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        CLI,
        "simulate",
        "--data",
        str(federation),
        "--out",
        str(out),
        "--rounds",
        str(ROUNDS),
        "--epsilon",
        "8",
        "--seed",
        "5",
        "--no-references",
        *extra,
    ]


def _wait_for(log: Path, text: str, process: subprocess.Popen, seconds: float = 240) -> None:
    """Wait until `text` is in `log` (the command's stderr)."""
    end = time.monotonic() + seconds
    while text not in log.read_text():
        assert process.poll() is None, f"the run ended before {text!r}:\n{log.read_text()}"
        assert time.monotonic() < end, f"no {text!r} after {seconds} s:\n{log.read_text()}"
        time.sleep(0.05)


def _session_processes(session: int) -> list[str]:
    """The processes still in session `session` (the command and the Ray processes it started)."""
    listing = subprocess.run(["ps", "-eo", "sid=,pid=,args="], capture_output=True, text=True).stdout
    return [line for line in listing.splitlines() if line.split() and line.split()[0] == str(session)]


def _gone(session: int, seconds: float = 10) -> list[str]:
    """What is left of `session` after up to `seconds` (Ray's helpers take a moment to go)."""
    end = time.monotonic() + seconds
    while (left := _session_processes(session)) and time.monotonic() < end:
        time.sleep(0.2)
    return left


@pytest.fixture(scope="module")
def federation(simulated_cohorts) -> Path:
    return simulated_cohorts(5)


def _stop_after_round_1(federation: Path, tmp_path: Path, how: str) -> Path:
    """Start a run, send `how` once round 1 is done, and check the stop: status 130 within
    `EXIT_SECONDS`, no traceback, one "interrupted: RUN holds ..." line, no process left. Returns RUN."""
    out, log = tmp_path / "run", tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            _simulate(federation, out), stderr=stderr, stdout=subprocess.DEVNULL, start_new_session=True
        )
    try:
        _wait_for(log, f"round 1/{ROUNDS}", process)
        if how == "ctrl-c":
            os.killpg(process.pid, signal.SIGINT)  # the terminal's Ctrl-C: the whole process group
        else:
            os.kill(process.pid, signal.SIGTERM)  # `kill PID`, `timeout`: the command alone
        sent = time.monotonic()
        status = process.wait(timeout=EXIT_SECONDS)
        took = time.monotonic() - sent
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    text = log.read_text()
    assert status == 130, text
    assert "Traceback" not in text and "ERROR" not in text, text
    after_progress = [line for line in text.splitlines() if not line.startswith("[")]
    assert len(after_progress) == 1, text
    assert after_progress[0].startswith(f"interrupted: {out} holds "), text
    resume = f" of {ROUNDS} rounds; continue with the same command and --resume"
    assert after_progress[0].endswith(resume), text
    assert not _gone(process.pid), f"left behind after {took:.1f} s: {_session_processes(process.pid)}"
    return out


def test_ctrl_c_stops_the_run_at_once_quietly_and_it_resumes(federation, tmp_path):
    out = _stop_after_round_1(federation, tmp_path, "ctrl-c")

    resumed = subprocess.run(
        _simulate(federation, out, "--resume", "--quiet"), capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    rounds = [r["round"] for r in json.loads((out / "results.json").read_text())["rounds"]]
    assert rounds == list(range(ROUNDS + 1))


def test_sigterm_stops_the_run_as_ctrl_c_does(federation, tmp_path):
    """Ray's init takes SIGTERM for a handler of its own (a stack dump, status 134); genofed starts
    Ray before Flower and takes SIGTERM back (`interrupt.start_ray`, `handling_stop_signals`)."""
    _stop_after_round_1(federation, tmp_path, "sigterm")
