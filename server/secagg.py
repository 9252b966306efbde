"""Secure aggregation (SecAgg+) rounds: the coordinator learns the hospitals' weighted sum only.

Why this module exists: in a plain round the coordinator receives every hospital's updated
weights, and one hospital's update says more about its patients than the average of several.
Under `secagg=true` the rounds run on Flower's own SecAgg+ (`SecAggPlusWorkflow` on the
coordinator, `secaggplus_mod` at the hospitals), its masks drawn from a stream cipher keyed by the
whole seed on both ends (`common.privacy.secagg_masks`: Flower's keep 32 bits of each seed); nothing
else here does cryptography. SecAgg+ exists
only on Flower's legacy stack, so this module drives the rounds through a `LegacyContext`, a
legacy `FedAvg` and `DefaultWorkflow(fit_workflow=<SecAgg+ round>)` instead of `Strategy.start`,
while reusing what `run_federation` does around the rounds: the same train config, the same
per-site bookkeeping (`RoundLog`), the same Message-API evaluation round, and its `evaluate`
callback (central evaluation and a checkpoint after every round).

Protocol parameters (chosen for federations of 3-8 hospitals, all sampled every round):
- num_shares = every sampled hospital (a full graph: SecAgg+ degenerates to SecAgg, which costs
  nothing extra at this size and gives the strongest guarantee);
- reconstruction_threshold t = floor(n / 2) + 1, a strict majority: an honest hospital reveals,
  for each peer, either the share of its private mask or of its key, never both, so a
  coordinator that lies about who dropped out still cannot collect t shares of both kinds for
  one hospital. The round survives n - t dropouts (n=3: 1, 4: 1, 5: 2, 6: 2, 7: 3, 8: 3); with
  fewer than t hospitals left it halts, the global model stays as it was, and the round is
  logged with every sampled hospital refused ("secure aggregation halted").
- max_weight = the largest training cohort: each update is scaled by num_examples / max_weight
  <= 1 before quantization, so it never leaves the clipping range because of its weight.
- clipping_range = 8.0 (Flower's default) and quantization_range = 2**22: a step of
  16 / 2**22 = 3.8e-6 per hospital (stochastic rounding), far below DP-SGD's noise; trained
  weights of our model stay well inside +-8 (see bench/secagg.py for the measured error), and a
  hospital whose update leaves the range refuses rather than have it clipped silently. A run
  that starts from a pretrained model's weights (a source prior: a logistic source's weights
  divided by the column scale reach 10 and more on rare variants) gets a wider range from those
  public start weights (`clipping_range_for`); the step stays below 1e-4.
- modulus_range = 2**32: n * 2**22 < 2**32 for n up to 1,023, so the masked sums cannot wrap.
- timeout = the run's `round-timeout`, for each of the four stages (and the evaluation round): a
  hospital that has not answered a stage by then counts as dropped out, as one that failed does,
  is named in the round log ("no reply within ... (round-timeout)"), and is sent nothing more in
  that round; its late reply is never pulled (each stage pulls the replies to its own messages).

Distributed DP (train config `privacy: distributed`, docs/distributed-dp.md): each round's train
config also carries `noise-share-sites`, m = the round's reconstruction threshold (the fewest
hospitals whose sum SecAgg+ unmasks, so dropouts the round survives keep the guarantee), and
`noise-share-rate`, the Poisson rate q every hospital samples its batches at: one batch of
`batch-size` from the largest declared cohort, 1 / ceil(max_weight / batch-size). A common q
(and so a common number of batches) is what lets the m noise shares add up for every hospital.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.common import (
    FitRes,
    Parameters,
    Scalar,
    bytes_to_ndarray,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key, Stage
from flwr.server import ServerConfig
from flwr.server.client_manager import ClientManager
from flwr.server.client_proxy import ClientProxy
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.strategy import FedAvg as LegacyFedAvg
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
from flwr.server.workflow.constant import Key as WorkflowKey
from flwr.server.workflow.secure_aggregation import secaggplus_workflow
from flwr.server.workflow.secure_aggregation.secaggplus_workflow import WorkflowState
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedProx

from genofed.common.privacy.accountant import sample_rate
from genofed.common.privacy.distributed_bound import distributed_floor, momentum_travel, reply_bound
from genofed.common.privacy.secagg_masks import install as install_mask_stream
from genofed.server.round_log import RoundLog, RunEndsEarly, error_reason, no_reply
from genofed.server.settings import DEFAULT_ROUND_TIMEOUT
from genofed.server.sites import enrolled_names
from genofed.server.tracking import Tracked

logger = logging.getLogger(__name__)

CLIPPING_RANGE = 8.0
QUANTIZATION_RANGE = 2**22
MODULUS_RANGE = 2**32

#: Called with (real round, node id, stage, reply) for every reply the coordinator receives in a
#: SecAgg+ round: what the coordinator can see, for tests and audits (e.g. that a masked vector
#: is not the hospital's update).
ReplyTap = Callable[[int, int, str, Message], None]
REPLY_TAPS: list[ReplyTap] = []


def threshold_for(n_sampled: int) -> int:
    """A strict majority of the sampled hospitals, at least 2 (Flower's minimum)."""
    return max(2, n_sampled // 2 + 1)


def secagg_needed(taking_part: int, fraction_train: float) -> int:
    """The fewest hospitals of the run's `taking_part` that must complete a SecAgg+ round for its
    sum to be unmasked: the threshold of a round that samples them all, or Flower's minimum of 2
    when a round samples only some (`fraction_train` < 1: a smaller sample has a lower threshold)."""
    return threshold_for(taking_part) if fraction_train >= 1 else 2


def noise_share_config(
    train_config: ConfigRecord | dict, n_sampled: int, max_weight: float
) -> dict[str, Scalar]:
    """The keys a distributed-DP round adds to its train config (see the module doc); none for a
    local-DP round, whose config stays as it was."""
    if train_config.get("privacy") != "distributed":
        return {}
    batch_size = max(1, int(cast(int, train_config.get("batch-size", 1))))
    return {
        "noise-share-sites": threshold_for(n_sampled),
        "noise-share-rate": sample_rate(max(1, int(max_weight)), batch_size),
    }


class DropoutSafeSecAggPlus(SecAggPlusWorkflow):
    """Flower's SecAgg+ workflow with one fix for a hospital lost during the share-keys stage.

    Such a hospital never handed out shares of its key, and the survivors never masked with it.
    Flower 1.41 still counts it among the dropped hospitals whose masks must be removed (it
    keeps the set sampled after the setup stage), asks the survivors for its key shares, and
    they fail with a KeyError: the whole round halts. Per the SecAgg+ protocol, the hospitals
    whose masks are removed are those that sent their shares and then dropped; so after the
    share-keys stage the sampled set becomes the hospitals that answered it.
    """

    def share_keys_stage(self, grid: Grid, context: LegacyContext, state: WorkflowState) -> bool:
        enough = super().share_keys_stage(grid, context, state)
        state.sampled_node_ids = set(state.active_node_ids)
        return enough

    def unmask_stage(self, grid: Grid, context: LegacyContext, state: WorkflowState) -> bool:
        """Flower's unmask stage, with a check of the unmasked total weight before it divides by it.

        The weight is element 0 of every masked vector, so a hospital that does not run
        `secaggplus_mod` as shipped can add any integer to it: a total of 0 gives an -inf/NaN
        model, a total of 1 one scaled by 2**22, anything else a factor of its choosing. The
        surviving hospitals' `num_examples` travel in the clear, so the expected total is known:
        when the unmasked one differs, the strategy is told to skip the round (`weight_refusal`).
        """
        original = secaggplus_workflow.factor_extract
        strategy = context.strategy

        def checked(parameters: list[np.ndarray]) -> tuple[int, list[np.ndarray]]:
            factor, rest = original(parameters)
            refusal = weight_refusal(factor, state.legacy_results, self.max_weight, self.quantization_range)
            if refusal and isinstance(strategy, SecAggFedAvg):
                strategy.refusal = refusal
            return factor, rest

        secaggplus_workflow.factor_extract = checked  # type: ignore[assignment]
        try:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                return super().unmask_stage(grid, context, state)
        finally:
            secaggplus_workflow.factor_extract = original


def expected_total_weight(
    results: Sequence[tuple[ClientProxy, FitRes]], max_weight: float, quantization_range: int
) -> int:
    """The unmasked total weight honest hospitals give: the sum of each one's quantised ratio
    `round(num_examples / max_weight * quantization_range)` (secaggplus_mod), not reduced modulo."""
    return sum(round(fitres.num_examples / max_weight * quantization_range) for _, fitres in results)


def weight_refusal(
    factor: Any,
    results: Sequence[tuple[ClientProxy, FitRes]],
    max_weight: float,
    quantization_range: int,
) -> str | None:
    """Why the unmasked total weight `factor` is refused (None when it is what the surviving
    hospitals' public `num_examples` imply)."""
    expected = expected_total_weight(results, max_weight, quantization_range)
    try:
        got = int(factor)
    except (TypeError, ValueError, OverflowError):
        got = None
    if got is not None and got == expected and got > 0:
        return None
    return (
        f"secure aggregation: total weight mismatch (unmasked {factor}, the hospitals' num_examples "
        f"imply {expected}), so no update was used"
    )


def clipping_range_for(state: dict[str, torch.Tensor]) -> float:
    """SecAgg+'s clipping range for a run that starts from `state` (public: the coordinator's start
    model). Flower's default 8 while every start weight lies within +-4: runs from scratch or from
    a network's initialisation, whose trained weights stay well inside +-8 (bench/secagg.py).
    Otherwise the next power of two at or above twice the largest start weight, the same headroom."""
    largest = max((float(t.abs().max()) for t in state.values() if t.numel()), default=0.0)
    if largest <= CLIPPING_RANGE / 2:
        return CLIPPING_RANGE
    return float(2 ** math.ceil(math.log2(2 * largest)))


def distributed_clipping_range(
    base: float,
    weights: ArrayRecord,
    train_config: ConfigRecord | dict,
    noise_share: dict[str, Scalar],
    smallest: int,
) -> float:
    """SecAgg+'s clipping range for a distributed-DP round: `base` (`clipping_range_for` the start)
    or, where larger, the next power of two at or above twice the reply bound of the smallest
    declared hospital (`common.privacy.distributed_bound.reply_bound`, from public values: the
    round's global weights, lr, C, q, T, the step and the noise share of a hospital at the run's
    floor, sigma / sqrt(m) for a fresh hospital at the run's epsilon).

    Why: each hospital refuses a range below its own bound (a decision on public values: refused
    on its reply's values, the refusal leaked a bit of a reply carrying only its noise share), and
    the bound of a small hospital under the network's "sum" step passes Flower's default 8 (lr 0.05
    x k 87 x the draws' tail, counted from `rows_ceiling`'s 74 rows for 32 declared: about 24).
    Twice the bound leaves room for a hospital whose own plan needs a larger share; one that needs
    far more refuses in words that name its bound. A range of 64 quantizes a weight in steps of
    3e-5, still far below the noise."""
    config = dict(train_config)
    q = float(noise_share["noise-share-rate"])
    sites = int(noise_share["noise-share-sites"])
    steps = int(config.get("local-epochs", 1)) * round(1.0 / q)
    momentum = float(config.get("momentum", 0.9))
    travel = momentum_travel(steps, momentum) if config.get("distributed-step") == "sum" else 1.0
    epsilon, delta = float(config.get("epsilon", math.inf)), float(config.get("delta", 1e-5))
    rounds = int(config.get("num-rounds", 1))
    floor = distributed_floor(epsilon, q, rounds * steps, delta)
    start = max((float(np.abs(a.numpy()).max(initial=0.0)) for a in weights.values()), default=0.0)
    bound = reply_bound(
        start=start,
        lr=float(config.get("lr", 0.0)),
        clip=float(config.get("clip", 1.0)),
        noise_share=floor / math.sqrt(max(sites, 1)),
        weight_rows=max(smallest, 1),
        sample_rate=q,
        steps=steps,
        travel=travel,
    )
    if 2 * bound <= base:
        return base
    return float(2 ** math.ceil(math.log2(2 * bound)))


def make_secagg_workflow(
    n_sampled: int,
    max_weight: float,
    timeout: float = DEFAULT_ROUND_TIMEOUT,
    clipping_range: float = CLIPPING_RANGE,
) -> SecAggPlusWorkflow:
    """Flower's SecAgg+ workflow for one round with `n_sampled` hospitals (see the module doc), its
    masks drawn from `common.privacy.secagg_masks` as the hospitals draw theirs."""
    install_mask_stream()
    return DropoutSafeSecAggPlus(
        num_shares=1.0,  # a float is a share of the sampled nodes: 1.0 = all of them
        reconstruction_threshold=threshold_for(n_sampled),
        max_weight=float(max_weight),
        clipping_range=clipping_range,
        quantization_range=QUANTIZATION_RANGE,
        modulus_range=MODULUS_RANGE,
        timeout=timeout,
    )


def to_parameters(state: dict[str, torch.Tensor]) -> Parameters:
    """Legacy Parameters: the state dict's arrays in the model's own order (names are implicit)."""
    return ndarrays_to_parameters([t.detach().cpu().numpy() for t in state.values()])


def from_parameters(parameters: Parameters, like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Names, order and dtypes back from `like`: SecAgg+ dequantizes to float64, the model is float32."""
    arrays = parameters_to_ndarrays(parameters)
    if len(arrays) != len(like):
        raise ValueError(f"the aggregate has {len(arrays)} arrays, the model {len(like)}")
    return {
        k: torch.from_numpy(np.asarray(a)).to(v.dtype).reshape(v.shape)
        for (k, v), a in zip(like.items(), arrays, strict=True)
    }


def reply_bytes(msg: Message) -> int:
    """Bytes of a reply's records (arrays, configs, metrics): what a hospital uploads."""
    if not msg.has_content():
        return 0
    return sum(record.count_bytes() for record in msg.content.values())


@dataclass
class SecAggStats:
    """What the SecAgg+ rounds cost: upload per hospital and round, over all four stages."""

    bytes_up: dict[int, dict[int, int]] = field(default_factory=dict)  # round -> node -> bytes
    halted: list[int] = field(default_factory=list)  # rounds with no update used (too few left, refused sum)

    def bytes_per_client_round(self) -> int:
        totals = [b for nodes in self.bytes_up.values() for b in nodes.values()]
        return int(sum(totals) / len(totals)) if totals else 0


class ObservedGrid:
    """The coordinator's grid with a note of every reply: which hospital failed, refused or did
    not answer in time in which stage (Flower's workflow keeps failures without their node ids
    and drops a hospital that did not answer without a word), and upload sizes."""

    def __init__(self, grid: Grid, stats: SecAggStats, log: RoundLog) -> None:
        self._grid, self.stats, self.log = grid, stats, log
        self.round = 0
        self.errors: dict[int, str] = {}  # node -> first error of the current round
        #: node -> the metrics its masked update came with in the current round (its epsilon after
        #: it): a hospital that sent one has spent the round's privacy, whether or not the sum is
        #: unmasked (`_note_refusals` keeps them for a round that halted)
        self.masked: dict[int, dict[str, float]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._grid, name)

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        messages = list(messages)
        stages = {m.metadata.dst_node_id: _stage(m) for m in messages}
        # Flower numbers the workflow's rounds from 1 after a resume: use the run's real round
        for m in messages:
            if stages[m.metadata.dst_node_id] and self.round:
                m.metadata.group_id = str(self.round)
        self.log.note_sent(messages)
        replies = list(self._grid.send_and_receive(messages, timeout=timeout))
        for node in self.log.unanswered(replies):  # dropped out: named here, as a failure is
            stage = stages.get(node, "")
            reason = no_reply(timeout, f" to the SecAgg+ {stage} stage" if stage else "")
            self.errors.setdefault(node, reason)
            site = self.log.site_of_node.get(node, f"node-{node}")
            logger.warning("round %s, %s: %s; it counts as dropped out", self.round, site, reason)
        for reply in replies:  # a "node unavailable" reply comes from the SuperLink: name the node it was for
            node = self.log.node(reply)
            stage = stages.get(node, "")
            if reply.has_error():
                reason = error_reason(reply.error.code, reply.error.reason)
                self.errors.setdefault(node, reason)
                site = self.log.site_of_node.get(node, f"node-{node}")
                self.log.note_training_error(site, reply.error.code, reason)
            elif stage:
                sizes = self.stats.bytes_up.setdefault(self.round, {})
                sizes[node] = sizes.get(node, 0) + reply_bytes(reply)
                if stage == Stage.COLLECT_MASKED_VECTORS:
                    self.masked[node] = _plain_metrics(reply)
            if stage:
                for tap in REPLY_TAPS:
                    tap(self.round, node, stage, reply)
        return replies


def _plain_metrics(reply: Message) -> dict[str, float]:
    """The metrics a masked-update reply carries in the clear (Flower's `secaggplus_mod` masks the
    arrays only), read as Flower's workflow reads them (`recorddict_to_fitres`): the hospital's
    cumulative epsilon among them."""
    import flwr.compat.common.recorddict_compat as compat

    try:
        metrics = compat.recorddict_to_fitres(reply.content, True).metrics
    except (KeyError, TypeError, ValueError):  # not a FitRes's records: nothing said in the clear
        return {}
    return {
        key: float(value)
        for key, value in metrics.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def _stage(msg: Message) -> str:
    """The SecAgg+ stage a TRAIN message opens ("" for any other message)."""
    if msg.metadata.message_type != MessageType.TRAIN or not msg.has_content():
        return ""
    configs = msg.content.config_records.get(RECORD_KEY_CONFIGS)
    return str(configs.get(Key.STAGE, "")) if configs is not None else ""


class SecAggFedAvg(LegacyFedAvg):
    """Flower's legacy FedAvg, as SecAgg+ needs it, with genofed's round bookkeeping.

    SecAgg+ hands `aggregate_fit` every surviving hospital's FitRes with the *same* unmasked
    weighted average as parameters, so FedAvg's average of them is that average; the per-site
    metrics (num-examples, synthetic-examples, epsilon, noise-multiplier) travel in the clear, as in a
    plain round.
    """

    def __init__(
        self,
        *,
        initial: dict[str, torch.Tensor],
        train_config: ConfigRecord,
        log: RoundLog,
        round_offset: int,
        seed: int,
        frozen: frozenset[str],
        evaluate_fn: Callable[[int, ArrayRecord], Any],
        extra: dict[str, Scalar],
        **kwargs: Any,
    ) -> None:
        super().__init__(accept_failures=True, fit_metrics_aggregation_fn=lambda _: {}, **kwargs)
        self.like = initial
        self.sent = initial
        self.train_config, self.extra = train_config, extra
        self.log, self.round_offset, self.seed, self.frozen = log, round_offset, seed, frozen
        self.evaluate_fn = evaluate_fn
        self.aggregated = False
        #: Why the current round's aggregate is refused ("secure aggregation: ..."), None if it is not.
        self.refusal: str | None = None
        #: The current round's distributed-DP keys (`noise_share_config`), set before it is configured.
        self.noise_share: dict[str, Scalar] = {}

    def initialize_parameters(self, client_manager: ClientManager) -> Parameters | None:
        return to_parameters(self.like)

    def configure_fit(self, server_round: int, parameters: Parameters, client_manager: ClientManager):
        real = server_round + self.round_offset
        # the legacy client manager samples with `random`, as Flower's new one does
        random.seed(f"{self.seed}:{real}")
        self.sent = from_parameters(parameters, self.like)
        self.aggregated = False
        # the very config a plain round sends, so a hospital's `_train` sees the same keys and values
        self.on_fit_config_fn = partial(self.fit_config, real)
        # only hospitals that introduced themselves at the start (a late one joins the next run)
        taking_part = self.log.participants()
        return [
            (proxy, ins)
            for proxy, ins in super().configure_fit(server_round, parameters, client_manager)
            if proxy.node_id in taking_part
        ]

    def fit_config(self, real: int, _server_round: int) -> dict[str, Scalar]:
        """Round `real`'s train config: the plain round's, plus the strategy's extra keys."""
        return {**dict(self.train_config), **self.extra, **self.noise_share, "server-round": real}

    def aggregate_fit(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, FitRes]],
        failures: list[tuple[ClientProxy, FitRes] | BaseException],
    ) -> tuple[Parameters | None, dict[str, Scalar]]:
        real = server_round + self.round_offset
        results = sorted(results, key=lambda r: self.log.site_of_node.get(r[0].node_id, str(r[0].node_id)))
        for proxy, fitres in results:
            site = self.log.site_of_node.get(proxy.node_id, f"node-{proxy.node_id}")
            self.log.train.setdefault(real, {})[site] = {
                k: float(cast(float, v)) for k, v in fitres.metrics.items()
            }
            self.log.note_trained(site)
        if self.refusal:  # the unmasked total weight is not the hospitals' (DropoutSafeSecAggPlus)
            return None, {}
        with np.errstate(over="ignore", invalid="ignore"):
            parameters, _metrics = super().aggregate_fit(server_round, results, failures)
        if parameters is None:
            return None, {}
        merged = from_parameters(parameters, self.like)
        merged = {k: (self.sent[k] if k in self.frozen else v) for k, v in merged.items()}
        bad = [k for k, v in merged.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
        if bad:
            self.refusal = (
                f"secure aggregation: non-finite aggregate (NaN or inf in {bad[0]}), so no update was used"
            )
            return None, {}
        self.aggregated = True
        return to_parameters(merged), {}

    def evaluate(self, server_round: int, parameters: Parameters) -> tuple[float, dict[str, Scalar]] | None:
        self.evaluate_fn(server_round, ArrayRecord(from_parameters(parameters, self.like)))
        return None  # central metrics live in run_federation's history, not Flower's


def run_secagg_rounds(
    grid: Grid,
    *,
    state: dict[str, torch.Tensor],
    num_rounds: int,
    round_offset: int,
    seed: int,
    train_config: ConfigRecord,
    evaluate_config: ConfigRecord,
    evaluate_fn: Callable[[int, ArrayRecord], Any],
    tracked: Tracked,
    max_weight: int,
    min_nodes: int,
    fraction_train: float,
    timeout: float = DEFAULT_ROUND_TIMEOUT,
) -> SecAggStats:
    """Run `num_rounds` SecAgg+ rounds (numbered from `round_offset + 1`) on Flower's legacy
    DefaultWorkflow; `tracked` is the plain strategy, reused for the (unmasked, per-site)
    evaluation round so that the two paths log evaluation identically."""
    stats = SecAggStats()
    strategy = SecAggFedAvg(
        initial=state,
        train_config=train_config,
        log=tracked.log,
        round_offset=round_offset,
        seed=seed,
        frozen=tracked.frozen,
        evaluate_fn=evaluate_fn,
        extra=_strategy_extra(tracked),
        fraction_fit=fraction_train,
        fraction_evaluate=0.0,
        min_fit_clients=min(min_nodes, len(tracked.log.site_of_node)),
        min_available_clients=min_nodes,
        min_evaluate_clients=1,
    )
    fit_round = SecAggFitRound(
        ObservedGrid(grid, stats, tracked.log), strategy, max_weight, timeout, clipping_range_for(state)
    )
    evaluate_round = TrackedEvaluateRound(grid, tracked, state, evaluate_config, timeout)
    context = LegacyContext(
        Context(run_id=0, node_id=0, node_config={}, state=RecordDict(), run_config={}),
        config=ServerConfig(num_rounds=num_rounds),
        strategy=strategy,
    )
    workflow = DefaultWorkflow(fit_workflow=fit_round, evaluate_workflow=evaluate_round)
    try:
        workflow(fit_round.observed, context)  # type: ignore[arg-type]
    except RunEndsEarly:  # no later round can complete; the round end recorded why
        pass
    return stats


def _strategy_extra(tracked: Tracked) -> dict[str, Scalar]:
    """What the plain strategy adds to each round's train config: FedProx's proximal term (its
    aggregation is FedAvg's, so SecAgg+ runs it with the hospitals' proximal term)."""
    if isinstance(tracked.strategy, FedProx):
        return {"proximal-mu": float(tracked.strategy.proximal_mu)}
    return {}


@dataclass
class SecAggFitRound:
    """The DefaultWorkflow's fit step: one SecAgg+ round, then a note of who is not in its sum."""

    observed: ObservedGrid
    strategy: SecAggFedAvg
    max_weight: int
    timeout: float
    clipping_range: float = CLIPPING_RANGE

    def __call__(self, grid: Grid, context: Context) -> None:
        legacy = cast(LegacyContext, context)
        log, stats = self.observed.log, self.observed.stats
        real = _current_round(legacy) + self.strategy.round_offset
        self.observed.round, self.observed.errors, self.observed.masked = real, {}, {}
        # a hospital taking part that is not connected now is not sampled: on record as left out
        log.note_not_connected(real, grid.get_node_ids(), enrolled_names(grid))
        taking_part = len(log.participants())
        n_sampled = self.strategy.num_fit_clients(min(legacy.client_manager.num_available(), taking_part))[0]
        self.strategy.refusal = None
        self.strategy.noise_share = noise_share_config(self.strategy.train_config, n_sampled, self.max_weight)
        clipping_range = self.clipping_range
        if self.strategy.noise_share:  # distributed DP: a range the sites' public reply bound fits in
            weights = legacy.state.array_records[MAIN_PARAMS_RECORD]
            smallest = min((s.get("train", 0) for s in log.declared_sizes.values()), default=0)
            clipping_range = distributed_clipping_range(
                self.clipping_range, weights, self.strategy.train_config, self.strategy.noise_share, smallest
            )
        make_secagg_workflow(n_sampled, self.max_weight, self.timeout, clipping_range)(grid, legacy)
        _note_refusals(log, real, self.observed, self.strategy, n_sampled, stats)


@dataclass
class TrackedEvaluateRound:
    """The DefaultWorkflow's evaluate step: the plain strategy's (unmasked, per-site) evaluation
    round on the current global model, sent on the coordinator's own grid."""

    grid: Grid
    tracked: Tracked
    like: dict[str, torch.Tensor]
    evaluate_config: ConfigRecord
    timeout: float

    def __call__(self, _grid: Grid, context: Context) -> None:
        server_round = _current_round(cast(LegacyContext, context))
        arrays = ArrayRecord(from_parameters(_current_parameters(context), self.like))
        config = ConfigRecord(dict(self.evaluate_config))
        messages = self.tracked.configure_evaluate(server_round, arrays, config, self.grid)
        replies = self.grid.send_and_receive(messages, timeout=self.timeout)
        self.tracked.aggregate_evaluate(server_round, replies)


def _note_refusals(
    log: RoundLog,
    real: int,
    observed: ObservedGrid,
    strategy: SecAggFedAvg,
    n_sampled: int,
    stats: SecAggStats,
) -> None:
    """Hospitals whose update is not in the round's sum, with their reason; all of them when the
    protocol halted (too few left to unmask), since then no update entered the model. A hospital
    whose masked update had arrived when it halted has spent the round's privacy all the same: its
    reason says so, and the epsilon its reply carried is kept (`RoundLog.refused_epsilon`), so the
    run's records of what each hospital spent count the round (an outside check: a hospital's
    ledger said 7.00 where results.json, the report and `coordinator status` said 6.47)."""
    trained = log.train.get(real, {}) if strategy.aggregated else {}
    for node, reason in observed.errors.items():
        site = log.site_of_node.get(node, f"node-{node}")
        if site not in trained:
            log.refused.setdefault(real, {})[site] = reason
    if not strategy.aggregated:
        stats.halted.append(real)
        log.train.pop(real, None)
        halted = strategy.refusal or (
            f"secure aggregation halted: fewer than {threshold_for(n_sampled)} of {n_sampled} hospitals "
            "completed the round, so no update was used"
        )
        sent = {log.site_of_node.get(node, f"node-{node}"): m for node, m in observed.masked.items()}
        for site in log.site_of_node.values():
            if site in sent:
                log.refused.setdefault(real, {})[site] = (
                    f"{halted}; its masked update had been sent, so this round's privacy is spent"
                )
                if "epsilon" in sent[site]:
                    log.refused_epsilon.setdefault(real, {})[site] = sent[site]["epsilon"]
            else:
                log.refused.setdefault(real, {}).setdefault(site, halted)
        logger.error("round %s: %s", real, halted)


def _current_round(context: LegacyContext) -> int:
    return int(cast(int, context.state.config_records[MAIN_CONFIGS_RECORD][WorkflowKey.CURRENT_ROUND]))


def _current_parameters(context: Context) -> Parameters:
    import flwr.compat.common.recorddict_compat as compat

    return compat.arrayrecord_to_parameters(context.state.array_records[MAIN_PARAMS_RECORD], keep_input=True)


def masked_vector(reply: Message) -> list[np.ndarray]:
    """The integer vectors a hospital uploads in the masked stage (its weight factor first)."""
    values = reply.content.config_records[RECORD_KEY_CONFIGS][Key.MASKED_PARAMETERS]
    return [bytes_to_ndarray(b) for b in cast(Sequence[bytes], values)]


MASKED_STAGE = Stage.COLLECT_MASKED_VECTORS
