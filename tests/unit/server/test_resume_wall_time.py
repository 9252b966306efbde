"""A resumed run's wall time covers every launch, not only the last one.

Each checkpoint records the run's elapsed wall seconds summed over its launches, and how many
launches there were; a resumed run starts its clock from there, so results.json's `wall_seconds`
(like `seconds_per_round`, which the checkpointed history already covers) is the whole run's, and
the report says over how many launches it was measured ("Wall time 40 s" for a two-hour run that
crashed and resumed would mislead).
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from flwr.app import ArrayRecord

from genofed.common.model.network import ModelConfig
from genofed.server import round_end
from genofed.server.checkpoint import Checkpoint, latest_checkpoint, save_checkpoint
from genofed.server.federation import FederationResult
from genofed.server.report.facts import run_facts_section
from genofed.server.report.summary import format_summary
from genofed.server.results import federation_results
from genofed.server.resume import RunStart, checkpoint_folder, run_start
from genofed.server.round_log import RoundLog
from genofed.server.settings import RunSettings

CONFIG = ModelConfig(n_variants=10)
WEIGHTS = {"w": torch.ones(2)}
EARLIER = 3_600.0  # what the interrupted launch had spent when it wrote its last checkpoint


def _settings(tmp_path, **overrides: Any) -> RunSettings:
    return RunSettings(out_dir=str(tmp_path / "run"), rounds=4, **overrides)


def _checkpoint(settings: RunSettings, **clock: Any) -> None:
    """The checkpoint of round 2 an interrupted run left (`clock`: its elapsed seconds and launches)."""
    save_checkpoint(
        checkpoint_folder(settings),
        Checkpoint(2, WEIGHTS, CONFIG.to_dict(), "plan", settings=settings.to_config(), **clock),
    )


def _resume(settings: RunSettings, launched: float | None = None) -> RunStart:
    resumed = RunSettings(**{**settings.__dict__, "resume": True})
    return run_start(resumed, CONFIG, WEIGHTS, lambda _line: None, launched=launched)


def test_a_checkpoint_written_before_the_clock_existed_loads_with_no_earlier_time(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    old = {  # the fields an older genofed saved, and no more
        "round": 2,
        "state_dict": WEIGHTS,
        "model_config": CONFIG.to_dict(),
        "plan_id": "plan",
        "history": [],
        "log": {},
        "strategy_state": {},
        "settings": {},
    }
    torch.save(old, folder / "round-0002.pt")
    loaded = latest_checkpoint(folder)
    assert loaded is not None
    assert loaded.elapsed_seconds == 0.0 and loaded.launches == 1


def test_a_new_run_starts_its_clock_at_zero_in_its_first_launch(tmp_path):
    launched = time.perf_counter() - 5  # this launch began 5 s ago
    start = run_start(_settings(tmp_path), CONFIG, WEIGHTS, lambda _line: None, launched=launched)
    assert start.elapsed_before == 0.0 and start.launches == 1
    assert 5.0 <= start.elapsed() < 65.0


def test_a_resumed_run_counts_on_from_its_checkpoints_time_and_launches(tmp_path):
    settings = _settings(tmp_path)
    _checkpoint(settings, elapsed_seconds=EARLIER, launches=2)
    start = _resume(settings, launched=time.perf_counter() - 5)
    assert start.elapsed_before == EARLIER and start.launches == 3
    assert EARLIER + 5.0 <= start.elapsed() < EARLIER + 65.0


def test_a_checkpoint_written_after_a_resume_carries_the_sum_of_the_launches(tmp_path, monkeypatch):
    settings = _settings(tmp_path)
    _checkpoint(settings, elapsed_seconds=EARLIER)
    start = _resume(settings, launched=time.perf_counter() - 5)  # this launch began 5 s ago
    saved: list[Checkpoint] = []
    monkeypatch.setattr(round_end, "save_checkpoint", lambda _folder, checkpoint: saved.append(checkpoint))
    end = round_end.RoundEnd(
        settings=settings,
        model_config=CONFIG,
        start=start,
        log=RoundLog({}),
        strategy=SimpleNamespace(state=dict),  # type: ignore[arg-type]
        test=None,
        say=lambda _line: None,
    )
    end(1, ArrayRecord(WEIGHTS))  # Flower's round 1 of this launch: the run's round 3
    (checkpoint,) = saved
    assert checkpoint.round == 3 and checkpoint.launches == 2
    assert EARLIER + 5.0 <= checkpoint.elapsed_seconds < EARLIER + 65.0


def _federation_result(**clock: Any) -> FederationResult:
    """A run of one round on no hospitals: enough for results.json's timing fields."""
    rounds = [{"round": 0, "seconds": 0.0}, {"round": 1, "seconds": 30.0}]
    return FederationResult(
        settings=RunSettings(),
        rounds=rounds,
        state_dict=WEIGHTS,
        model_config=CONFIG,
        sites={},
        log=RoundLog({}),
        plan_id="plan",
        bytes_per_client_round=0,
        **clock,
    )


def test_results_record_the_whole_runs_wall_time_and_its_launches():
    fed = _federation_result(wall_seconds=EARLIER + 40.0, wall_seconds_before=EARLIER, launches=2)
    results = federation_results(fed, fed.settings)
    assert results["wall_seconds"] == EARLIER + 40.0
    assert results["wall_seconds_before"] == EARLIER and results["launches"] == 2
    never_resumed = federation_results(_federation_result(wall_seconds=40.0), RunSettings())
    assert never_resumed["wall_seconds_before"] == 0.0 and never_resumed["launches"] == 1


WALL = {"wall_seconds": 7_380.0, "seconds_per_round": 27.8}


def _wall_row(results: dict[str, Any]) -> str:
    (row,) = [line for line in run_facts_section(results).splitlines() if "Wall time" in line]
    return row


def test_the_report_says_over_how_many_launches_a_resumed_runs_wall_time_was_measured():
    results = {**WALL, "launches": 2}
    assert "2 h 03 min over 2 launches (time between them not counted)" in _wall_row(results)
    assert (
        "Wall time 2 h 03 min over 2 launches (time between them not counted; 27.8 s per round)"
        in format_summary(results)
    )


@pytest.mark.parametrize("launches", [{"launches": 1}, {}, {"launches": None}], ids=["one", "absent", "null"])
def test_a_run_never_resumed_or_an_older_results_json_reads_as_before(launches):
    results = {**WALL, **launches}
    assert "launch" not in _wall_row(results) and "2 h 03 min" in _wall_row(results)
    summary = format_summary(results)
    assert "Wall time 2 h 03 min (27.8 s per round)" in summary and "launch" not in summary


def test_an_unmeasured_wall_time_names_no_launches():
    summary = format_summary({"wall_seconds": None, "launches": 2})
    assert "launch" not in summary and "launch" not in _wall_row({"wall_seconds": None, "launches": 2})
