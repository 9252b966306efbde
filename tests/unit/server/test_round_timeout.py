"""`round-timeout`: how long the coordinator waits for the hospitals' replies to one exchange.

A connected hospital that never answers (a stuck ClientApp, an overloaded or malicious site) held
every round for Flower's default hour. Now each exchange (the first query, a training round, a
SecAgg+ stage, an evaluation) waits `round-timeout` seconds, then goes on with the replies it
has; the hospital that did not answer is named in the coordinator's log and, for a training
round, in the round log as refusing it; its late reply is never pulled into a later exchange.

The grid is a stand-in for the SuperLink behind the deployed coordinator's own `AdmittedGrid`
(its real push-then-pull loop): pushing gives each message an id, pulling hands over the replies
that have arrived for the ids asked; a hospital's late reply arrives only after the next exchange
has begun.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key, Stage
from helpers.secagg_hospitals import SecAggHospitals

from genofed.common.errors import ConfigError
from genofed.common.model.network import ModelConfig
from genofed.server import federation, secagg
from genofed.server.app import AdmittedGrid
from genofed.server.checkpoint import Checkpoint
from genofed.server.resume import RunStart, check_resumable
from genofed.server.round_log import RoundLog
from genofed.server.settings import DEFAULT_ROUND_TIMEOUT, RunSettings
from genofed.server.sites import SiteInfo, describe_sites
from genofed.server.strategies import make_strategy

NAMES = {1: "rostov", 2: "astrakhan", 3: "elista"}
TIMEOUT = 0.5


pytestmark = pytest.mark.usefixtures("flower_task_identity")


# --- the setting -----------------------------------------------------------------------------


def test_the_default_is_flowers_hour_and_any_positive_time_or_inf_is_taken():
    assert RunSettings().round_timeout == DEFAULT_ROUND_TIMEOUT == 3600.0
    assert RunSettings.from_config({"round-timeout": "90"}).round_timeout == 90.0
    assert math.isinf(RunSettings.from_config({"round-timeout": "inf"}).round_timeout)
    settings = RunSettings(round_timeout=math.inf)
    assert RunSettings.from_config(settings.to_config()) == settings  # inf survives results.json's config


@pytest.mark.parametrize("value", [0, -5, "nan"])
def test_a_timeout_that_would_wait_for_nothing_is_refused_with_what_to_give(value):
    with pytest.raises(ConfigError, match="round-timeout must be > 0") as refused:
        RunSettings.from_config({"round-timeout": value})
    assert "inf = wait for every reply" in str(refused.value)


def test_off_is_no_timeout_value():
    with pytest.raises(ConfigError, match="round-timeout='off' is not a valid float"):
        RunSettings.from_config({"round-timeout": "off"})


def test_the_timeout_changes_neither_the_run_id_nor_what_a_resumed_run_accepts(tmp_path):
    assert RunSettings(round_timeout=30.0).experiment_id() == RunSettings().experiment_id()
    config = ModelConfig(n_variants=100)
    old = RunSettings().to_config()
    del old["round-timeout"]  # a checkpoint written before the setting existed
    for before in (old, RunSettings(round_timeout=60.0).to_config()):
        checkpoint = Checkpoint(2, {}, config.to_dict(), "plan", settings=before)
        check_resumable(checkpoint, config, RunSettings(round_timeout=600.0, resume=True), tmp_path)


# --- the value reaches Flower's calls ----------------------------------------------------------


def _rounds(settings: RunSettings, strategy) -> federation.Rounds:
    weights = {"w": torch.zeros(3)}
    sites = {n: SiteInfo(name, {"train": 80, "validation": 20}) for n, name in NAMES.items()}
    return federation.Rounds(
        settings=settings,
        start=RunStart(0, "plan", weights, []),
        sites=sites,
        strategy=strategy,
        after_round=None,  # type: ignore[arg-type]
        train_config=ConfigRecord(),
        evaluate_config=ConfigRecord(),
    )


def test_plain_rounds_give_flowers_strategy_start_the_timeout():
    called: dict = {}
    strategy = SimpleNamespace(start=lambda **kwargs: called.update(kwargs))
    federation._train(object(), _rounds(RunSettings(rounds=2, round_timeout=42.0), strategy), print)
    assert called["timeout"] == 42.0 and called["num_rounds"] == 2


def test_secagg_rounds_give_every_stage_and_evaluation_the_timeout(monkeypatch):
    called: dict = {}

    def run_secagg_rounds(grid, **kwargs):
        called.update(kwargs)
        return secagg.SecAggStats()

    monkeypatch.setattr(secagg, "run_secagg_rounds", run_secagg_rounds)
    tracked = SimpleNamespace(frozen=frozenset())
    settings = RunSettings(rounds=2, secagg=True, round_timeout=42.0)
    federation._train(object(), _rounds(settings, tracked), print)
    assert called["timeout"] == 42.0
    workflow = secagg.make_secagg_workflow(3, 80, 42.0)
    assert workflow.timeout == 42.0


# --- the stand-in SuperLink ----------------------------------------------------------------------


class SuperLink:
    """Pushes give each message an id; pulls hand over the replies arrived for the ids asked.

    `answer(message)` is a node's reply; `late(message)` says whether that reply arrives only once
    the next exchange has begun (a hospital that missed the deadline), `never(message)` whether
    it never comes."""

    def __init__(
        self,
        answer: Callable[[Message], Message],
        late: Callable[[Message], bool] = lambda m: False,
        never: Callable[[Message], bool] = lambda m: False,
    ) -> None:
        self.answer, self.late, self.never = answer, late, never
        self.arrived: dict[str, Message] = {}  # the id of the message answered -> its reply
        self.on_the_way: list[Message] = []
        self.late_replies: list[Message] = []

    run = SimpleNamespace(run_id=1)  # what Flower's legacy workflow (SecAgg+) reads of a grid

    def get_node_ids(self) -> list[int]:
        return list(NAMES)

    def push_messages(self, messages) -> list[str]:
        for reply in self.on_the_way:  # the late replies of the previous exchange arrive now
            self.arrived[reply.metadata.reply_to_message_id] = reply
        self.on_the_way = []
        ids = []
        for message in messages:
            message.metadata.__dict__["_message_id"] = uuid.uuid4().hex
            ids.append(message.metadata.message_id)
            if self.never(message):
                continue
            reply = self.answer(message)
            if self.late(message):
                self.on_the_way.append(reply)
                self.late_replies.append(reply)
            else:
                self.arrived[message.metadata.message_id] = reply
        return ids

    def pull_messages(self, message_ids) -> list[Message]:
        return [self.arrived.pop(i) for i in list(message_ids) if i in self.arrived]


class Coordinator(AdmittedGrid):
    """The deployed coordinator's grid over the stand-in, noting each exchange's timeout and time."""

    def __init__(self, link: SuperLink) -> None:
        super().__init__(link, lambda: dict(NAMES))  # type: ignore[arg-type]
        self.exchanges: list[tuple[float | None, float]] = []

    def send_and_receive(self, messages, *, timeout=None):
        started = time.monotonic()
        replies = super().send_and_receive(messages, timeout=timeout)
        self.exchanges.append((timeout, time.monotonic() - started))
        return replies


def introduction(message: Message) -> Message:
    sizes = MetricRecord({"train": 80, "validation": 20, "variants": 480, "synthetic": 0})
    site = ConfigRecord({"name": NAMES[message.metadata.dst_node_id]})
    return Message(RecordDict({"site": site, "sizes": sizes}), reply_to=message)


def _server_round(message: Message) -> int:
    return int(next(iter(message.content.config_records.values()))["server-round"])


def trained(message: Message) -> Message:
    """A hospital's training reply: the model sent, moved by a small step of its own, and a metric
    naming the round it answers."""
    node, answers = message.metadata.dst_node_id, _server_round(message)
    generator = torch.Generator().manual_seed(100 * answers + node)
    sent = next(iter(message.content.array_records.values())).to_torch_state_dict()
    moved = {k: v + 1e-3 * torch.randn(v.shape, generator=generator) for k, v in sent.items()}
    metrics = {"num-examples": 80, "epsilon": math.inf, "noise-multiplier": 0.0, "answers-round": answers}
    content = RecordDict({"arrays": ArrayRecord(moved), "metrics": MetricRecord(metrics)})
    return Message(content, reply_to=message)


def evaluated(message: Message) -> Message:
    """A hospital's evaluation reply (its DP release left out: not what is tested here)."""
    return Message(RecordDict({"metrics": MetricRecord({"num-examples": 20})}), reply_to=message)


