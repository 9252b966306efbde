"""The ClientApp's train handler: one round of local training on a checked request.

`train` runs plain training (the site's own choice: budget inf, nothing charged) or DP-SGD
under the privacy ledger's lock: the rerun check, the round's plan (refused past the budget,
before anything is trained), the training and its charge. Under distributed DP (train config
`privacy: distributed`, only inside a SecAgg+ round) the round is this site's share of a noisy
clipped gradient sum instead (`genofed.client.distributed_round`), planned and charged the same
way with both its epsilons. The reply holds the updated weights and public numbers only; the
loss and the time stay in the site's log.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import time
from collections.abc import Iterator
from dataclasses import replace

from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_STATE, Stage

from genofed.client.budget import CoalitionCapExceeded, RoundPrivacy, plan_round
from genofed.client.coordinator_request import model_digest, run_limit_note
from genofed.client.distributed_round import (
    DistributedRequest,
    coalition_cap,
    distributed_request,
    noisy_gradient_round,
    refuse_rows_beyond_ceiling,
    round_reply_bound,
)
from genofed.client.kept_replies import KeptReply, keep_reply, kept_reply, replayed
from genofed.client.site import SiteConfig, site_coalition_cap
from genofed.client.spend_log import charge_and_log
from genofed.client.trainer import TrainResult, sample_rate, steps_per_epoch, train_model
from genofed.client.training_request import RoundRequest, round_request
from genofed.common.errors import GenofedError, RoundRefusal
from genofed.common.privacy.accountant import BudgetExhausted
from genofed.common.privacy.ledger import LEDGER_FILE, Charge, PrivacyLedger

logger = logging.getLogger(__name__)


def train(
    msg: Message, context: Context, site: SiteConfig, settings: dict, *, masked: bool = False
) -> RecordDict:
    """One round of local training: the coordinator's request checked (`round_request`), then
    plain training or DP-SGD charged to the site's ledger; the reply holds the updated weights and
    public numbers only.

    `masked`: called by SecAgg+'s masked stage (`genofed.client.secagg.train_secagg`), whose reply
    Flower masks. Only then may the round be distributed DP: the protocol state in the context
    outlives its messages, and a plain message sent after SETUP and SHARE_KEYS was taken for a
    masked round, so this site's noise share went out in the clear (a security audit)."""
    request = round_request(msg, site, settings, masked=masked)
    threshold = secagg_threshold(context) if masked else None
    distributed = distributed_request(msg.content["config"], request.training, threshold)
    if distributed is not None:
        return _distributed(request, site, context, distributed)
    private = not math.isinf(request.epsilon)
    if private and (again := _replayed(request, site)) is not None:
        return again
    started = time.perf_counter()
    if not private:
        result, epsilon_after, sigma = _train_plain(request), math.inf, 0.0
    else:
        result, epsilon_after, sigma = _train_private(request, site, context)
    # the loss and the time of local training stay in the site's log: exact numbers computed on
    # patients (a crafted model with lr 0 turns the mean loss into a patient's label)
    logger.info(
        "round %d trained: mean loss %.4f, %.1f s",
        request.server_round,
        result.mean_loss,
        time.perf_counter() - started,
    )
    metrics = MetricRecord(
        {
            # declared real patients: FedAvg weighs sites by real evidence
            "num-examples": request.data.public_train,
            "synthetic-examples": request.data.n_synthetic,
            "epsilon": float(epsilon_after),
            "noise-multiplier": float(sigma),
        }
    )
    reply = RecordDict({"arrays": ArrayRecord(result.state_dict), "metrics": metrics})
    if private:
        _keep(request, site, reply)
    return reply


def _replayed(request: RoundRequest, site: SiteConfig) -> RecordDict | None:
    """The reply this site sent when this very request (plan, round, request digest) was charged;
    None otherwise (`kept_replies.replayed`)."""
    return replayed(site.state_dir, request.plan_id, "train", request.server_round, request.request_digest)


