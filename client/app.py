"""The hospital's Flower ClientApp: local DP fine-tuning, DP evaluation, a size report.

What a reply may hold is the whole privacy story of this module. Every number computed on
patients is a DP release charged to the site's ledger: the DP-SGD update, and an evaluation's
noisy score histogram (`genofed.common.privacy.release`). Everything else is public by the site's
own declaration or by the federation's settings: its name, its declared cohort size (rounded;
DP-SGD's sampling rate is computed from it, never from the exact count), its panel size, the
epsilon it has spent and the noise it used (both functions of public facts). No loss, AUC,
accuracy or time measured on patients leaves; the outbound and attack tests check that on the
real message path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Error, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from genofed.client.agent.audit import audit_mod
from genofed.client.augmentation import site_augmentation
from genofed.client.budget import RoundPrivacy, plan_evaluation, plan_round
from genofed.client.outbound import outbound_guard
from genofed.client.secagg import is_secagg_fit, secagg_mod, train_secagg
from genofed.client.site import (
    SiteConfig,
    SiteTensors,
    derived_seed,
    load_site_tensors,
    resolve_site,
    site_secret,
    split_seed,
)
from genofed.client.synthetic_use import check_end_to_end
from genofed.client.trainer import (
    Augment,
    TrainResult,
    TrainSettings,
    sample_rate,
    steps_per_epoch,
    train_model,
)
from genofed.common.errors import DataError, GenofedError
from genofed.common.model.network import (
    FINETUNE_MODES,
    ModelConfig,
    build_model,
    predict_proba,
    set_trainable,
)
from genofed.common.privacy.ledger import LEDGER_FILE, Charge, PrivacyLedger
from genofed.common.privacy.release import noisy_histogram, release_step, score_histogram
from genofed.common.util.checks import require, require_choice, require_in_range, to_float
from genofed.common.util.torch_threads import single_torch_thread

logger = logging.getLogger(__name__)

#: Error code of a reply that refuses to train (budget, bad data): the strategy skips it.
REFUSED = 4001
#: Error code of a reply after an unexpected failure at the site (details stay in its log).
FAILED = 4002


def make_client_app(defaults: Mapping[str, Any] | None = None) -> ClientApp:
    """A ClientApp whose settings are `defaults` overridden by the run config.

    `flwr run` fills the run config from pyproject.toml; Flower's Python simulation entry point
    leaves it empty, so `genofed simulate` passes its settings here instead.
    """
    # outermost first: the audit log records what leaves (under SecAgg+: masked vectors and key
    # material); the outbound guard checks the plaintext reply before SecAgg+ masks it
    app = ClientApp(mods=[audit_mod, secagg_mod, outbound_guard])
    base = dict(defaults or {})

    @app.query()
    def describe(msg: Message, context: Context) -> Message:
        return _guarded(msg, lambda: _describe(_site(context, base), _settings(context, base)))

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        # the same round gives the same update, bit for bit (common/util/torch_threads.py)
        with single_torch_thread():
            return _guarded(msg, lambda: _train_any(msg, context, base))

    @app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        with single_torch_thread():
            return _guarded(
                msg, lambda: _evaluate(msg, context, _site(context, base), _settings(context, base))
            )

    return app


def _train_any(msg: Message, context: Context, base: dict) -> RecordDict:
    """A plain round, or SecAgg+'s masked stage: legacy FitIns in, FitRes out, the same training.

    A hospital that requires secure aggregation refuses a plain round before loading anything.
    """
    if is_secagg_fit(msg):
        return train_secagg(msg, context, _site(context, base), _settings(context, base), _train)
    return _train(msg, context, _plain_round_allowed(_site(context, base)), _settings(context, base))


def _settings(context: Context, base: dict) -> dict:
    return {**base, **dict(context.run_config)}


def _site(context: Context, base: dict) -> SiteConfig:
    return resolve_site(dict(context.node_config), _settings(context, base))


def _guarded(msg: Message, handler) -> Message:
    """Run a handler; a user-fixable problem becomes a refusal reply that carries no data.

    A data error's message names files, lines and sample ids: it stays in the site's log, and
    the coordinator only learns that the site's data failed its checks.
    """
    try:
        return Message(handler(), reply_to=msg)
    except DataError as exc:
        logger.error("refusing: %s", exc)
        reason = "the site's data failed validation; details are in the site's own log (genofed data check)"
        return Message(error=Error(code=REFUSED, reason=reason), reply_to=msg)
    except GenofedError as exc:  # budget and configuration refusals: our own words, no patient data
        logger.warning("refusing: %s", exc)
        return Message(error=Error(code=REFUSED, reason=str(exc)), reply_to=msg)
    except Exception:  # noqa: BLE001 - an unexpected failure's text may hold paths or data
        logger.exception("this site failed to handle a %s message", msg.metadata.message_type)
        return Message(
            error=Error(code=FAILED, reason="the site hit an internal error; details are in its own log"),
            reply_to=msg,
        )


def _plain_round_allowed(site: SiteConfig) -> SiteConfig:
    if site.require_secagg:
        raise GenofedError(
            "this hospital sends its update only under secure aggregation (node config require-secagg); "
            "the coordinator asked for a plain round: run the federation with secagg"
        )
    return site


def _split_seed(site: SiteConfig, settings: dict) -> int:
    return split_seed(site, int(settings.get("seed", 0)))


def _describe(site: SiteConfig, settings: dict) -> RecordDict:
    """The site's name and its public sizes: the training and validation sizes that follow from the
    cohort size it declared (node config `declared-size`, else its size rounded to 10; DP-SGD's
    sampling rate is set from it, never from the exact count), its panel's variants and its
    synthetic records. Not its exact size, nor its number of cases: those are counts of patients."""
    data = load_site_tensors(site, _split_seed(site, settings))
    return RecordDict(
        {
            "site": ConfigRecord({"name": site.name}),
            "sizes": MetricRecord(
                {
                    "train": data.public_train,
                    "validation": data.public_validation,
                    "variants": data.n_variants,
                    "synthetic": data.n_synthetic,
                }
            ),
        }
    )


def _train(msg: Message, context: Context, site: SiteConfig, settings: dict) -> RecordDict:
    """One round of local training: the coordinator's request checked (`_round_request`), then
    plain training or DP-SGD charged to the site's ledger; the reply holds the updated weights and
    public numbers only."""
    request = _round_request(msg, site, settings)
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


@dataclass(frozen=True)
class _RoundRequest:
    """One training round as the site will run it, every part of the request already checked.

    `digest` covers everything the update is computed from (data, augmentation, weights, config),
    so the ledger recognises a rerun; `seed` derives from the site's secret and that digest.
    """

    msg: Message
    data: SiteTensors
    model: torch.nn.Module
    anchor: dict[str, torch.Tensor]  # the global weights, FedProx's anchor
    server_round: int
    training: TrainSettings
    epsilon: float  # inf: no DP (the site's own choice)
    delta: float
    evaluations: int  # how many evaluations the run's privacy plan must pay for
    augment: Augment | None
    plan_id: str
    digest: str
    seed: int


def _round_request(msg: Message, site: SiteConfig, settings: dict) -> _RoundRequest:
    """Check a train message against what this site allows, in the order a refusal is cheapest:
    the model (panel, agreed architecture, finite weights, fine-tuning mode), the training
    settings, the budget, the synthetic records, the evaluation cap and the augmentation."""
    config = msg.content["config"]
    data = load_site_tensors(site, _split_seed(site, settings))
    model = _trainable_model(msg, data.n_variants, site, str(config.get("finetune", "full")))
    server_round = int(config["server-round"])
    training = requested_training(config, settings)
    epsilon, delta = _requested_budget(site, config, settings)
    private = not math.isinf(epsilon)
    if data.synthetic is not None:
        check_end_to_end(data.synthetic, private=private, ledger_path=site.state_dir / LEDGER_FILE)
    evaluations = _requested_evaluations(site, config)
    spec, augment = site_augmentation(str(config.get("augment", "")), site, data, private=private)
    plan_id = str(config.get("plan-id", "unplanned"))
    # the site's own augmentation is an input too: a rerun with another one must not reuse the noise
    augmentation = "" if augment is None else json.dumps(spec.to_dict(), sort_keys=True)
    digest = input_digest(msg, data.fingerprint + augmentation)
    secret = site_secret(site, int(settings.get("seed", 0)))
    return _RoundRequest(
        msg=msg,
        data=data,
        model=model,
        anchor={k: v.detach().clone() for k, v in model.state_dict().items()},
        server_round=server_round,
        training=training,
        epsilon=epsilon,
        delta=delta,
        evaluations=evaluations,
        augment=augment,
        plan_id=plan_id,
        digest=digest,
        seed=derived_seed(secret, plan_id, server_round, digest, "train"),
    )


def _trainable_model(msg: Message, n_variants: int, site: SiteConfig, finetune: str) -> torch.nn.Module:
    """The coordinator's model (`_global_model`) with the parameters its fine-tuning mode trains."""
    model = _global_model(msg, n_variants, site)
    require_choice(
        "finetune",
        finetune,
        FINETUNE_MODES,
        message=f"unknown fine-tuning mode {finetune!r} from the coordinator; this site knows "
        f"{', '.join(FINETUNE_MODES)}",
    )
    set_trainable(model, finetune)
    return model


