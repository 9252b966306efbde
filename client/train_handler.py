"""The ClientApp's train handler: one round of local training on a checked request.

`train` runs plain training (the site's own choice: budget inf, nothing charged) or DP-SGD
under the privacy ledger's lock: the rerun check, the round's plan (refused past the budget,
before anything is trained), the training and its charge. The reply holds the updated weights
and public numbers only; the loss and the time stay in the site's log.
"""

from __future__ import annotations

import logging
import math
import time

from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict

from genofed.client.budget import RoundPrivacy, plan_round
from genofed.client.coordinator_request import model_digest
from genofed.client.site import SiteConfig
from genofed.client.trainer import TrainResult, sample_rate, steps_per_epoch, train_model
from genofed.client.training_request import RoundRequest, round_request
from genofed.common.privacy.ledger import LEDGER_FILE, Charge, PrivacyLedger

logger = logging.getLogger(__name__)


def train(msg: Message, context: Context, site: SiteConfig, settings: dict) -> RecordDict:
    """One round of local training: the coordinator's request checked (`round_request`), then
    plain training or DP-SGD charged to the site's ledger; the reply holds the updated weights and
    public numbers only."""
    request = round_request(msg, site, settings)
    started = time.perf_counter()
    if math.isinf(request.epsilon):
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
    return RecordDict({"arrays": ArrayRecord(result.state_dict), "metrics": metrics})


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
    with PrivacyLedger(site.state_dir / LEDGER_FILE).locked() as ledger:
        ledger.check_rerun(request.plan_id, request.server_round, request.digest)
        privacy = _plan_training(ledger, request)
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
        ledger.charge(_training_charge(request, privacy, result))
        epsilon_after, sigma = ledger.epsilon(request.delta), privacy.noise_multiplier
        context.state["privacy"] = ConfigRecord(
            {
                "plan-id": request.plan_id,
                "noise-multiplier": sigma,
                "epsilon": epsilon_after,
                "delta": request.delta,
            }
        )
    return result, epsilon_after, sigma


def _plan_training(ledger: PrivacyLedger, request: RoundRequest) -> RoundPrivacy:
    """The round's noise from the run's privacy plan (`plan_round`): DP-SGD's sampling rate and
    steps follow from the declared (public) row count, never from the exact one."""
    public_rows, batch_size = request.data.public_rows, request.training.batch_size
    per_epoch = steps_per_epoch(public_rows, batch_size)
    return plan_round(
        ledger,
        plan_id=request.plan_id,
        server_round=request.server_round,
        num_rounds=int(request.msg.content["config"]["num-rounds"]),
        sample_rate=sample_rate(public_rows, batch_size),
        steps_per_round=request.training.epochs * per_epoch,
        budget=request.epsilon,
        delta=request.delta,
        evaluations=request.evaluations,
        model=model_digest(request.msg),
    )


def _training_charge(request: RoundRequest, privacy: RoundPrivacy, result: TrainResult) -> Charge:
    """The ledger entry of one round of DP-SGD, keyed by the round's input digest."""
    return Charge(
        plan_id=request.plan_id,
        round=request.server_round,
        noise_multiplier=privacy.noise_multiplier,
        sample_rate=privacy.sample_rate,
        steps=result.steps,
        epsilon_after=privacy.epsilon_after,
        time=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        note=f"DP-SGD fine-tuning, {request.training.epochs} local epoch(s)",
        input_digest=request.digest,
    )
