"""The report's wall time of `genofed simulate` is the whole command's, not the part after its start.

The run's clock started when the simulation was called, after the CLI had imported torch and
Flower, prepared RUN and (without --data) simulated the cohorts: on the default preset the report
said "Wall time 52.1 s" for a command that took 119 s, 57 s of it simulating the cohorts, and a
reader took the first figure for the run's time. The CLI now hands its own start to `simulate`.
"""

from __future__ import annotations

import time

from genofed.cli.main import main
from genofed.server.settings import RunSettings
from genofed.simulations.cohorts import build
from genofed.simulations.local import simulate as simulate_module


def test_the_wall_time_counts_from_the_commands_start_cohorts_included(tmp_path, monkeypatch, capsys):
    seen: dict = {}

    def ensure_cohorts(data, **_kwargs) -> None:  # what the default cohorts take, a minute, shortened
        seen["cohorts"] = time.perf_counter()

    def simulate(settings, **kwargs) -> dict:
        seen.update(kwargs)
        return {"wall_seconds": time.perf_counter() - kwargs["started"]}

    monkeypatch.setattr(build, "ensure_cohorts", ensure_cohorts)
    monkeypatch.setattr(simulate_module, "simulate", simulate)
    assert main(["simulate", "--out", str(tmp_path / "run"), "--quiet", "--no-references"]) == 0
    assert seen["started"] <= seen["cohorts"], "the clock must start before the cohorts are simulated"
    assert "Wall time" in capsys.readouterr().out


def test_simulate_counts_this_launch_from_the_start_it_is_given(tmp_path, monkeypatch):
    seen: dict = {}
    monkeypatch.setattr(simulate_module, "_simulate", lambda settings, **kwargs: seen.update(kwargs) or {})
    settings = RunSettings(out_dir=str(tmp_path / "run"))
    simulate_module.simulate(settings, started=12.5)
    assert seen["started"] == 12.5
    before = time.perf_counter()
    simulate_module.simulate(settings)  # an experiment's run: its clock starts at the call
    assert seen["started"] >= before