def _requested_evaluations(site: SiteConfig, config: Mapping[str, Any]) -> int:
    """How many evaluations the run plans here; refused above the site's cap (node config)."""
    evaluations = int(config.get("site-evaluations", 0))
    require(
        evaluations <= site.max_evaluations,
        f"the coordinator asked this site to plan {evaluations} evaluations in this run; it answers at "
        f"most {site.max_evaluations} (node config max-evaluations): each is a privacy release",
    )
    return evaluations


def _train_plain(request: _RoundRequest) -> TrainResult:
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
    request: _RoundRequest, site: SiteConfig, context: Context
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


def _plan_training(ledger: PrivacyLedger, request: _RoundRequest) -> RoundPrivacy:
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


def _training_charge(request: _RoundRequest, privacy: RoundPrivacy, result: TrainResult) -> Charge:
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


#: Bounds on what the coordinator may ask a site to train with. A learning rate of 0 (or a
#: proximal pull that undoes every step) would make the "update" the coordinator's own model,
#: turning a training round into a pure query; absurd values only waste the site's budget.
TRAINING_LIMITS = {
    "lr": (0.0, 10.0),
    "clip": (0.0, 1e3),
    "local-epochs": (1, 1000),
    "batch-size": (1, 1_000_000),
    "proximal-mu": (0.0, 1e3),
}