def hospital(message: Message) -> Message:
    if message.metadata.message_type == MessageType.QUERY:
        return introduction(message)
    return trained(message)


# --- the first query -----------------------------------------------------------------------------


def test_a_hospital_that_never_answers_the_first_query_cannot_take_part_and_is_not_sent_rounds(caplog):
    grid = Coordinator(SuperLink(introduction, never=lambda m: m.metadata.dst_node_id == 3))
    with caplog.at_level(logging.WARNING, logger="genofed.server.sites"):
        sites, asked = describe_sites(grid, 2, timeout=5, reply_timeout=TIMEOUT)
    assert {node: s.name for node, s in sites.items()} == {1: "rostov", 2: "astrakhan"}
    assert asked == {1, 2}  # node 3 would hold every round for the timeout again
    ((timeout, seconds),) = grid.exchanges
    assert timeout == TIMEOUT and TIMEOUT <= seconds < TIMEOUT + 2
    assert "(node 3) cannot take part: no answer to the coordinator's first query within 0.5 s" in caplog.text


# --- a plain round ---------------------------------------------------------------------------------


def test_a_round_goes_on_without_a_silent_hospital_and_never_takes_its_late_reply(
    simulated_cohorts, tmp_path, caplog
):
    """elista trains round 1 too slowly: its reply arrives during round 2. Round 1 averages the two
    that answered within the timeout; round 2 averages the three round-2 replies, never elista's
    round-1 one, which stays unpulled."""
    settings = RunSettings(
        data_dir=str(simulated_cohorts(5)),
        out_dir=str(tmp_path / "run"),
        rounds=2,
        epsilon=math.inf,
        model="logistic",
        site_evaluations=0,
        round_timeout=TIMEOUT,
        quiet=True,
    )
    link = SuperLink(
        hospital,
        late=lambda m: (
            m.metadata.dst_node_id == 3
            and m.metadata.message_type == MessageType.TRAIN
            and _server_round(m) == 1
        ),
    )
    grid = Coordinator(link)
    said: list[str] = []
    with caplog.at_level(logging.WARNING, logger="genofed.server.tracking"):
        result = federation.run_federation(grid, settings, said.append)

    assert [timeout for timeout, _ in grid.exchanges] == [TIMEOUT] * len(grid.exchanges)
    query, round_1, evaluation_1, round_2, evaluation_2 = grid.exchanges
    assert TIMEOUT <= round_1[1] < TIMEOUT + 2  # waited out the timeout, not Flower's hour
    assert query[1] < TIMEOUT and round_2[1] < TIMEOUT  # everyone answered: no waiting

    log = result.log
    assert sorted(log.train[1]) == ["astrakhan", "rostov"]
    assert "no reply within 0.5 s (round-timeout)" in log.refused[1]["elista"]
    assert sorted(log.train[2]) == ["astrakhan", "elista", "rostov"] and 2 not in log.refused
    assert {m["answers-round"] for m in log.train[2].values()} == {2.0}  # no round-1 reply in round 2
    (late,) = link.late_replies
    assert late.metadata.reply_to_message_id in link.arrived  # it arrived, and nobody pulled it

    assert [r["participants"] for r in result.rounds if r["round"]] == [
        ["astrakhan", "rostov"],
        ["astrakhan", "elista", "rostov"],
    ]
    assert result.rounds[1]["refused"] == ["elista"]
    assert any("round 1/2" in line and "refused: elista" in line for line in said)
    assert "round 1 training: no reply from elista within 0.5 s (round-timeout)" in caplog.text


