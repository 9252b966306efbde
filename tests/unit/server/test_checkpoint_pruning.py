"""A run keeps round 0's checkpoint and the latest two, not one per round: each checkpoint holds the
run's whole history, so keeping them all grew with the square of the rounds (a walkthrough of a
federation that runs for months), while a resume reads only the latest, or the one before it."""

from __future__ import annotations

import torch

from genofed.server.checkpoint import Checkpoint, latest_checkpoint, prune_checkpoints, save_checkpoint


def _save(folder, round):
    history = [{"round": r} for r in range(round + 1)]
    return save_checkpoint(
        folder, Checkpoint(round, {"w": torch.full((3,), float(round))}, {}, "plan", history)
    )


def _kept(folder):
    return sorted(p.name for p in folder.glob("round-*.pt"))


def test_a_run_keeps_its_start_and_its_latest_two_rounds(tmp_path):
    for round in range(6):
        _save(tmp_path, round)
    assert _kept(tmp_path) == ["round-0000.pt", "round-0004.pt", "round-0005.pt"]
    assert latest_checkpoint(tmp_path).round == 5
    # the latest damaged and deleted: the resume reads the one before, as deployment.md says
    (tmp_path / "round-0005.pt").unlink()
    resumed = latest_checkpoint(tmp_path)
    assert resumed.round == 4 and resumed.history[-1] == {"round": 4}
    assert torch.equal(
        torch.load(tmp_path / "round-0000.pt", weights_only=False)["state_dict"]["w"], torch.zeros(3)
    )


def test_pruning_touches_no_other_file_and_no_later_round(tmp_path):
    for name in ("round-0001.pt", "round-0002.pt", "round-0009.pt", "node-names.json", "round-0001.pt.bak"):
        (tmp_path / name).write_bytes(b"x")
    removed = prune_checkpoints(tmp_path, 3)
    assert [p.name for p in removed] == ["round-0001.pt"]
    assert _kept(tmp_path) == ["round-0002.pt", "round-0009.pt"]
    assert (tmp_path / "node-names.json").exists() and (tmp_path / "round-0001.pt.bak").exists()


def test_a_round_past_9999_is_read_and_pruned_by_its_number(tmp_path):
    for round in (9998, 9999, 10000):
        _save(tmp_path, round)
    assert _kept(tmp_path) == ["round-10000.pt", "round-9999.pt"]
    assert latest_checkpoint(tmp_path).round == 10000