def requested_training(config: Mapping[str, Any], settings: Mapping[str, Any]) -> TrainSettings:
    """The coordinator's training settings, checked: refused (not clamped) when outside `TRAINING_LIMITS`."""
    values = {
        "local-epochs": config.get("local-epochs", settings.get("local-epochs", 1)),
        "batch-size": config.get("batch-size", settings.get("batch-size", 32)),
        "lr": config.get("lr", settings.get("lr", TrainSettings.lr)),
        "clip": config.get("clip", settings.get("clip", TrainSettings.max_grad_norm)),
        "proximal-mu": config.get("proximal-mu", 0.0),
    }
    for key, value in values.items():
        _require_within_limits(key, value)
    settings_ = TrainSettings(
        epochs=int(values["local-epochs"]),
        batch_size=int(values["batch-size"]),
        lr=float(values["lr"]),
        max_grad_norm=float(values["clip"]),
        proximal_mu=float(values["proximal-mu"]),
    )
    pull = settings_.lr * settings_.proximal_mu
    require(
        pull < 1.0,
        f"the coordinator asked for lr x proximal-mu = {pull:g}: every step would be undone by the "
        "proximal pull, so the update would be the coordinator's own model; refused",
    )
    return settings_


def _require_within_limits(key: str, value: object) -> None:
    """Refuse a requested training setting that is not a number within `TRAINING_LIMITS`."""
    low, high = TRAINING_LIMITS[key]
    asked = f"the coordinator asked this site to train with {key}={value!r}; refused: "
    number = to_float(key, value, message=asked + "not a number")
    open_low = key in ("lr", "clip")  # 0 is no training / no clipping: refused
    require_in_range(
        key,
        number,
        low,
        high,
        low_open=open_low,
        message=asked + f"{key} must be {'above' if open_low else 'at least'} {low:g} and at most {high:g}",
    )