def _keep(request: RoundRequest, site: SiteConfig, reply: RecordDict) -> None:
    """Keep a charged round's reply before it leaves, so that the same request gets it again."""
    kept = KeptReply(round=request.server_round, request_digest=request.request_digest, content=reply)
    keep_reply(site.state_dir, request.plan_id, "train", kept)


def secagg_threshold(context: Context) -> int | None:
    """The reconstruction threshold of the SecAgg+ round this training runs in, from the site's
    own protocol state (Flower's `secaggplus_mod` keeps it in the context and calls the training
    in its masked stage, right after the share-keys stage); None outside a SecAgg+ round."""
    state = context.state.config_records.get(RECORD_KEY_STATE)
    if state is None or state.get("current_stage") != Stage.SHARE_KEYS:
        return None
    return int(state.get("threshold", 0)) or None


def _distributed(
    request: RoundRequest, site: SiteConfig, context: Context, distributed: DistributedRequest
) -> RecordDict:
    """This site's share of a noisy clipped gradient sum, planned and charged under the ledger's
    lock like a DP-SGD round; the reply's metrics hold both epsilons. A deployed site without its
    own `max-coalition-epsilon` refuses first (`coalition_cap`): nothing computed, nothing charged."""
    site = replace(site, max_coalition_epsilon=coalition_cap(site.max_coalition_epsilon, site.simulated))
    if math.isinf(request.epsilon):
        raise GenofedError(
            "the coordinator asked for distributed DP without a privacy budget (epsilon inf): a noise "
            "share needs one; refused"
        )
    if request.data.n_synthetic:
        raise GenofedError(
            "distributed DP weighs each site's noisy gradient sum by its declared patients; this site "
            "trains on synthetic records too: turn them off (synthetic-ratio 0) for a distributed run"
        )
    started = time.perf_counter()
    rows_x, rows_y = request.data.training_rows()
    refuse_rows_beyond_ceiling(len(rows_y), request.data.public_train)
    with PrivacyLedger.locked_at(site.state_dir / LEDGER_FILE) as ledger:
        sent = any(c.round == request.server_round for c in ledger.charges_of(request.plan_id, "train"))
        if sent and not site.simulated:
            raise BudgetExhausted(
                f"round {request.server_round} of this run already sent its masked noise share; sending it "
                "again, in another SecAgg+ session, would let the coordinator difference the sessions' sums "
                "and read each hospital's share: refused (a distributed run continues with its next round, "
                "or as a new run)"
            )
        with _naming_the_limit(request, site):
            privacy = _plan_round(ledger, request, site, distributed, context)
        # a deployed site sends a round's share once (above); a simulated one (whose coordinator is
        # its own operator) sends the same request its kept reply again, so that `genofed simulate
        # --resume` works: after the plan, whose SecAgg+ clipping-range check is on public values
        # (sent again, the kept reply met a check on its own values, an unmasked bit of its share)
        kept = (site.state_dir, request.plan_id, "train", request.server_round, request.request_digest)
        if sent and (again := kept_reply(*kept)) is not None:
            return again
        ledger.check_rerun(request.plan_id, request.server_round)
        result = noisy_gradient_round(
            request.model,
            rows_x,
            rows_y,
            request.training,
            request=distributed,
            noise_share=privacy.share,
            seed=request.seed,
            weight_rows=request.data.public_train,
            augment=request.augment,
        )
        sites = privacy.noise_share_sites
        note = f"distributed DP: noisy clipped gradient sum, noise shared by {sites} sites"
        epsilon_after = _charge_round(ledger, request, privacy, result.steps, note, site)
        coalition_after = ledger.coalition_epsilon(request.delta)
        context.state["privacy"] = ConfigRecord(
            {
                "plan-id": request.plan_id,
                "noise-multiplier": privacy.noise_multiplier,
                "noise-share": privacy.share,
                "epsilon": epsilon_after,
                "coalition-epsilon": coalition_after,
                "delta": request.delta,
            }
        )
    logger.info(
        "round %d: noisy gradient sum over %d batches at %d-site noise shares, mean loss %.4f, %.1f s",
        request.server_round,
        result.steps,
        distributed.sites,
        result.mean_loss,
        time.perf_counter() - started,
    )
    metrics = MetricRecord(
        {
            "num-examples": request.data.public_train,
            "synthetic-examples": 0,
            "epsilon": float(epsilon_after),
            "coalition-epsilon": float(coalition_after),
            "noise-multiplier": float(privacy.noise_multiplier),
        }
    )
    reply = RecordDict({"arrays": ArrayRecord(result.state_dict), "metrics": metrics})
    _keep(request, site, reply)
    return reply


