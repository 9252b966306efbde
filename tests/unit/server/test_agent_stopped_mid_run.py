"""A hospital whose agent stops mid-run is recorded in every round it missed, with plain reasons.

An operator's walkthrough stopped one hospital's agent during round 2 of 6: the coordinator said
it was left out of 1 of 6 rounds (with Flower's raw "Node Unavailable ... heartbeat" text), while
it missed rounds 2-6. From round 3 on its node was no longer online, so it was not sampled, and
nothing recorded it: results.json's `refusals` held round 2 only, `not_connected` (computed once
at the start) was empty, and the report said `1 (1 refused)`. Now each round records every
hospital taking part that is not connected when it starts, and the heartbeat error reads as what
it means.

The grid is a stand-in for the SuperLink behind the deployed coordinator's `AdmittedGrid`: it
lists the nodes online, gives each pushed message an id, and answers for a node that stopped
sending heartbeats with Flower's own error reply.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord, Error, Message, MessageType, MetricRecord, RecordDict
from flwr.common.constant import SUPERLINK_NODE_ID, ErrorCode
from helpers.instant_superlink import InstantSuperLink, introduction
from helpers.secagg_hospitals import SecAggHospitals

from genofed.server import federation, secagg
from genofed.server.app import AdmittedGrid
from genofed.server.report.sites import _participation, _rounds_cell
from genofed.server.results import federation_results
from genofed.server.round_end import progress_line, round_record
from genofed.server.round_log import NO_HEARTBEAT, NOT_CONNECTED, REVOKED, RoundLog, error_reason
from genofed.server.service.launch import _say_who_took_part
from genofed.server.settings import RunSettings
from genofed.server.sites import describe_sites
from genofed.server.strategies import make_strategy

NAMES = {11: "rostov", 12: "astrakhan", 13: "elista"}
ELISTA = 13
#: What Flower's SuperLink writes for a node that stopped sending heartbeats
#: (`flwr.server.superlink.linkstate.utils.NODE_UNAVAILABLE_ERROR_REASON`).
FLOWER_TEXT = (
    "Error: Node Unavailable — The destination node failed to report a heartbeat within 2 × its "
    "expected interval."
)

pytestmark = pytest.mark.usefixtures("flower_task_identity")


def _server_round(message: Message) -> int:
    return int(next(iter(message.content.config_records.values()))["server-round"])


def _gone(message: Message) -> Message:
    """The SuperLink's own reply for a node whose heartbeats stopped (sent by the SuperLink)."""
    reply = Message(error=Error(code=ErrorCode.NODE_UNAVAILABLE, reason=FLOWER_TEXT), reply_to=message)
    reply.metadata.__dict__["_src_node_id"] = SUPERLINK_NODE_ID
    return reply


class Hospitals:
    """Three hospitals that introduce themselves and train; elista's agent stops during round
    `stops_in`: the SuperLink answers that round for it, and its node is offline from then on."""

    def __init__(self, stops_in: int) -> None:
        self.stops_in = stops_in
        self.link = InstantSuperLink(self, NAMES)

    def __call__(self, message: Message) -> Message:
        node = message.metadata.dst_node_id
        if message.metadata.message_type == MessageType.QUERY:
            return introduction(message, NAMES[node])
        if node == ELISTA and _server_round(message) >= self.stops_in:
            self.link.online.discard(ELISTA)
            return _gone(message)
        sent = next(iter(message.content.array_records.values())).to_torch_state_dict()
        generator = torch.Generator().manual_seed(100 * _server_round(message) + node)
        moved = {k: v + 1e-3 * torch.randn(v.shape, generator=generator) for k, v in sent.items()}
        metrics = {"num-examples": 80, "epsilon": math.inf, "noise-multiplier": 0.0}
        return Message(
            RecordDict({"arrays": ArrayRecord(moved), "metrics": MetricRecord(metrics)}), reply_to=message
        )