def _requested_budget(
    site: SiteConfig, config: Mapping[str, Any], settings: Mapping[str, Any]
) -> tuple[float, float]:
    """`site_budget` for the (epsilon, delta) a train or evaluate message asks for."""
    return site_budget(
        site,
        float(config.get("epsilon", settings.get("epsilon", math.inf))),
        float(config.get("delta", settings.get("delta", 1e-5))),
    )


def site_budget(site: SiteConfig, requested_epsilon: float, requested_delta: float) -> tuple[float, float]:
    """The (epsilon, delta) this site will spend at most; epsilon inf means no DP at all.

    The coordinator may ask for less than the site allows, never more. A simulated site takes
    the run's settings; a deployed site must state its own budget in its node config, because a
    budget the coordinator picks is no protection against the coordinator, and it trains
    without privacy only if its own config says `epsilon-budget=inf`.
    """
    if site.simulated:
        budget = site.epsilon_budget if site.epsilon_budget is not None else requested_epsilon
        return min(budget, requested_epsilon), requested_delta
    if site.epsilon_budget is None:
        raise GenofedError(
            "this hospital has no privacy budget: set epsilon-budget (and optionally delta) "
            "in its node config"
        )
    if math.isinf(requested_epsilon) and not math.isinf(site.epsilon_budget):
        raise GenofedError(
            "the coordinator asked for training without differential privacy; this hospital's "
            f"budget is epsilon {site.epsilon_budget:g}"
        )
    if requested_delta > site.delta:
        raise GenofedError(
            f"the coordinator asked for delta {requested_delta:g}, above this hospital's {site.delta:g}"
        )
    return min(site.epsilon_budget, requested_epsilon), requested_delta


def input_digest(msg: Message, data_fingerprint: str) -> str:
    """SHA-256 of everything a round is computed from: the site's training data (and split),
    the global weights and the train settings."""
    digest = hashlib.sha256(data_fingerprint.encode())
    arrays = msg.content["arrays"]
    for key in sorted(arrays.keys()):
        digest.update(key.encode())
        digest.update(arrays[key].numpy().tobytes())
    config = msg.content["config"]
    digest.update(json.dumps({k: config[k] for k in sorted(config.keys())}, default=str).encode())
    return digest.hexdigest()


def _evaluate(msg: Message, context: Context, site: SiteConfig, settings: dict) -> RecordDict:
    """A DP release of how the coordinator's model scores this site's validation patients.

    The reply is a noisy score histogram (`genofed.common.privacy.release`), charged to the ledger
    as one Gaussian step; the coordinator derives AUC, accuracy and the rest from it. Only a
    run's planned number of evaluations is answered, with the run's model architecture; a site
    without privacy (budget inf, its own choice) sends the exact histogram.
    """
    config = msg.content["config"]
    data = load_site_tensors(site, _split_seed(site, settings))
    model = _global_model(msg, data.n_variants, site)
    histogram = score_histogram(data.val_y, predict_proba(model, data.val_x))
    epsilon, delta = _requested_budget(site, config, settings)
    server_round = int(config["server-round"])
    epsilon_after, sigma = math.inf, 0.0
    if not math.isinf(epsilon):
        histogram, epsilon_after, sigma = _noisy_evaluation(
            msg, site, settings, data, histogram, epsilon=epsilon, delta=delta, server_round=server_round
        )
    return RecordDict(
        {
            "metrics": MetricRecord(
                {
                    "num-examples": data.public_validation,  # public: the declared validation size
                    "val-histogram": [float(v) for v in histogram.reshape(-1)],
                    "val-noise": float(sigma),
                    "epsilon": float(epsilon_after),
                }
            )
        }
    )


