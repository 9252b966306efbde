"""The round end never evaluates, checkpoints or keeps a non-finite global model (deployment audit,
finding 2: a SecAgg+ total weight of 0 gave an -inf model, and TestCohort.evaluate raised)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from flwr.app import ArrayRecord

from genofed.server import round_end
from genofed.server.round_log import RoundLog


class ExplodingTest:
    def evaluate(self, _config, _weights):
        raise AssertionError("a non-finite model was evaluated")


def make(monkeypatch, saved: list) -> tuple[round_end.RoundEnd, list[str]]:
    monkeypatch.setattr(round_end, "save_checkpoint", lambda folder, cp: saved.append(cp))
    monkeypatch.setattr(round_end, "checkpoint_folder", lambda settings: "unused")
    said: list[str] = []
    start = SimpleNamespace(history=[], weights={"w": torch.ones(3)}, resumed=False, round=0, plan_id="p")
    end = round_end.RoundEnd(
        settings=SimpleNamespace(rounds=3),  # type: ignore[arg-type]
        model_config=None,  # type: ignore[arg-type]
        start=start,  # type: ignore[arg-type]
        log=RoundLog({}),
        strategy=None,  # type: ignore[arg-type]
        test=ExplodingTest(),  # type: ignore[arg-type]
        say=said.append,  # type: ignore[arg-type]
    )
    return end, said


@pytest.mark.parametrize("fill", [-math.inf, math.nan, math.inf])
def test_a_non_finite_model_is_neither_evaluated_nor_checkpointed(monkeypatch, fill):
    saved: list = []
    end, said = make(monkeypatch, saved)
    bad = ArrayRecord({"w": torch.full((3,), fill), "steps": torch.zeros(1, dtype=torch.int64)})
    assert end(1, bad) is None
    assert saved == [] and end.history == []
    assert torch.equal(end.weights["w"], torch.ones(3))  # the last finite model stays the run's
    assert "not finite" in said[-1]


def test_non_finite_names_the_first_bad_array():
    assert round_end.non_finite({"a": torch.ones(2), "b": torch.tensor([1.0, math.nan])}) == "b"
    assert round_end.non_finite({"a": torch.ones(2), "n": torch.zeros(2, dtype=torch.int64)}) is None
