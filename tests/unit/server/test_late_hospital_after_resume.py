"""A hospital that connects after the run began, first asked when the coordinator resumes the run,
is recorded as left out of every round, the rounds before the resume included.

A deployment walkthrough: sevastopol connected after the run began, so the launch that ran rounds
1-28 never sent it anything; the coordinator was stopped and resumed, the resumed launch asked it,
and it refused rounds 29-40 (its budget). The record said "left out of 12 of 40 round(s)" and
results.json's `not_connected` was empty: the resumed launch's round log knew nothing of rounds
1-28, since which hospitals a launch left out at its start was not checkpointed. Here a launch of
6 rounds starts without elista, stops after round 3, and the resumed launch asks elista, which
refuses: every round of the 6 is on record for it.

The grid is a stand-in for the SuperLink behind the deployed coordinator's `AdmittedGrid`.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from flwr.app import ArrayRecord, Error, Message, MessageType, MetricRecord, RecordDict
from helpers.instant_superlink import InstantSuperLink, introduction

from genofed.server import federation
from genofed.server.app import AdmittedGrid
from genofed.server.results import federation_results
from genofed.server.round_log import NOT_IN_LAUNCH, SITE_REFUSED
from genofed.server.service.launch import _say_who_took_part
from genofed.server.settings import RunSettings

NAMES = {11: "rostov", 12: "astrakhan", 13: "elista"}
ELISTA = 13
BUDGET = "refusing: privacy budget exhausted (spent 1.00 of 1.00)"

pytestmark = pytest.mark.usefixtures("flower_task_identity")


class Stopped(Exception):
    """The coordinator stopped (a signal) during a round."""


def _server_round(message: Message) -> int:
    return int(next(iter(message.content.config_records.values()))["server-round"])


class Hospitals:
    """rostov and astrakhan train; elista is online only if `elista_online`, and refuses every
    round (its budget); the launch stops when round `stop_in` is sent."""

    def __init__(self, *, elista_online: bool, stop_in: int | None = None) -> None:
        self.stop_in = stop_in
        online = set(NAMES) if elista_online else set(NAMES) - {ELISTA}
        self.link = InstantSuperLink(self, online)

    def __call__(self, message: Message) -> Message:
        node = message.metadata.dst_node_id
        if message.metadata.message_type == MessageType.QUERY:
            return introduction(message, NAMES[node])
        if self.stop_in is not None and _server_round(message) >= self.stop_in:
            raise Stopped
        if node == ELISTA:
            return Message(error=Error(code=SITE_REFUSED, reason=BUDGET), reply_to=message)
        sent = next(iter(message.content.array_records.values())).to_torch_state_dict()
        generator = torch.Generator().manual_seed(100 * _server_round(message) + node)
        moved = {k: v + 1e-3 * torch.randn(v.shape, generator=generator) for k, v in sent.items()}
        metrics = {"num-examples": 80, "epsilon": math.inf, "noise-multiplier": 0.0}
        return Message(
            RecordDict({"arrays": ArrayRecord(moved), "metrics": MetricRecord(metrics)}), reply_to=message
        )


def _settings(cohorts, tmp_path, min_nodes: int = 2) -> RunSettings:
    return RunSettings(
        min_nodes=min_nodes,
        data_dir=str(cohorts),
        out_dir=str(tmp_path / "run"),
        rounds=6,
        epsilon=math.inf,
        model="logistic",
        site_evaluations=0,
        round_timeout=5.0,
        wait_seconds=0.0,
        resume=True,
        quiet=True,
    )


def _run(hospitals: Hospitals, settings: RunSettings):
    grid = AdmittedGrid(hospitals.link, lambda: dict(NAMES))  # type: ignore[arg-type]
    return federation.run_federation(grid, settings, lambda line: None)


def test_a_hospital_first_asked_after_a_resume_is_left_out_of_every_round_on_record(
    simulated_cohorts, tmp_path
):
    settings = _settings(simulated_cohorts(5), tmp_path)
    with pytest.raises(Stopped):  # launch 1: elista not connected; stopped in round 4
        _run(Hospitals(elista_online=False, stop_in=4), settings)
    result = _run(Hospitals(elista_online=True), settings)  # launch 2 resumes after round 3

    log = result.log
    assert all(log.refused[r] == {"elista": NOT_IN_LAUNCH} for r in (1, 2, 3))
    assert all(log.refused[r] == {"elista": BUDGET} for r in (4, 5, 6))
    results = json.loads(json.dumps(federation_results(result, settings)))
    assert sorted(results["refusals"]) == ["1", "2", "3", "4", "5", "6"]
    assert results["not_connected"] == []  # it was sent rounds 4-6: in refusals, not "never asked"

    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    summary: list[str] = []
    _say_who_took_part(path, summary.append)
    assert summary[0] == "hospitals that trained (rounds): astrakhan 6 of 6, rostov 6 of 6"
    assert summary[1].splitlines()[1:] == [
        f"  elista: left out of 6 of 6 round(s) (rounds 1-3: {NOT_IN_LAUNCH}; rounds 4-6: {BUDGET})"
    ]


def test_a_hospital_no_launch_asked_stays_not_connected_and_one_gone_at_a_resume_is_left_out_since(
    simulated_cohorts, tmp_path
):
    """Launch 1 without elista, launch 2 (resumed after round 2) without elista and, from the start,
    without astrakhan too: elista was never sent a round (results.json `not_connected`, as before);
    astrakhan took part in rounds 1-2 and its rounds 3-6 are refusals, not "not connected when the
    run started"."""
    settings = _settings(simulated_cohorts(5), tmp_path, min_nodes=1)
    with pytest.raises(Stopped):
        _run(Hospitals(elista_online=False, stop_in=3), settings)
    hospitals = Hospitals(elista_online=False)
    hospitals.link.online.discard(12)  # astrakhan's agent is down when the coordinator resumes
    result = _run(hospitals, settings)

    results = json.loads(json.dumps(federation_results(result, settings)))
    assert results["not_connected"] == ["elista"]
    assert [results["refusals"].get(str(r), {}).get("astrakhan") for r in range(1, 7)] == [None, None] + [
        NOT_IN_LAUNCH
    ] * 4
    assert all("elista" not in results["refusals"].get(str(r), {}) for r in range(1, 7))


def test_a_checkpoint_without_the_record_of_absences_resumes_as_before(simulated_cohorts, tmp_path):
    """A checkpoint written before `absent_since` was kept (its log lacks the key) resumes: the
    absences of its launches are unknown, so only the resumed launch's rounds are on record."""
    from genofed.server.checkpoint import checkpoint_files

    settings = _settings(simulated_cohorts(5), tmp_path)
    with pytest.raises(Stopped):
        _run(Hospitals(elista_online=False, stop_in=4), settings)
    path = checkpoint_files(tmp_path / "run" / "checkpoints")[-1][1]
    saved = torch.load(path, weights_only=False)
    del saved["log"]["absent_since"]
    torch.save(saved, path)
    result = _run(Hospitals(elista_online=True), settings)
    assert [sorted(result.log.refused.get(r, {})) for r in range(1, 7)] == [[]] * 3 + [["elista"]] * 3