def _noisy_evaluation(
    msg: Message,
    site: SiteConfig,
    settings: dict,
    data: SiteTensors,
    histogram: np.ndarray,
    *,
    epsilon: float,
    delta: float,
    server_round: int,
) -> tuple[np.ndarray, float, float]:
    """The histogram with Gaussian noise, planned (refused past the run's evaluations or the
    budget) and charged under the ledger's lock. Returns the noisy histogram, the site's epsilon
    after the charge and the noise multiplier per count."""
    plan_id = str(msg.content["config"].get("plan-id", "unplanned"))
    validation = hashlib.sha256(data.val_x.tobytes() + data.val_y.tobytes()).hexdigest()
    digest = input_digest(msg, data.fingerprint + validation)
    with PrivacyLedger(site.state_dir / LEDGER_FILE).locked() as ledger:
        ledger.check_rerun(plan_id, server_round, digest, kind="evaluate")
        privacy = plan_evaluation(
            ledger,
            plan_id=plan_id,
            server_round=server_round,
            budget=epsilon,
            delta=delta,
            model=model_digest(msg),
        )
        sigma = privacy.noise_multiplier
        secret = site_secret(site, int(settings.get("seed", 0)))
        seed = derived_seed(secret, plan_id, server_round, digest, "evaluate")
        histogram = noisy_histogram(histogram, sigma, seed)
        ledger.charge(_evaluation_charge(plan_id, server_round, privacy, digest))
        epsilon_after = ledger.epsilon(delta)
    return histogram, epsilon_after, sigma


def _evaluation_charge(plan_id: str, server_round: int, privacy: RoundPrivacy, digest: str) -> Charge:
    """The ledger entry of one evaluation release: one Gaussian step (`release_step`)."""
    noise, rate, steps = release_step(privacy.noise_multiplier)
    return Charge(
        plan_id=plan_id,
        round=server_round,
        noise_multiplier=noise,
        sample_rate=rate,
        steps=steps,
        epsilon_after=privacy.epsilon_after,
        time=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        note="evaluation: noisy score histogram of the validation patients",
        input_digest=digest,
        kind="evaluate",
    )


def model_digest(msg: Message) -> str:
    """SHA-256 of the model architecture the coordinator sent (its config, not its weights)."""
    return architecture_digest(json.loads(str(msg.content["config"]["model"])))


def architecture_digest(config: Mapping[str, Any]) -> str:
    """SHA-256 of a model config's JSON with sorted keys: what node config `model-digest` pins."""
    return hashlib.sha256(json.dumps(dict(config), sort_keys=True).encode()).hexdigest()


def _global_model(msg: Message, n_variants: int, site: SiteConfig) -> torch.nn.Module:
    """The coordinator's model, built from the config it sent and checked against our panel, against
    the architecture the hospital agreed to (node config `model-digest`, set at `hospital check`),
    and for finite weights."""
    if site.model_digest and model_digest(msg) != site.model_digest:
        raise GenofedError(
            "the coordinator sent a model architecture this hospital did not agree to (node config "
            "model-digest); refused"
        )
    config = ModelConfig.from_dict(json.loads(str(msg.content["config"]["model"])))
    if config.n_variants != n_variants:
        raise GenofedError(
            f"the coordinator's model expects {config.n_variants} variants but this site's panel has "
            f"{n_variants}: the site and the federation use different panels"
        )
    model = build_model(config, seed=0)
    weights = msg.content["arrays"].to_torch_state_dict()
    if not all(bool(torch.isfinite(t).all()) for t in weights.values() if t.is_floating_point()):
        raise GenofedError("the coordinator's model has non-finite weights (NaN or inf); refused")
    model.load_state_dict(weights)
    return model


#: The ClientApp `flwr run` loads (pyproject.toml [tool.flwr.app.components]).
app = make_client_app()
