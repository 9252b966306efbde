"""`coordinator status` names each hospital left out of rounds, with the reason, as `coordinator
start` ends a run; and it reads a run under way without torch and asks the SuperLink once.

A deployment walkthrough: status printed "round 8: ... participants astrakhan, maykop, sevastopol"
and nothing of elista, enrolled and online, which refused all 8 rounds (its budget spent); only
start's final output and the report named it. The same walkthrough timed status at 20-42 s during
a run against 0.7-2.6 s otherwise; profiled on a loopback deployment (28-39 s at a load average of
8): importing torch to read the latest checkpoint took 13 s, and two `flwr` CLI calls 17 s (`flwr
ls` 9 s, `flwr log` 8 s). The run now writes its progress as JSON beside each checkpoint, and
`coordinator start` records the other runs `flwr ls` lists at each poll it makes anyway.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from genofed.cli.main import main
from genofed.server.checkpoint import PROGRESS, save_progress
from genofed.server.service import launch
from genofed.server.service.status import STATUS_FILE, other_runs, round_progress

BUDGET = "refusing: privacy budget exhausted (spent 4.00 of 4.00): nothing was trained or sent"
OURS = "e" * 64


def _round(number: int) -> dict:
    return {"round": number, "test_auc": 0.6, "epsilon_max": 1.0, "participants": ["astrakhan", "maykop"]}


def _progress(fed: Path, rounds: int) -> Path:
    """A run under way after `rounds` rounds, elista refusing each: a checkpoint file that no torch
    can read (so a status that loads it fails) and the progress file of the same round."""
    checkpoints = fed / "run" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / f"round-{rounds:04d}.pt").write_bytes(b"not a checkpoint torch can read")
    save_progress(
        checkpoints,
        rounds,
        {
            "rounds": [_round(r) for r in range(rounds + 1)],
            "refusals": {str(r): {"elista": BUDGET} for r in range(1, rounds + 1)},
            "not_connected": ["sevastopol"],
            "turned_away": {},
        },
    )
    return checkpoints


def _status(fed: Path, capsys, **recorded) -> list[str]:
    base = {"state": "running", "pid": os.getpid(), "run_id": 1835, "hospitals": {}}
    (fed / STATUS_FILE).write_text(json.dumps(base | recorded))
    capsys.readouterr()
    assert main(["coordinator", "status", str(fed)]) == 0
    return capsys.readouterr().out.splitlines()


def test_status_names_a_hospital_refusing_every_round_with_its_reason_during_the_run(fed, capsys):
    _progress(fed, 8)
    lines = _status(fed, capsys)
    start = lines.index("  not every enrolled hospital trained in every round so far:")
    assert lines[start - 1] == "  hospitals that trained (rounds): astrakhan 8 of 8, maykop 8 of 8"
    assert lines[start + 1 :] == [
        "    sevastopol: not connected when the run started",
        f"    elista: left out of 8 of 8 round(s) (rounds 1-8: {BUDGET})",
    ]


def test_status_names_them_after_the_run_from_its_results(fed, capsys):
    results = {
        "rounds": [_round(r) for r in range(3)],
        "refusals": {"1": {"elista": BUDGET}, "2": {"elista": BUDGET}},
    }
    (fed / "run").mkdir()
    (fed / "run" / "results.json").write_text(json.dumps(results))
    lines = _status(fed, capsys, state="finished", pid=None)
    start = lines.index("  not every enrolled hospital trained in every round:")  # no "so far": it is over
    assert lines[start + 1] == f"    elista: left out of 2 of 2 round(s) (rounds 1-2: {BUDGET})"


def test_a_progress_file_of_another_round_than_the_latest_checkpoint_is_not_read(fed):
    """A crash between the checkpoint and its progress file leaves the progress of the round before:
    the checkpoint is read then, as before (here one torch cannot read: status says it is damaged)."""
    checkpoints = _progress(fed, 8)
    (checkpoints / "round-0009.pt").write_bytes(b"neither")
    try:
        round_progress(checkpoints)
    except Exception as exc:  # noqa: BLE001 - the damaged checkpoint's own error
        assert "round-0009.pt" in str(exc)
    else:
        raise AssertionError("the stale progress file was read")
    assert json.loads((checkpoints / PROGRESS).read_text())["round"] == 8


def test_status_of_a_run_under_way_imports_no_torch_and_runs_no_flwr_ls(fed):
    _progress(fed, 3)
    (fed / STATUS_FILE).write_text(
        json.dumps(
            {
                "state": "running",
                "pid": os.getpid(),
                "run_id": 1835,
                "hospitals": {},
                "app_sha256": OURS,
                "internal_address": "127.0.0.1:9",
                "other_runs": [{"run_id": "2", "status": "running", "fab_hash": "7" * 64}],
            }
        )
    )
    probe = (
        "import sys, subprocess\n"
        "ran = []\n"
        "real = subprocess.run\n"
        "def run(command, *args, **kwargs):\n"
        "    ran.append(command[1])\n"
        "    return real(['true'], capture_output=True, text=True)\n"
        "subprocess.run = run\n"
        "from genofed.server.service.status import coordinator_status\n"
        f"status = coordinator_status({str(fed)!r})\n"
        "other = status['other_runs'][0]['run_id']\n"
        "print(status['rounds_done'], 'torch' in sys.modules, ','.join(ran), other)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # the ServerApp's log tail is the one `flwr` call (`flwr log`); no `flwr ls`, no torch
    assert done.stdout.split() == ["3", "False", "log", "2"]


def test_start_records_the_other_runs_from_the_poll_it_makes_anyway():
    runs = [
        {"run-id": "1835", "status": "running", "fab-hash": OURS},
        {"run-id": "2", "status": "finished:failed", "fab-hash": "7" * 64},
    ]

    class _Control:
        def __init__(self) -> None:
            self.asked: list[tuple[str, ...]] = []

        def __call__(self, *args, timeout=60.0):
            self.asked.append(args)
            return {"success": True, "runs": runs}

    control = _Control()
    status = {"run_id": 1835, "app_sha256": OURS}
    run = launch._poll_runs(control, status)  # type: ignore[arg-type]
    assert run["run-id"] == "1835" and control.asked == [("ls", "genofed")]
    assert status["other_runs"] == [{"run_id": "2", "status": "finished:failed", "fab_hash": "7" * 64}]
    assert other_runs(runs, "") == []  # no app recorded: nothing to tell apart