def _refuse_a_clipping_range_below_the_bound(
    request: RoundRequest, distributed: DistributedRequest, share: float, context: Context
) -> None:
    """Refuse (RoundRefusal), before the round is computed or charged, a SecAgg+ clipping range
    below what this round's reply can reach (`round_reply_bound`, public values only): SecAgg+
    would clip the reply silently and corrupt the sum. The refusal is not masked, so it is decided
    and worded on public values: decided on the reply's own values it leaked a bit of a reply
    carrying only this site's noise share (an audit, stop 47), and a bound counted from the exact
    training rows quoted their number (a privacy review, stop 51). Checked here rather than after
    the round, so a coordinator's range costs the site no budget either."""
    state = context.state.config_records.get(RECORD_KEY_STATE)
    if state is None or "clipping_range" not in state:
        return
    limit = float(state["clipping_range"])
    bound = round_reply_bound(request.model, request.training, distributed, share, request.data.public_train)
    if not bound <= limit:
        raise RoundRefusal(
            f"SecAgg+'s clipping range (+-{limit:g}) is below what this distributed round's reply can "
            f"reach (+-{bound:.3g}, from the global weights, lr, clip, rate, batches, noise share and "
            "declared training size); the coordinator must raise it; nothing was computed or charged"
        )


def _plan_round(
    ledger: PrivacyLedger,
    request: RoundRequest,
    site: SiteConfig,
    distributed: DistributedRequest,
    context: Context,
) -> RoundPrivacy:
    """A distributed round's noise (`plan_round`): the common rate and batch count, m sites
    sharing the noise, the site's own cap on its epsilon against a coalition; SecAgg+'s clipping
    range is checked against the round's public bound before a new plan is recorded."""
    return plan_round(
        ledger,
        plan_id=request.plan_id,
        server_round=request.server_round,
        num_rounds=request.num_rounds,
        sample_rate=distributed.sample_rate,
        steps_per_round=distributed.batches,
        budget=request.epsilon,
        delta=request.delta,
        evaluations=request.evaluations,
        model=model_digest(request.msg),
        noise_share_sites=distributed.sites,
        max_coalition_epsilon=site.max_coalition_epsilon,
        run_epsilon=request.run_epsilon,
        check=lambda privacy: _refuse_a_clipping_range_below_the_bound(
            request, distributed, privacy.share, context
        ),
    )


def _train_plain(request: RoundRequest) -> TrainResult:
    """Training without DP: the site's own choice (its budget is inf); nothing is charged."""
    rows_x, rows_y = request.data.training_rows()
    return train_model(
        request.model,
        rows_x,
        rows_y,
        request.training,
        noise_multiplier=None,
        seed=request.seed,
        anchor=request.anchor,
        augment=request.augment,
    )