def test_a_silent_hospital_in_an_evaluation_is_named_in_the_log(caplog):
    """The evaluation exchange waits the same timeout and goes on with the releases it has."""
    log = RoundLog(site_of_node=dict(NAMES), taking_part=set(NAMES), declared_sizes={})
    log.train = {1: {"rostov": {"num-examples": 80.0}}}  # a model no hospital trained is not evaluated
    strategy = make_strategy(RunSettings(rounds=1, round_timeout=TIMEOUT), log)
    grid = Coordinator(SuperLink(evaluated, never=lambda m: m.metadata.dst_node_id == 3))
    messages = strategy.configure_evaluate(1, ArrayRecord({"w": torch.zeros(3)}), ConfigRecord({}), grid)
    with caplog.at_level(logging.WARNING, logger="genofed.server.tracking"):
        strategy.aggregate_evaluate(1, grid.send_and_receive(messages, timeout=TIMEOUT))
    assert sorted(log.evaluate[1]) == ["astrakhan", "rostov"]
    assert "round 1 evaluation: no reply from elista within 0.5 s (round-timeout)" in caplog.text
    assert not log.refused  # an evaluation missed is no training round refused


# --- a SecAgg+ round -------------------------------------------------------------------------------


def _stage_of(message: Message) -> str:
    configs = message.content.config_records.get(RECORD_KEY_CONFIGS)
    return str(configs.get(Key.STAGE, "")) if configs is not None else ""


