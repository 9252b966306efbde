"""Checkpoints after every round, so a crashed or stopped coordinator resumes where it was.

Flower has no built-in resume: the checkpoint holds the global model, the round it closes, the
run's plan id (hospitals reuse their privacy plan and seeds for it), the per-round history and
the strategy's state (FedAdam's moments, any attribute a strategy changed: `Tracked.state()`),
which is everything an uninterrupted run would still have in memory. `genofed.server.resume`
decides whether a run may resume from one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from genofed.common.errors import GenofedError
from genofed.common.util.atomic import save_torch_atomic, write_text_atomic

#: The folder of a run's checkpoints, inside its output folder.
CHECKPOINTS = "checkpoints"

_NAME = re.compile(r"round-(\d+)\.pt")


@dataclass
class Checkpoint:
    """Everything a run keeps after closing `round` (saved as a dict of these fields).

    `state_dict`: the global model; `model_config`: its architecture; `plan_id`: the run's
    privacy plan id; `history`: the per-round records so far; `log`: the round log's fields
    (`genofed.server.resume.LOGGED`); `strategy_state`: the strategy's state (`Tracked.state()`);
    `settings`: the run's settings, which a resumed run may not change.

    `elapsed_seconds`: the run's wall time up to this checkpoint, summed over its launches (a
    resumed run starts its clock from here, so results.json's `wall_seconds` covers the whole run,
    not its last launch); `launches`: how many launches wrote the run's checkpoints so far (1 for
    a run never resumed). A checkpoint written before they existed loads with 0 seconds and 1
    launch: its run's earlier time is unknown, and counted as none.
    """

    round: int
    state_dict: dict[str, torch.Tensor]
    model_config: dict[str, Any]
    plan_id: str
    history: list[dict[str, Any]] = field(default_factory=list)
    log: dict[str, Any] = field(default_factory=dict)
    strategy_state: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    elapsed_seconds: float = 0.0
    launches: int = 1


#: How many of the latest rounds' checkpoints a run keeps (besides round 0's, its start model):
#: a resume reads the latest, and the one before when the latest is damaged and deleted.
KEPT_LATEST = 2


def save_checkpoint(folder: Path, checkpoint: Checkpoint) -> Path:
    """Write `folder/round-NNNN.pt` atomically (a crash mid-write leaves the previous one), then
    delete the checkpoints no resume reads (`prune_checkpoints`)."""
    path = folder / f"round-{checkpoint.round:04d}.pt"
    save_torch_atomic(path, checkpoint.__dict__)  # a full disk is one line, not torch's RuntimeError
    prune_checkpoints(folder, checkpoint.round)
    return path


#: The run's round progress beside its checkpoints: what `coordinator status` shows of a run under
#: way, as JSON, so that it need not load a checkpoint with torch (`save_progress`).
PROGRESS = "progress.json"


def save_progress(folder: Path, real: int, record: dict[str, Any]) -> Path:
    """Write `folder/progress.json`: round `real`'s checkpoint's history and who was left out of
    its rounds (`record`: results.json's `rounds`, `refusals`, `not_connected`, `turned_away`),
    atomically, after that checkpoint. `coordinator status` reads it when its round is the latest
    checkpoint's (`genofed.server.service.status.round_progress`). Why: reading the checkpoint
    instead imported torch, 13 s of status's 28-39 s during a deployed run at a load average of 8."""
    path = folder / PROGRESS
    write_text_atomic(path, json.dumps({"round": real, **record}) + "\n")
    return path


def prune_checkpoints(folder: Path, latest: int) -> list[Path]:
    """Delete the checkpoints of rounds 1 .. `latest - KEPT_LATEST` from `folder`; return them.

    Why: each checkpoint holds the run's whole history so far, so keeping every round's made their
    total grow with the square of the rounds (a run of months: hundreds of megabytes) while a
    resume reads only the latest, or the one before. Round 0's (the start model, which the run's
    hospitals were sent first) is kept, and so is any round after `latest` (a folder's other
    files are never touched)."""
    removed = []
    for number, path in checkpoint_files(folder):
        if 0 < number <= latest - KEPT_LATEST:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def checkpoint_files(folder: Path) -> list[tuple[int, Path]]:
    """(round, path) of every checkpoint in `folder` (round-NNNN.pt, any number of digits), by round."""
    return sorted((int(m.group(1)), p) for p in folder.glob("round-*.pt") if (m := _NAME.fullmatch(p.name)))


def latest_checkpoint(folder: Path) -> Checkpoint | None:
    """The checkpoint of the highest round in `folder`, or None when there is none."""
    found = checkpoint_files(folder)
    if not found:
        return None
    path = found[-1][1]
    try:
        return Checkpoint(**torch.load(path, weights_only=False))
    except Exception as exc:  # a damaged file must not silently restart a run from scratch
        raise GenofedError(
            f"{path}: cannot read checkpoint ({exc}); delete it to resume from the one before"
        ) from exc