def _train_private(
    request: RoundRequest, site: SiteConfig, context: Context
) -> tuple[TrainResult, float, float]:
    """DP-SGD under the ledger's lock: the rerun check, the round's plan (refused past the budget,
    before anything is trained), the training, its charge. Returns the result, the site's epsilon
    after the charge and the noise multiplier used."""
    data, training = request.data, request.training
    rows_x, rows_y = data.training_rows()
    with PrivacyLedger.locked_at(site.state_dir / LEDGER_FILE) as ledger:
        ledger.check_rerun(request.plan_id, request.server_round)
        with _naming_the_limit(request, site):
            privacy = _plan_training(ledger, request, site)
        result = train_model(
            request.model,
            rows_x,
            rows_y,
            training,
            noise_multiplier=privacy.noise_multiplier,
            seed=request.seed,
            anchor=request.anchor,
            augment=request.augment,
            public_rows=data.public_rows,
        )
        note = f"DP-SGD fine-tuning, {training.epochs} local epoch(s)"
        epsilon_after = _charge_round(ledger, request, privacy, result.steps, note, site)
        sigma = privacy.noise_multiplier
        context.state["privacy"] = ConfigRecord(
            {
                "plan-id": request.plan_id,
                "noise-multiplier": sigma,
                "epsilon": epsilon_after,
                "delta": request.delta,
            }
        )
    return result, epsilon_after, sigma


@contextlib.contextmanager
def _naming_the_limit(request: RoundRequest, site: SiteConfig) -> Iterator[None]:
    """A budget refusal says when the limit it hit is the run's epsilon (`run_limit_note`)."""
    try:
        yield
    except BudgetExhausted as refused:
        note = run_limit_note(site, request.run_epsilon)
        if not note or isinstance(refused, CoalitionCapExceeded):  # the limit is the site's own cap
            raise
        # the refusal's own words call the limit "its budget": here it is the run's epsilon (an
        # operator's walkthrough read "spent 7.98 of its budget of 8" for a site whose budget was 50)
        limit = f"{request.run_epsilon:g}"
        words = re.sub(
            rf"\b(its|the) budget of {re.escape(limit)}\b", f"this run's epsilon of {limit}", str(refused)
        )
        words = words.replace(f"the budget is epsilon {limit} ", f"the limit is this run's epsilon {limit} ")
        raise BudgetExhausted(f"{words} {note}") from None


def _plan_training(ledger: PrivacyLedger, request: RoundRequest, site: SiteConfig) -> RoundPrivacy:
    """The round's noise from the run's privacy plan (`plan_round`): DP-SGD's sampling rate and
    steps follow from the declared (public) row count, never from the exact one; the site's own
    coalition cap, when it set one, holds for this local round too."""
    public_rows, batch_size = request.data.public_rows, request.training.batch_size
    per_epoch = steps_per_epoch(public_rows, batch_size)
    return plan_round(
        ledger,
        plan_id=request.plan_id,
        server_round=request.server_round,
        num_rounds=request.num_rounds,
        sample_rate=sample_rate(public_rows, batch_size),
        steps_per_round=request.training.epochs * per_epoch,
        budget=request.epsilon,
        delta=request.delta,
        evaluations=request.evaluations,
        model=model_digest(request.msg),
        max_coalition_epsilon=site_coalition_cap(site),
    )


def _charge_round(
    ledger: PrivacyLedger,
    request: RoundRequest,
    privacy: RoundPrivacy,
    steps: int,
    note: str,
    site: SiteConfig,
) -> float:
    """Charge one training round to `ledger` and log what it spent and what is left of the site's
    budget (`charge_and_log`); returns the ledger's epsilon after it."""
    return charge_and_log(
        ledger,
        _round_charge(request, privacy, steps, note),
        label=f"round {request.server_round}",
        delta=request.delta,
        site=site,
        limit=request.epsilon,
    )


def _round_charge(request: RoundRequest, privacy: RoundPrivacy, steps: int, note: str) -> Charge:
    """The ledger entry of one training round, keyed by the round's input digest, with the delta it
    was planned at. Under distributed DP it also holds this site's own noise share (None with local
    DP)."""
    return Charge(
        plan_id=request.plan_id,
        round=request.server_round,
        noise_multiplier=privacy.noise_multiplier,
        coalition_noise_multiplier=privacy.coalition_noise_multiplier,
        sample_rate=privacy.sample_rate,
        steps=steps,
        epsilon_after=privacy.epsilon_after,
        time=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        note=note,
        input_digest=request.digest,
        delta=request.delta,  # the coordinator's, at which `epsilon_after` was planned
    )
