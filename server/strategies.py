"""Flower strategies as genofed runs them, plus round bookkeeping and update screening.

FedAvg, FedProx and FedAdam, and the robust aggregators FedMedian, FedTrimmedAvg, Krum and
MultiKrum, all from `flwr.serverapp.strategy`. Flower's strategies do the aggregation; `Tracking`
adds only what a clinical run needs on top: which hospital each reply came from (for the
per-hospital table and epsilon), who refused, deterministic aggregation order (a resumed run
must reproduce an uninterrupted one bit for bit), a round offset, because `Strategy.start`
always counts from round 1 and a resumed run continues from its checkpoint's round, and the
coordinator's own checks of every update before any of it is aggregated
(`genofed.server.integrity`: finite, example count capped at the declared cohort, update norm
within what DP-SGD with the agreed settings can produce).
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAdam, FedAvg, FedMedian, FedProx, FedTrimmedAvg, Krum, MultiKrum

from genofed.common.privacy.release import histogram_metrics, pooled_histogram
from genofed.server.integrity import LocalTraining, SentModel, UpdateScreen, refusal
from genofed.server.settings import RunSettings

logger = logging.getLogger(__name__)


@dataclass
class RoundLog:
    """What happened in each round, by hospital name."""

    site_of_node: dict[int, str]
    #: The nodes asked at the start of the run; rounds go to these only (see describe_sites).
    taking_part: set[int] = field(default_factory=set)
    train: dict[int, dict[str, dict[str, float]]] = field(default_factory=dict)  # round -> site -> metrics
    evaluate: dict[int, dict[str, dict[str, float]]] = field(default_factory=dict)
    refused: dict[int, dict[str, str]] = field(default_factory=dict)  # round -> site -> reason
    #: Each node's cohort sizes as it declared them at the start (`train`: real patients,
    #: `synthetic`: extra training rows): its example count is capped at `train`, and its
    #: update norm bound follows from the rows it trains on.
    declared_sizes: dict[int, dict[str, int]] = field(default_factory=dict)
    #: round -> site -> note, for example counts the coordinator capped at the declared size.
    capped: dict[int, dict[str, str]] = field(default_factory=dict)
    #: round -> site -> {"norm": ||update||, "bound": its DP bound (absent without DP)}.
    update_norms: dict[int, dict[str, dict[str, float]]] = field(default_factory=dict)
    #: round -> site -> the epsilon a site reported with an update the coordinator refused: the
    #: site spent it all the same, so its cumulative epsilon must count it.
    refused_epsilon: dict[int, dict[str, float]] = field(default_factory=dict)
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
    #: The coordinator's checks of each train reply (None: none, e.g. a bare strategy in a test).
    screen: UpdateScreen | None = None
    #: The (real) rounds after which hospitals evaluate the global model: each evaluation is a DP
    #: release from their budgets, so only the planned ones are asked for (`evaluation_rounds`).
    evaluation_rounds: frozenset[int] = frozenset()
    _sent: ArrayRecord | None = None

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        real = server_round + self.round_offset
        random.seed(f"{self.seed}:{real}")  # Flower samples nodes with `random`: same seed, same sample
        self._sent = arrays
        return self.log.note_sent(self._described_only(super().configure_train(real, arrays, config, grid)))

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        real = server_round + self.round_offset
        replies = self._record(real, self._screened(real, replies), self.log.train, note_refusals=True)
        arrays, metrics = super().aggregate_train(real, replies)
        return self._keep_frozen(arrays), metrics

    def _screened(self, real_round: int, replies: Iterable[Message]) -> list[Message]:
        """Every reply that fails the coordinator's checks becomes a refusal of its site, with the
        reason; an inflated example count is capped in place. See genofed.server.integrity."""
        replies = list(replies)
        if self.screen is None or self._sent is None:
            return replies
        sent = SentModel.of(self._sent)
        return [msg if msg.has_error() else self._screen_one(real_round, msg, sent) for msg in replies]

    def _screen_one(self, real_round: int, msg: Message, sent: SentModel) -> Message:
        site, node = self.log.site(msg), self.log.node(msg)
        verdict = self.screen.screen(msg, node, sent)
        if verdict.norm is not None:
            bound = {} if verdict.bound is None else {"bound": verdict.bound}
            self.log.update_norms.setdefault(real_round, {})[site] = {"norm": verdict.norm, **bound}
        if verdict.capped_from is not None:
            declared = self.log.declared_sizes[node]["train"]
            note = f"claimed {verdict.capped_from:g} training examples, declared {declared} at the start: weighted as {declared}"
            self.log.capped.setdefault(real_round, {})[site] = note
            logger.warning("round %d, %s: %s", real_round, site, note)
        if verdict.refusal is None:
            return msg
        logger.warning("round %d, %s: %s", real_round, site, verdict.refusal)
        reported = next(iter(msg.content.metric_records.values()), {}).get("epsilon")
        if isinstance(reported, (int, float)) and not math.isnan(reported):
            self.log.refused_epsilon.setdefault(real_round, {})[site] = float(reported)
        return refusal(msg, verdict.refusal)

    def _keep_frozen(self, arrays: ArrayRecord | None) -> ArrayRecord | None:
        if arrays is None or not self.frozen or self._sent is None:
            return arrays
        sent = self._sent.to_torch_state_dict()
        merged = {k: (sent[k] if k in self.frozen else v) for k, v in arrays.to_torch_state_dict().items()}
        return ArrayRecord(merged)

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        real = server_round + self.round_offset
        if real not in self.evaluation_rounds:
            return self.log.note_sent([])
        return self.log.note_sent(
            self._described_only(super().configure_evaluate(real, arrays, config, grid))
        )

    def _described_only(self, messages: Iterable[Message]) -> list[Message]:
        """Only hospitals that introduced themselves at the start (name, cohort size) take part;
        one that connects later joins the next run."""
        return [
            m for m in messages if m.metadata.dst_node_id in (self.log.taking_part or self.log.site_of_node)
        ]

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        """The hospitals' noisy score histograms, summed: the pooled validation metrics of the model.

        Flower's weighted mean would average the counts; a sum is the histogram of all the
        hospitals' validation patients, and everything derived from it is post-processing.
        """
        real = server_round + self.round_offset
        self._record(real, replies, self.log.evaluate, note_refusals=False)
        released = [
            m["val-histogram"] for m in self.log.evaluate.get(real, {}).values() if "val-histogram" in m
        ]
        if not released:
            return None
        pooled = histogram_metrics(pooled_histogram(released))
        return MetricRecord({f"val-{k}": float(v) for k, v in pooled.items() if v is not None})

    def _record(
        self, real_round: int, replies: Iterable[Message], sink: dict, *, note_refusals: bool
    ) -> list[Message]:
        """Note each reply by site; return them sorted by site, so sums run in a fixed order."""
        replies = sorted(replies, key=self.log.site)
        for msg in replies:
            site = self.log.site(msg)
            if msg.has_error():
                if note_refusals:
                    self.log.refused.setdefault(real_round, {})[site] = (
                        msg.error.reason or f"error {msg.error.code}"
                    )
            else:
                metrics = next(iter(msg.content.metric_records.values()))
                sink.setdefault(real_round, {})[site] = {
                    k: [float(x) for x in v] if isinstance(v, list) else float(v) for k, v in metrics.items()
                }
        return replies


def evaluation_rounds(rounds: int, evaluations: int) -> frozenset[int]:
    """The rounds after which hospitals evaluate: `evaluations` of them, evenly spaced, the last
    one after the final round (the model the run delivers)."""
    if evaluations <= 0:
        return frozenset()
    return frozenset(round(rounds * k / evaluations) for k in range(1, evaluations + 1))


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


def make_strategy(
    settings: RunSettings, log: RoundLog, *, round_offset: int = 0, frozen: frozenset[str] = frozenset()
) -> FedAvg:
    """The strategy the settings ask for, with tracking mixed in."""
    common = dict(
        fraction_train=settings.fraction_train,
        fraction_evaluate=1.0,
        min_train_nodes=min(settings.min_nodes, len(log.site_of_node)),
        min_evaluate_nodes=min(settings.min_nodes, len(log.site_of_node)),
        min_available_nodes=settings.min_nodes,
        train_metrics_aggr_fn=max_epsilon_metrics,
    )
    base, extra = _flower_strategy(settings, _per_round(settings, len(log.site_of_node)))
    cls = type(f"Tracked{base.__name__}", (Tracking, base), {})
    strategy = cls(**common, **extra)
    strategy.round_offset, strategy.seed, strategy.log, strategy.frozen = (
        round_offset,
        settings.seed,
        log,
        frozen,
    )
    strategy.screen = UpdateScreen(LocalTraining.from_settings(settings), log.declared_sizes, frozen)
    return strategy


def _flower_strategy(settings: RunSettings, per_round: int) -> tuple[type[FedAvg], dict]:
    """Flower's strategy class for `settings.strategy` and its own arguments."""
    if settings.strategy == "fedprox":
        return FedProx, {"proximal_mu": settings.proximal_mu}
    if settings.strategy == "fedadam":
        return FedAdam, {"eta": settings.server_lr, "eta_l": settings.lr}
    if settings.strategy == "fedmedian":
        return FedMedian, {}
    if settings.strategy == "fedtrimmedavg":
        if int(settings.trim_beta * per_round) == 0:
            logger.warning(
                "fedtrimmedavg with trim-beta %g and %d hospitals per round trims nothing: it is an unweighted "
                "mean; raise trim-beta to %.2f or more to cut one hospital at each end",
                settings.trim_beta,
                per_round,
                math.ceil(100 / max(per_round, 1)) / 100,
            )
        return FedTrimmedAvg, {"beta": settings.trim_beta}
    if settings.strategy in ("krum", "multikrum"):
        if per_round < 2 * settings.malicious_nodes + 3:
            logger.warning(
                "%s tolerates %d malicious hospitals only with at least %d per round, not %d",
                settings.strategy,
                settings.malicious_nodes,
                2 * settings.malicious_nodes + 3,
                per_round,
            )
        if settings.strategy == "krum":
            return Krum, {"num_malicious_nodes": settings.malicious_nodes}
        # Multi-Krum's usual choice (El Mhamdi et al. 2018): average the n - f best-scored updates
        return MultiKrum, {
            "num_malicious_nodes": settings.malicious_nodes,
            "num_nodes_to_select": max(1, per_round - settings.malicious_nodes),
        }
    return FedAvg, {}


def _per_round(settings: RunSettings, hospitals: int) -> int:
    """How many hospitals Flower samples per round (FedAvg.configure_train's rule)."""
    return min(hospitals, max(int(hospitals * settings.fraction_train), min(settings.min_nodes, hospitals)))
