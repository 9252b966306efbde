"""Flower strategies as genofed runs them: FedAvg, FedProx or FedAdam, plus round bookkeeping.

Flower's strategies do the aggregation; `Tracking` adds only what a clinical run needs on top:
which hospital each reply came from (for the per-hospital table and epsilon), who refused,
deterministic aggregation order (a resumed run must reproduce an uninterrupted one bit for bit),
and a round offset, because `Strategy.start` always counts from round 1 and a resumed run
continues from its checkpoint's round.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAdam, FedAvg, FedProx

from .settings import RunSettings


@dataclass
class RoundLog:
    """What happened in each round, by hospital name."""

    site_of_node: dict[int, str]
    #: The nodes asked at the start of the run; rounds go to these only (see describe_sites).
    taking_part: set[int] = field(default_factory=set)
    train: dict[int, dict[str, dict[str, float]]] = field(default_factory=dict)  # round -> site -> metrics
    evaluate: dict[int, dict[str, dict[str, float]]] = field(default_factory=dict)
    refused: dict[int, dict[str, str]] = field(default_factory=dict)  # round -> site -> reason
    #: The messages of the current exchange: a reply the SuperLink writes itself (the node
    #: stopped sending heartbeats) comes from the SuperLink, so it is matched to the message it
    #: answers, whose id Flower assigns when sending it.
    sent: list[Message] = field(default_factory=list)

    def note_sent(self, messages: Iterable[Message]) -> list[Message]:
        self.sent = list(messages)
        return self.sent

    def node(self, msg: Message) -> int:
        for sent in self.sent:
            if sent.metadata.message_id and sent.metadata.message_id == msg.metadata.reply_to_message_id:
                return sent.metadata.dst_node_id
        return msg.metadata.src_node_id

    def site(self, msg: Message) -> str:
        node = self.node(msg)
        return self.site_of_node.get(node, f"node-{node}")


class Tracking:
    """Mixin for a Flower strategy: records per-site replies and shifts round numbers."""

    round_offset: int = 0
    seed: int = 0
    log: RoundLog
    #: Parameters no hospital trains (fine-tuning with a frozen encoder): kept bit-identical
    #: rather than re-averaged, since a weighted mean of equal arrays can move them by a rounding.
    frozen: frozenset[str] = frozenset()
    _sent: ArrayRecord | None = None

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid) -> Iterable[Message]:
        real = server_round + self.round_offset
        random.seed(f"{self.seed}:{real}")  # Flower samples nodes with `random`: same seed, same sample
        self._sent = arrays
        return self.log.note_sent(self._described_only(super().configure_train(real, arrays, config, grid)))

    def aggregate_train(self, server_round: int, replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        real = server_round + self.round_offset
        replies = self._record(real, replies, self.log.train, note_refusals=True)
        arrays, metrics = super().aggregate_train(real, replies)
        return self._keep_frozen(arrays), metrics

    def _keep_frozen(self, arrays: ArrayRecord | None) -> ArrayRecord | None:
        if arrays is None or not self.frozen or self._sent is None:
            return arrays
        sent = self._sent.to_torch_state_dict()
        merged = {k: (sent[k] if k in self.frozen else v) for k, v in arrays.to_torch_state_dict().items()}
        return ArrayRecord(merged)

    def configure_evaluate(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid) -> Iterable[Message]:
        return self.log.note_sent(self._described_only(super().configure_evaluate(server_round + self.round_offset, arrays, config, grid)))

    def _described_only(self, messages: Iterable[Message]) -> list[Message]:
        """Only hospitals that introduced themselves at the start (name, cohort size) take part;
        one that connects later joins the next run."""
        return [m for m in messages if m.metadata.dst_node_id in (self.log.taking_part or self.log.site_of_node)]

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        real = server_round + self.round_offset
        return super().aggregate_evaluate(real, self._record(real, replies, self.log.evaluate, note_refusals=False))

    def _record(self, real_round: int, replies: Iterable[Message], sink: dict, *, note_refusals: bool) -> list[Message]:
        """Note each reply by site; return them sorted by site, so sums run in a fixed order."""
        replies = sorted(replies, key=self.log.site)
        for msg in replies:
            site = self.log.site(msg)
            if msg.has_error():
                if note_refusals:
                    self.log.refused.setdefault(real_round, {})[site] = msg.error.reason or f"error {msg.error.code}"
            else:
                metrics = next(iter(msg.content.metric_records.values()))
                sink.setdefault(real_round, {})[site] = {k: float(v) for k, v in metrics.items()}
        return replies


def max_epsilon_metrics(records: list[RecordDict], weight_key: str) -> MetricRecord:
    """Average losses by examples, but report the worst (largest) epsilon and noise: a mean
    epsilon would understate what the least protected hospital spent."""
    merged: dict[str, float] = {}
    total = sum(float(next(iter(r.metric_records.values()))[weight_key]) for r in records)
    for record in records:
        metrics = next(iter(record.metric_records.values()))
        weight = float(metrics[weight_key]) / total if total else 0.0
        for key, value in metrics.items():
            value = float(value)
            if key in ("epsilon", "noise-multiplier", "train-seconds"):
                merged[key] = max(merged.get(key, -math.inf), value)
            elif key == weight_key:
                merged[key] = merged.get(key, 0.0) + value
            else:
                merged[key] = merged.get(key, 0.0) + weight * value
    return MetricRecord(merged)


def make_strategy(settings: RunSettings, log: RoundLog, *, round_offset: int = 0, frozen: frozenset[str] = frozenset()) -> FedAvg:
    """The strategy the settings ask for, with tracking mixed in."""
    common = dict(
        fraction_train=settings.fraction_train,
        fraction_evaluate=1.0,
        min_train_nodes=min(settings.min_nodes, len(log.site_of_node)),
        min_evaluate_nodes=min(settings.min_nodes, len(log.site_of_node)),
        min_available_nodes=settings.min_nodes,
        train_metrics_aggr_fn=max_epsilon_metrics,
    )
    if settings.strategy == "fedprox":
        base, extra = FedProx, {"proximal_mu": settings.proximal_mu}
    elif settings.strategy == "fedadam":
        base, extra = FedAdam, {"eta": settings.server_lr, "eta_l": settings.lr}
    else:
        base, extra = FedAvg, {}
    cls = type(f"Tracked{base.__name__}", (Tracking, base), {})
    strategy = cls(**common, **extra)
    strategy.round_offset, strategy.seed, strategy.log, strategy.frozen = round_offset, settings.seed, log, frozen
    return strategy