def test_a_hospital_whose_agent_stops_in_round_2_of_6_is_left_out_of_5_rounds_everywhere(
    simulated_cohorts, tmp_path
):
    settings = RunSettings(
        data_dir=str(simulated_cohorts(5)),
        out_dir=str(tmp_path / "run"),
        rounds=6,
        epsilon=math.inf,
        model="logistic",
        site_evaluations=0,
        round_timeout=5.0,
        quiet=True,
    )
    hospitals = Hospitals(stops_in=2)
    grid = AdmittedGrid(hospitals.link, lambda: dict(NAMES))  # type: ignore[arg-type]
    said: list[str] = []
    result = federation.run_federation(grid, settings, said.append)

    log = result.log
    assert log.refused[2] == {"elista": NO_HEARTBEAT}
    assert all(log.refused[r] == {"elista": NOT_CONNECTED} for r in (3, 4, 5, 6))
    assert [sorted(log.train[r]) for r in (1, 2, 6)] == [["astrakhan", "elista", "rostov"]] + [
        ["astrakhan", "rostov"]
    ] * 2
    lines = {int(line.split()[1].split("/")[0]): line for line in said if line.startswith("round ")}
    assert "refused: elista" in lines[2] and "not connected" not in lines[2]
    assert all(
        lines[r].endswith(", not connected: elista") and "refused" not in lines[r] for r in (3, 4, 5, 6)
    )

    results = json.loads(json.dumps(federation_results(result, settings)))
    assert results["refusals"]["2"] == {"elista": NO_HEARTBEAT}
    assert results["refusals"]["6"] == {"elista": NOT_CONNECTED}
    assert FLOWER_TEXT not in json.dumps(results)
    assert _rounds_cell("elista", *_participation(results), True) == "1 (5 refused)"
    assert _rounds_cell("rostov", *_participation(results), True) == "6"

    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    summary: list[str] = []
    _say_who_took_part(path, summary.append)
    assert summary[0] == "hospitals that trained (rounds): astrakhan 6 of 6, elista 1 of 6, rostov 6 of 6"
    assert summary[1].splitlines()[1:] == [
        f"  elista: left out of 5 of 6 round(s) (round 2: {NO_HEARTBEAT}; rounds 3-6: {NOT_CONNECTED})"
    ]


def test_secagg_rounds_record_a_hospital_taking_part_that_is_not_connected():
    """elista introduced itself, then its agent stopped: each SecAgg+ round samples the two online
    hospitals, sums their updates, and records elista as not connected."""
    log = RoundLog(
        site_of_node=dict(NAMES),
        taking_part=set(NAMES),
        declared_sizes={n: {"train": 80, "validation": 20} for n in NAMES},
    )
    settings = RunSettings(rounds=2, round_timeout=5.0, secagg=True, site_evaluations=0)
    link = InstantSuperLink(SecAggHospitals(NAMES), NAMES)
    link.online.discard(ELISTA)
    stats = secagg.run_secagg_rounds(
        AdmittedGrid(link, lambda: dict(NAMES)),  # type: ignore[arg-type]
        state={"w": torch.zeros(4)},
        num_rounds=2,
        round_offset=0,
        seed=0,
        train_config=ConfigRecord({"batch-size": 16}),
        evaluate_config=ConfigRecord({}),
        evaluate_fn=lambda r, arrays: None,
        tracked=make_strategy(settings, log),
        max_weight=80,
        min_nodes=2,
        fraction_train=1.0,
        timeout=5.0,
    )
    assert stats.halted == []
    assert [sorted(log.train[r]) for r in (1, 2)] == [["astrakhan", "rostov"]] * 2
    assert log.refused == {1: {"elista": NOT_CONNECTED}, 2: {"elista": NOT_CONNECTED}}


def test_a_node_revoked_during_the_run_is_recorded_as_revoked_not_as_not_connected():
    log = RoundLog(site_of_node=dict(NAMES), taking_part=set(NAMES))
    enrolled = {11: "rostov", 12: "astrakhan"}
    assert log.note_not_connected(4, [11], enrolled) == ["astrakhan", "elista"]
    assert log.refused[4] == {"astrakhan": NOT_CONNECTED, "elista": REVOKED}
    assert log.note_not_connected(5, list(NAMES), enrolled) == [] and 5 not in log.refused


def test_a_simulation_where_every_hospital_is_connected_records_nothing_more():
    log = RoundLog(site_of_node=dict(NAMES), taking_part=set(NAMES))
    assert log.note_not_connected(1, list(NAMES)) == []
    record = round_record(1, {}, log, 1.0)
    assert record["refused"] == record["not_connected"] == []
    assert progress_line(record, 3) == "round 1/3, test AUC n/a"


def test_flowers_heartbeat_error_reads_as_what_it_means_and_other_errors_keep_their_reason():
    assert error_reason(ErrorCode.NODE_UNAVAILABLE, FLOWER_TEXT) == NO_HEARTBEAT
    assert error_reason(4001, "privacy budget exhausted") == "privacy budget exhausted"
    assert error_reason(2, "") == "error 2"


def test_a_hospital_gone_before_it_answers_the_first_query_is_turned_away_in_plain_words():
    hospitals = Hospitals(stops_in=1)
    hospitals.link.answer = lambda m: _gone(m) if m.metadata.dst_node_id == ELISTA else hospitals(m)
    grid = AdmittedGrid(hospitals.link, lambda: dict(NAMES))  # type: ignore[arg-type]
    turned_away: dict[int, str] = {}
    sites, asked = describe_sites(grid, 2, timeout=5, reply_timeout=5.0, turned_away=turned_away)
    assert asked == {11, 12} and turned_away == {ELISTA: NO_HEARTBEAT}
