"""The ServerApp run by Flower's own `flwr run .` (audit of 2026-12-03, finding 2).

- An out-dir that holds an unfinished run (checkpoints, no results.json) was not refused: the new
  run started again at round 0 and overwrote its checkpoints. Now it is refused before anything is
  written, naming the folder, resume=true and another out-dir (`genofed simulate` refuses it too).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from flwr.app import Context, RecordDict
from flwr.supercore.task_identity import TaskIdentity

from genofed.common.errors import GenofedError
from genofed.common.model.network import ModelConfig
from genofed.server.app import run_server
from genofed.server.checkpoint import Checkpoint, save_checkpoint
from genofed.server.resume import run_start
from genofed.server.settings import RunSettings


@pytest.fixture(autouse=True)
def _task_identity():
    TaskIdentity.run_id, TaskIdentity.task_id, TaskIdentity.node_id = 1, 1, 0


def _context(run_config: dict) -> Context:
    return Context(run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config=run_config)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- an unfinished run's out-dir ---------------------------------------------------------------


def _crashed_run(out: Path, rounds: tuple[int, ...] = (0, 1, 2)) -> None:
    (out / "checkpoints").mkdir(parents=True)
    for r in rounds:
        (out / "checkpoints" / f"round-{r:04d}.pt").write_bytes(f"round {r}".encode())
    (out / "privacy-ledgers").mkdir()


def test_a_new_run_into_an_unfinished_runs_out_dir_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "t5"
    _crashed_run(out)
    before = _files(out)
    with pytest.raises(GenofedError) as refused:
        # no grid: refused before any message, and before the panel is read
        run_server(None, _context({"out-dir": str(out), "rounds": 4}), {}, None)  # type: ignore[arg-type]
    message = str(refused.value)
    assert f"{out} holds an unfinished run (checkpoints up to round 2 of 4, no results.json)" in message
    assert "--run-config 'resume=true'" in message and "another out-dir" in message
    assert _files(out) == before


def test_run_start_refuses_too_even_a_run_that_closed_no_round(tmp_path):
    out = tmp_path / "run"
    _crashed_run(out, rounds=(0,))
    settings = RunSettings(out_dir=str(out), rounds=3)
    with pytest.raises(GenofedError, match="the round-0 checkpoint of a run that closed no round"):
        run_start(settings, ModelConfig(n_variants=10), {}, print)


def test_resume_true_continues_it_and_an_out_dir_without_checkpoints_starts_at_round_0(tmp_path):
    config = ModelConfig(n_variants=10)
    settings = RunSettings(out_dir=str(tmp_path / "run"), rounds=3, resume=True)
    weights = {"w": torch.ones(2)}
    save_checkpoint(
        tmp_path / "run" / "checkpoints",
        Checkpoint(2, weights, config.to_dict(), "plan-a", settings=settings.to_config()),
    )
    start = run_start(settings, config, {"w": torch.zeros(2)}, print)
    assert (start.round, start.plan_id, start.resumed) == (2, "plan-a", True)
    (tmp_path / "fresh" / "checkpoints").mkdir(parents=True)  # e.g. simulate's node names only
    (tmp_path / "fresh" / "checkpoints" / "node-names.json").write_text("{}")
    fresh = run_start(RunSettings(out_dir=str(tmp_path / "fresh")), config, weights, print)
    assert fresh.round == 0 and not fresh.resumed
