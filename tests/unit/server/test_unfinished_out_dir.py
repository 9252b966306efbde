"""The ServerApp run by Flower's own `flwr run .` (audit of 2026-12-03, findings 2 and 5).

- An out-dir that holds an unfinished run (checkpoints, no results.json) was not refused: the new
  run started again at round 0 and overwrote its checkpoints. Now it is refused before anything is
  written, naming the folder, resume=true and another out-dir (`genofed simulate` refuses it too).
- A run in which no hospital ever trained (every hospital refused every round) ended as a success
  with model.pt, results.json and a report for the untrained model, and its folder then counted as
  finished. Now it fails naming the refusals, and writes none of them.
- The app's own refusals reached the `flwr run` user as a traceback; they are still raised (Flower
  marks the run failed), and Flower's log shows them as one `genofed: error: ...` line.
"""

from __future__ import annotations

import io
import json
import logging
import math
from pathlib import Path

import pytest
import torch
from flwr.app import Context, Error, Message, MessageType, RecordDict
from flwr.common.logger import LOGGER_NAME
from helpers.instant_superlink import InstantSuperLink, introduction

from genofed.common.errors import GenofedError
from genofed.common.model.network import ModelConfig
from genofed.server import app as server_app
from genofed.server.app import AdmittedGrid, NothingTrained, make_server_app, run_server
from genofed.server.checkpoint import Checkpoint, save_checkpoint
from genofed.server.resume import run_start
from genofed.server.settings import RunSettings

NAMES = {1: "rostov", 2: "astrakhan", 3: "elista"}
EXHAUSTED = "privacy budget exhausted: this site has already spent epsilon 8.4; the budget is epsilon 8"


pytestmark = pytest.mark.usefixtures("flower_task_identity")


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


# --- a run in which no hospital trained ------------------------------------------------------------


def _exhausted_hospital(message: Message) -> Message:
    """Introduces itself, then refuses every round: its budget is spent."""
    if message.metadata.message_type == MessageType.QUERY:
        return introduction(message, NAMES[message.metadata.dst_node_id])
    return Message(error=Error(code=1, reason=EXHAUSTED), reply_to=message)


def _refused_run(simulated_cohorts, out: Path) -> dict:
    return {
        "data-dir": str(simulated_cohorts(5)),
        "out-dir": str(out),
        "rounds": 2,
        "epsilon": math.inf,
        "model": "logistic",
        "site-evaluations": 0,
        "quiet": True,
    }


def _grid() -> AdmittedGrid:
    return AdmittedGrid(InstantSuperLink(_exhausted_hospital, NAMES), lambda: dict(NAMES))  # type: ignore[arg-type]


def test_a_run_no_hospital_trained_in_fails_naming_the_refusals_and_writes_no_outputs(
    simulated_cohorts, tmp_path
):
    out = tmp_path / "run"
    config = _refused_run(simulated_cohorts, out)
    with pytest.raises(NothingTrained) as failed:
        run_server(_grid(), _context(config), {}, None)
    message = str(failed.value)
    assert "no hospital trained in any of the run's 2 rounds" in message
    assert f"astrakhan, elista, rostov: {EXHAUSTED}" in message  # one reason, named once
    written = sorted(p.name for p in out.iterdir())
    assert written == ["checkpoints"]  # no results.json, model.pt, test predictions nor report
    # the folder is not a finished run: it is refused as unfinished, with resume=true offered
    with pytest.raises(GenofedError, match="holds an unfinished run .*resume=true"):
        run_server(_grid(), _context(config), {}, None)


def test_an_experiment_still_records_such_a_run(simulated_cohorts, tmp_path):
    """An experiment's `simulate(..., require_training=False)` keeps the record of the refusals
    (tests/e2e/test_federation.py; `genofed simulate` itself fails, as `flwr run` does)."""
    out = tmp_path / "run"
    context = _context(_refused_run(simulated_cohorts, out))
    run_server(_grid(), context, {}, None, report=False, require_training=False)
    # the simulation writes results.json itself, after its references and report
    assert not (out / "results.json").exists()
    results = json.loads((out / "federation-results.json").read_text())
    assert [r["participants"] for r in results["rounds"]] == [[], [], []]
    assert results["refusals"]["2"]["elista"] == EXHAUSTED


# --- how a refusal reaches the `flwr run` user ---------------------------------------------------


def test_a_refusal_still_fails_the_run_and_flowers_log_shows_it_as_one_line(tmp_path):
    out = tmp_path / "r1"
    out.mkdir()
    (out / "results.json").write_text("{}")
    app = make_server_app()
    with pytest.raises(GenofedError, match="holds a finished run") as refused:
        app(None, _context({"out-dir": str(out)}))  # type: ignore[arg-type]
    # the out-dir it suggests is absolute: flwr run's ServerApp runs in another folder
    assert f'out-dir="{tmp_path.resolve()}/NAME"' in str(refused.value)

    flower = logging.getLogger(LOGGER_NAME)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s : %(message)s"))
    flower.addHandler(handler)
    try:
        # what Flower's simulation process (and flwr-serverapp) logs before it marks the run failed
        flower.log(logging.ERROR, "%s raised an exception", "Simulation", exc_info=refused.value)
        flower.log(logging.ERROR, "%s raised an exception", "Simulation", exc_info=KeyError("bug"))
    finally:
        flower.removeHandler(handler)
    refusal, bug = stream.getvalue().split("ERROR : ")[1:]
    assert refusal == f"genofed: error: {refused.value}\n"
    assert bug.startswith("Simulation raised an exception") and "KeyError: 'bug'" in bug
    assert server_app._ONE_LINE_REFUSALS in flower.filters


def test_a_run_config_naming_a_missing_data_dir_is_refused_in_simulates_words(tmp_path):
    """Under `flwr run` a missing data-dir was reported as a missing demo/cohorts/panel.tsv (an ML
    engineer's walkthrough); the ServerApp checks the files its settings name as simulate does."""
    config = {"data-dir": str(tmp_path / "nowhere"), "out-dir": str(tmp_path / "run")}
    with pytest.raises(GenofedError, match=r"data-dir: no such folder .*simulate-cohorts --out DIR"):
        run_server(None, _context(config), {}, None)  # type: ignore[arg-type]
    assert not (tmp_path / "run").exists()