@pytest.mark.parametrize("stage", [Stage.SETUP, Stage.COLLECT_MASKED_VECTORS])
def test_a_secagg_round_goes_on_without_a_hospital_silent_in_a_stage(stage, caplog):
    """elista does not answer one stage in time: the round unmasks the sum of the other two (2 of
    3 is SecAgg+'s threshold) and the round log names elista with the stage."""
    log = RoundLog(
        site_of_node=dict(NAMES),
        taking_part=set(NAMES),
        declared_sizes={n: {"train": 80, "validation": 20} for n in NAMES},
    )
    settings = RunSettings(rounds=1, round_timeout=TIMEOUT, secagg=True, site_evaluations=0)
    tracked = make_strategy(settings, log)
    link = SuperLink(
        SecAggHospitals(NAMES), late=lambda m: m.metadata.dst_node_id == 3 and _stage_of(m) == stage
    )
    grid = Coordinator(link)
    state = {"w": torch.zeros(4)}
    models: list[ArrayRecord] = []
    with caplog.at_level(logging.WARNING, logger="genofed.server.secagg"):
        stats = secagg.run_secagg_rounds(
            grid,
            state=state,
            num_rounds=1,
            round_offset=0,
            seed=0,
            train_config=ConfigRecord({"batch-size": 16}),
            evaluate_config=ConfigRecord({}),
            evaluate_fn=lambda r, arrays: models.append(arrays),
            tracked=tracked,
            max_weight=80,
            min_nodes=2,
            fraction_train=1.0,
            timeout=TIMEOUT,
        )
    assert stats.halted == []
    assert sorted(log.train[1]) == ["astrakhan", "rostov"]
    reason = log.refused[1]["elista"]
    assert reason.startswith(f"no reply to the SecAgg+ {stage} stage within 0.5 s (round-timeout)")
    assert f"round 1, elista: {reason}" in caplog.text
    # the mean of rostov's (+1e-3) and astrakhan's (+2e-3) steps; elista's (+3e-3) is not in it
    np.testing.assert_allclose(models[-1]["w"].numpy(), np.full(4, 1.5e-3), atol=1e-5)
    slow = [t for t, seconds in grid.exchanges if seconds >= TIMEOUT]
    assert len(slow) == 1 and all(t == TIMEOUT for t, _ in grid.exchanges)
