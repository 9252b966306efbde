"""A run that resumes says so, with the round and checkpoint, and a new run does not read like a
failed resume (an ML engineer's walkthrough: a coordinator restart resumed silently, while a fresh
start printed "no checkpoint ...: starting from round 0"). Flower's `[ROUND 1/18]` counts one
launch's rounds, genofed's `round 13/30` the run's: the resume line says which is which."""

from __future__ import annotations

import torch

from genofed.common.model.network import ModelConfig
from genofed.server.checkpoint import Checkpoint, save_checkpoint
from genofed.server.resume import checkpoint_folder, run_start
from genofed.server.service import launch
from genofed.server.settings import RunSettings

CONFIG = ModelConfig(n_variants=10)
WEIGHTS = {"w": torch.ones(2)}


def _start(settings: RunSettings) -> list[str]:
    said: list[str] = []
    run_start(settings, CONFIG, WEIGHTS, said.append)
    return said


def test_a_resumed_run_names_its_round_and_checkpoint_and_a_new_one_no_failed_resume(tmp_path):
    settings = RunSettings(out_dir=str(tmp_path / "run"), rounds=30, resume=True)
    (new,) = _start(settings)
    assert new.startswith("a new run, from round 0 of 30") and not new.startswith("no checkpoint")
    folder = checkpoint_folder(settings)
    save_checkpoint(
        folder, Checkpoint(12, WEIGHTS, CONFIG.to_dict(), "plan-a", settings=settings.to_config())
    )
    said = _start(settings)
    resumed = [line for line in said if line.startswith("resuming")]
    assert resumed == [
        f"resuming run plan-a from round 12 of 30 (checkpoint {folder / 'round-0012.pt'}); Flower's "
        "[ROUND k/18] counts this launch's rounds, genofed's `round 13/30` the run's"
    ]


def test_coordinator_start_says_whether_it_resumes(tmp_path, monkeypatch):
    folder = tmp_path / "fed"
    (folder / "run" / "checkpoints").mkdir(parents=True)
    monkeypatch.setattr(launch, "read_federation_file", lambda _folder: {"settings": {"rounds": 30}})
    assert launch.resume_words(folder, 5) == "run 5: a new run, from round 0 of 30"
    (folder / "run" / "checkpoints" / "round-0012.pt").write_bytes(b"")
    checkpoint = folder / "run" / "checkpoints" / "round-0012.pt"
    assert launch.resume_words(folder, 5).startswith(
        f"run 5: resuming the federation's run from round 12 of 30 (checkpoint {checkpoint})"
    )
