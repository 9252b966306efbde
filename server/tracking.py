"""`Tracked`: a Flower strategy wrapped with what a clinical run needs on top of its aggregation.

Built the way Flower's own `DifferentialPrivacyServerSideFixedClipping` is: the wrapper holds
the inner strategy (FedAvg, FedProx, FedAdam, FedMedian, FedTrimmedAvg, Krum, MultiKrum) and
delegates every hook to it, adding around each call:

- which hospital each reply came from (for the per-hospital table and epsilon), who refused, and
  who sent no reply within the exchange's timeout (`round-timeout`: the round goes on without it);
- the coordinator's checks of every update before any of it is aggregated
  (`genofed.server.integrity`: finite, example count capped at the declared cohort, update norm
  within what DP-SGD with the agreed settings can produce);
- a deterministic aggregation order and node sample (a resumed run must reproduce an
  uninterrupted one bit for bit);
- a round offset, because `Strategy.start` always counts from round 1 and a resumed run
  continues from its checkpoint's round;
- parameters no hospital trains (fine-tuning) kept bit-identical;
- the hospitals' evaluations: asked only after the planned rounds, their noisy score
  histograms summed.

The inner strategy's state (FedAdam's moments, FedAvgM's momentum, any attribute a strategy
changes as it runs), which a checkpoint keeps for a resumed run, goes in and out through `state()`
and `load_state()`.
"""

from __future__ import annotations

import logging
import math
import pickle
import random
from collections.abc import Iterable
from typing import Any

from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

from genofed.common.errors import GenofedError
from genofed.common.privacy.release import histogram_metrics, pooled_histogram
from genofed.server.integrity import SentModel, UpdateScreen, refusal
from genofed.server.round_log import RoundLog, error_reason, no_reply
from genofed.server.settings import DEFAULT_ROUND_TIMEOUT
from genofed.server.sites import enrolled_names

logger = logging.getLogger(__name__)

#: An attribute's value as `state()` compares it: its pickle (None for a value that has none, e.g.
#: a lambda) and the object itself, for an identity test when there is no pickle.
_Snapshot = tuple[bytes | None, object]


def _snapshot(value: object) -> _Snapshot:
    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), value
    except Exception:  # noqa: BLE001 - any object may refuse pickling; compared by identity then
        return None, value


def _unchanged(built: _Snapshot, data: bytes | None, value: object) -> bool:
    """Whether `value` (pickled: `data`) is still the attribute's value `built`."""
    return data == built[0] if data is not None else value is built[1]


class UnsavedStrategyState(GenofedError):
    """An inner strategy changed an attribute to a value a checkpoint cannot hold (no pickle)."""


