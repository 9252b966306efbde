"""An experiment's federation (privacy-frontier, transfer): read back when finished, run afresh
when an interrupted one left its out-dir (the ServerApp refuses to overwrite its checkpoints, and
its hospitals' ledgers would refuse the rounds it trained)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from genofed.simulations.experiments.base import federation_results


@dataclass
class _Settings:
    out_dir: str


@pytest.fixture
def runs(monkeypatch):
    import genofed.simulations.local.simulate as simulate_module

    calls = []

    def fake_simulate(settings, references, require_training=True):
        # an experiment records a run no hospital trained in, and judges it itself
        assert references is False and require_training is False
        calls.append(sorted(p.name for p in Path(settings.out_dir).glob("*")))
        return {"ran": True}

    monkeypatch.setattr(simulate_module, "simulate", fake_simulate)
    return calls


def test_a_finished_federation_is_read_back(tmp_path, runs):
    (tmp_path / "results.json").write_text(json.dumps({"ran": False}))
    assert federation_results(_Settings(str(tmp_path)), print, "cell") == {"ran": False}
    assert runs == []


def test_an_interrupted_federation_is_removed_and_run_afresh(tmp_path, runs):
    out = tmp_path / "cell"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "round-0001.pt").write_bytes(b"x")
    said = []
    assert federation_results(_Settings(str(out)), said.append, "cell") == {"ran": True}
    assert runs == [[]] and said == [f"cell: removing the unfinished run {out}", "cell"]