class Tracked(Strategy):
    """A Flower strategy with genofed's round bookkeeping and update screening around it.

    Parameters
    ----------
    strategy:
        The Flower strategy that configures rounds and aggregates (it never sees a reply the
        screen refused).
    log:
        The run's round log, written as replies come in.
    round_offset:
        The round the run starts from (a resumed run's checkpoint round): Flower's round r is
        the run's round r + round_offset, in the log, the train config and the node sample.
    seed:
        The run's seed; each round's node sample is drawn with `random` seeded by it and the
        round, so a resumed run samples as the uninterrupted one did.
    frozen:
        Parameters no hospital trains (fine-tuning with a frozen encoder): kept bit-identical
        rather than re-averaged, since a weighted mean of equal arrays can move them by a
        rounding.
    screen:
        The coordinator's checks of each train reply (None: none, e.g. a bare strategy in a test).
    evaluation_rounds:
        The (real) rounds after which hospitals evaluate the global model: each evaluation is a
        DP release from their budgets, so only the planned ones are asked for.
    round_timeout:
        The seconds each exchange waits for replies (`RunSettings.round_timeout`, what the run
        passes to `Strategy.start`): named in the reason of a hospital that did not answer in time.
    """

    def __init__(
        self,
        strategy: Strategy,
        log: RoundLog,
        *,
        round_offset: int = 0,
        seed: int = 0,
        frozen: frozenset[str] = frozenset(),
        screen: UpdateScreen | None = None,
        evaluation_rounds: frozenset[int] = frozenset(),
        round_timeout: float = DEFAULT_ROUND_TIMEOUT,
    ) -> None:
        super().__init__()
        self.strategy = strategy
        self.log = log
        self.round_offset = round_offset
        self.seed = seed
        self.frozen = frozen
        self.screen = screen
        self.evaluation_rounds = evaluation_rounds
        self.round_timeout = round_timeout
        self._sent: ArrayRecord | None = None
        # the strategy as built from the run's settings: `state()` keeps whatever differs from it
        self._built = {name: _snapshot(value) for name, value in vars(strategy).items()}

    def __repr__(self) -> str:
        return f"Tracked({self.strategy.__class__.__name__})"

    # --- the server optimiser's state, for checkpoints ----------------------------------------

    def state(self) -> dict[str, Any]:
        """Every attribute of the inner strategy that differs from the strategy as it was built: what
        a resumed run, which builds the same strategy from the same settings, must put back.

        Why all of them, found by comparison, and not a list of names: a checkpoint once kept only
        FedAdam's moments (`m_t`, `v_t`), so any other strategy's state (Flower's FedAvgM's
        `momentum_vector`, an ML engineer's FedAvg with server momentum and its `velocity`) was
        dropped at every checkpoint, and its resumed run silently diverged from the uninterrupted
        one (an ML engineer's walkthrough). A list a strategy must keep up to date fails the same
        way when forgotten; a comparison with the freshly built strategy cannot miss an attribute,
        added or changed, rebound or changed in place (the pickles are compared, not the objects).
        FedAvg and the robust strategies change nothing, so their state stays {}.

        An attribute changed to a value with no pickle (a lambda, a lock) cannot be checkpointed:
        UnsavedStrategyState, naming it, rather than a resumed run without it.
        """
        changed: dict[str, Any] = {}
        for name, value in vars(self.strategy).items():
            data, _ = _snapshot(value)
            if name in self._built and _unchanged(self._built[name], data, value):
                continue
            if data is None:
                raise UnsavedStrategyState(
                    f"{type(self.strategy).__name__}.{name} changed during the run to a value that cannot be "
                    "pickled, so a checkpoint cannot keep it and a resumed run would go on without it: keep "
                    "the strategy's state in arrays, numbers or containers of them "
                    "(genofed.server.tracking, Tracked.state)"
                )
            changed[name] = value
        return changed

    def load_state(self, state: dict[str, Any]) -> None:
        """Put back what `state()` returned, as a checkpoint kept it (a checkpoint written before
        `state()` kept every changed attribute holds FedAdam's `m_t` and `v_t` only: FedAdam
        recomputes the rest, its `current_arrays`, from the model each round)."""
        for key, value in state.items():
            setattr(self.strategy, key, value)

    # --- Flower's hooks -----------------------------------------------------------------------

    def summary(self) -> None:
        self.strategy.summary()

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        real = server_round + self.round_offset
        random.seed(f"{self.seed}:{real}")  # Flower samples nodes with `random`: same seed, same sample
        self._sent = arrays
        # a hospital taking part that is not connected now is sent nothing: on record as left out
        self.log.note_not_connected(real, grid.get_node_ids(), enrolled_names(grid))
        messages = self.strategy.configure_train(real, arrays, config, grid)
        return self.log.note_sent(self._described_only(messages))

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        real = server_round + self.round_offset
        replies = list(replies)
        self._note_unanswered(real, replies, training=True)
        replies = self._record(real, self._screened(real, replies), self.log.train, note_refusals=True)
        arrays, metrics = self.strategy.aggregate_train(real, replies)
        return self._in_sent_types(self._keep_frozen(arrays)), metrics

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        real = server_round + self.round_offset
        if real not in self.evaluation_rounds or not any(self.log.train.values()):
            # no hospital has trained in the run: the model is the one it started from, and the
            # hospitals would spend privacy evaluating a model that the run will not deliver
            return self.log.note_sent([])
        messages = self.strategy.configure_evaluate(real, arrays, config, grid)
        return self.log.note_sent(self._described_only(messages))

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        """The hospitals' noisy score histograms, summed: the pooled validation metrics of the model.

        Flower's weighted mean would average the counts; a sum is the histogram of all the
        hospitals' validation patients, and everything derived from it is post-processing.
        """
        real = server_round + self.round_offset
        replies = list(replies)
        self._note_unanswered(real, replies, training=False)
        self._record(real, replies, self.log.evaluate, note_refusals=False)
        released = [
            m["val-histogram"] for m in self.log.evaluate.get(real, {}).values() if "val-histogram" in m
        ]
        if not released:
            return None
        pooled = histogram_metrics(pooled_histogram(released))
        return MetricRecord({f"val-{k}": float(v) for k, v in pooled.items() if v is not None})

    # --- around the hooks ---------------------------------------------------------------------

    def _described_only(self, messages: Iterable[Message]) -> list[Message]:
        """Only hospitals that introduced themselves at the start (name, cohort size) take part;
        one that connects later joins the next run."""
        taking_part = self.log.participants()
        return [m for m in messages if m.metadata.dst_node_id in taking_part]

    def _note_unanswered(self, real_round: int, replies: list[Message], *, training: bool) -> None:
        """Name the hospitals that got this exchange's message and did not answer in time: in the
        coordinator's log, and for a training round in the round log, as refusing it (the progress
        line, results.json's refusals and the report show it). The round goes on with `replies`."""
        missing = [self.log.site_of_node.get(node, f"node-{node}") for node in self.log.unanswered(replies)]
        if not missing:
            return
        if training:
            for site in missing:
                self.log.refused.setdefault(real_round, {})[site] = no_reply(self.round_timeout)
        logger.warning(
            "round %d %s: no reply from %s within %g s (round-timeout); going on with the %d that answered",
            real_round,
            "training" if training else "evaluation",
            ", ".join(missing),
            self.round_timeout,
            len(replies),
        )

    def _screened(self, real_round: int, replies: Iterable[Message]) -> list[Message]:
        """Every reply that fails the coordinator's checks becomes a refusal of its site, with the
        reason; an inflated example count is capped in place. See genofed.server.integrity."""
        replies = list(replies)
        if self.screen is None or self._sent is None:
            return replies
        sent = SentModel.of(self._sent)
        return [msg if msg.has_error() else self._screen_one(real_round, msg, sent) for msg in replies]

    def _screen_one(self, real_round: int, msg: Message, sent: SentModel) -> Message:
        assert self.screen is not None
        site, node = self.log.site(msg), self.log.node(msg)
        verdict = self.screen.screen(msg, node, sent)
        if verdict.norm is not None:
            bound = {} if verdict.bound is None else {"bound": verdict.bound}
            self.log.update_norms.setdefault(real_round, {})[site] = {"norm": verdict.norm, **bound}
        if verdict.capped_from is not None:
            self._note_capped(real_round, site, node, verdict.capped_from)
        if verdict.noisier is not None:
            self._note_weight(real_round, site, verdict.noisier)
        if verdict.refusal is None:
            return msg
        logger.warning("round %d, %s: %s", real_round, site, verdict.refusal)
        reported = next(iter(msg.content.metric_records.values()), {}).get("epsilon")
        if isinstance(reported, (int, float)) and not math.isnan(reported):
            self.log.refused_epsilon.setdefault(real_round, {})[site] = float(reported)
        return refusal(msg, verdict.refusal)

    def _note_capped(self, real_round: int, site: str, node: int, claimed: float) -> None:
        declared = self.log.declared_sizes[node]["train"]
        note = (
            f"claimed {claimed:g} training examples, declared {declared} at the start: weighted as {declared}"
        )
        self._note_weight(real_round, site, note)

    def _note_weight(self, real_round: int, site: str, note: str) -> None:
        """Keep why a site's FedAvg weight was lowered this round (both reasons, when both apply)."""
        notes = self.log.capped.setdefault(real_round, {})
        notes[site] = f"{notes[site]}; {note}" if site in notes else note
        logger.warning("round %d, %s: %s", real_round, site, note)

    def _keep_frozen(self, arrays: ArrayRecord | None) -> ArrayRecord | None:
        if arrays is None or not self.frozen or self._sent is None:
            return arrays
        sent = self._sent.to_torch_state_dict()
        merged = {k: (sent[k] if k in self.frozen else v) for k, v in arrays.to_torch_state_dict().items()}
        return ArrayRecord(merged)

    def _in_sent_types(self, arrays: ArrayRecord | None) -> ArrayRecord | None:
        """The aggregate in the number types of the model sent (float32): Flower's FedAdam returns
        float64 arrays, and a hospital refuses a model whose arrays are of another type than its
        own model's (an int64 scale passed its checks once), so every round after the first was
        refused by every hospital while the run reported success (an ML engineer's walkthrough)."""
        if arrays is None or self._sent is None:
            return arrays
        types = {key: self._sent[key].numpy().dtype for key in self._sent.keys()}
        if all(arrays[key].numpy().dtype == types.get(key) for key in arrays.keys()):
            return arrays
        return ArrayRecord(
            {key: Array(a.numpy().astype(types.get(key, a.numpy().dtype))) for key, a in arrays.items()}
        )

    def _record(
        self, real_round: int, replies: Iterable[Message], sink: dict, *, note_refusals: bool
    ) -> list[Message]:
        """Note each reply by site; return them sorted by site, so sums run in a fixed order."""
        replies = sorted(replies, key=self.log.site)
        for msg in replies:
            site = self.log.site(msg)
            if not msg.has_error():
                metrics = next(iter(msg.content.metric_records.values()))
                sink.setdefault(real_round, {})[site] = {
                    k: [float(x) for x in v] if isinstance(v, list) else float(v) for k, v in metrics.items()
                }
                if note_refusals:
                    self.log.note_trained(site)
            elif note_refusals:
                reason = error_reason(msg.error.code, msg.error.reason)
                self.log.refused.setdefault(real_round, {})[site] = reason
                self.log.note_training_error(site, msg.error.code, reason)
        return replies
