"""The hospital's Flower ClientApp: local DP fine-tuning, local evaluation, a size report.

What a reply may hold is the whole privacy story of this module: model arrays and a handful of
aggregate numbers (example counts, mean loss, epsilon spent). No sample id, genotype, label or
per-patient value is ever put in a record; `tests/test_outbound.py` checks that on the real
message path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Error, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from genofed.client.audit import audit_mod
from genofed.client.augmentation import site_augmentation
from genofed.client.budget import plan_round
from genofed.client.outbound import outbound_guard
from genofed.client.secagg import is_secagg_fit, secagg_mod, train_secagg
from genofed.client.site import SiteConfig, derived_seed, load_site_tensors, resolve_site, site_secret, split_seed
from genofed.client.synthetic_use import check_end_to_end
from genofed.client.trainer import TrainSettings, sample_rate, steps_per_epoch, train_model
from genofed.common.errors import DataError, GenofedError
from genofed.common.metrics import binary_metrics
from genofed.common.model import FINETUNE_MODES, ModelConfig, build_model, predict_proba, set_trainable
from genofed.common.privacy import LEDGER_FILE, Charge, PrivacyLedger
from genofed.common.torch_threads import single_torch_thread

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
        with single_torch_thread():  # the same round gives the same update, bit for bit (common/torch_threads.py)
            return _train_reply(msg, context)

    def _train_reply(msg: Message, context: Context) -> Message:
        if is_secagg_fit(msg):  # SecAgg+'s masked stage: legacy FitIns in, FitRes out, same training
            return _guarded(msg, lambda: train_secagg(msg, context, _site(context, base), _settings(context, base), _train))
        return _guarded(msg, lambda: _train(msg, context, _plain_round_allowed(_site(context, base)), _settings(context, base)))

    @app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        return _guarded(msg, lambda: _evaluate(msg, _site(context, base), _settings(context, base)))

    return app


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
        return Message(error=Error(code=FAILED, reason="the site hit an internal error; details are in its own log"),
                       reply_to=msg)


def _plain_round_allowed(site: SiteConfig) -> SiteConfig:
    if site.require_secagg:
        raise GenofedError("this hospital sends its update only under secure aggregation (node config require-secagg); "
                           "the coordinator asked for a plain round: run the federation with secagg")
    return site


def _split_seed(site: SiteConfig, settings: dict) -> int:
    return split_seed(site, int(settings.get("seed", 0)))


def _describe(site: SiteConfig, settings: dict) -> RecordDict:
    data = load_site_tensors(site, _split_seed(site, settings))
    return RecordDict(
        {
            "site": ConfigRecord({"name": site.name}),
            "sizes": MetricRecord(
                {"train": len(data.train_y), "validation": len(data.val_y), "cases": data.cases, "variants": data.n_variants,
                 "synthetic": data.n_synthetic}
            ),
        }
    )


def _train(msg: Message, context: Context, site: SiteConfig, settings: dict) -> RecordDict:
    config = msg.content["config"]
    data = load_site_tensors(site, _split_seed(site, settings))
    model = _global_model(msg, data.n_variants)
    finetune = str(config.get("finetune", "full"))
    if finetune not in FINETUNE_MODES:
        raise GenofedError(f"unknown fine-tuning mode {finetune!r} from the coordinator; this site knows {', '.join(FINETUNE_MODES)}")
    set_trainable(model, finetune)
    server_round = int(config["server-round"])
    epochs = int(config.get("local-epochs", settings.get("local-epochs", 1)))
    batch_size = int(config.get("batch-size", settings.get("batch-size", 32)))
    train_settings = TrainSettings(
        epochs=epochs,
        batch_size=batch_size,
        lr=float(config.get("lr", settings.get("lr", TrainSettings.lr))),
        max_grad_norm=float(config.get("clip", settings.get("clip", TrainSettings.max_grad_norm))),
        proximal_mu=float(config.get("proximal-mu", 0.0)),
    )
    epsilon, delta = site_budget(
        site, float(config.get("epsilon", settings.get("epsilon", math.inf))),
        float(config.get("delta", settings.get("delta", 1e-5))),
    )
    if data.synthetic is not None:
        check_end_to_end(data.synthetic, private=not math.isinf(epsilon), ledger_path=site.state_dir / LEDGER_FILE)
    rows_x, rows_y = data.training_rows()
    spec, augment = site_augmentation(str(config.get("augment", "")), site, data, private=not math.isinf(epsilon))
    plan_id = str(config.get("plan-id", "unplanned"))
    # the site's own augmentation is an input too: a rerun with another one must not reuse the noise
    fingerprint = data.fingerprint if augment is None else data.fingerprint + json.dumps(spec.to_dict(), sort_keys=True)
    digest = input_digest(msg, fingerprint)
    seed = derived_seed(site_secret(site, int(settings.get("seed", 0))), plan_id, server_round, digest, "train")
    anchor = {k: v.detach().clone() for k, v in model.state_dict().items()}
    started = time.perf_counter()

    if math.isinf(epsilon):
        result = train_model(model, rows_x, rows_y, train_settings, noise_multiplier=None, seed=seed, anchor=anchor,
                             augment=augment)
        epsilon_after, sigma = math.inf, 0.0
    else:
        with PrivacyLedger(site.state_dir / LEDGER_FILE).locked() as ledger:
            ledger.check_rerun(plan_id, server_round, digest)
            per_epoch = steps_per_epoch(len(rows_y), batch_size)
            privacy = plan_round(
                ledger,
                plan_id=plan_id,
                server_round=server_round,
                num_rounds=int(config["num-rounds"]),
                sample_rate=sample_rate(len(rows_y), batch_size),
                steps_per_round=epochs * per_epoch,
                budget=epsilon,
                delta=delta,
            )
            result = train_model(
                model, rows_x, rows_y, train_settings, noise_multiplier=privacy.noise_multiplier, seed=seed, anchor=anchor,
                augment=augment,
            )
            ledger.charge(
                Charge(
                    plan_id=plan_id,
                    round=server_round,
                    noise_multiplier=privacy.noise_multiplier,
                    sample_rate=privacy.sample_rate,
                    steps=result.steps,
                    epsilon_after=privacy.epsilon_after,
                    time=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    note=f"DP-SGD fine-tuning, {epochs} local epoch(s)",
                    input_digest=digest,
                )
            )
            epsilon_after, sigma = ledger.epsilon(delta), privacy.noise_multiplier
            context.state["privacy"] = ConfigRecord(
                {"plan-id": plan_id, "noise-multiplier": sigma, "epsilon": epsilon_after, "delta": delta}
            )

    metrics = MetricRecord(
        {
            "num-examples": len(data.train_y),  # real patients: FedAvg weighs sites by real evidence
            "synthetic-examples": data.n_synthetic,
            "train-loss": float(result.mean_loss),
            "epsilon": float(epsilon_after),
            "noise-multiplier": float(sigma),
            "train-seconds": time.perf_counter() - started,
        }
    )
    return RecordDict({"arrays": ArrayRecord(result.state_dict), "metrics": metrics})


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
        raise GenofedError("this hospital has no privacy budget: set epsilon-budget (and optionally delta) in its node config")
    if math.isinf(requested_epsilon) and not math.isinf(site.epsilon_budget):
        raise GenofedError("the coordinator asked for training without differential privacy; this hospital's "
                           f"budget is epsilon {site.epsilon_budget:g}")
    if requested_delta > site.delta:
        raise GenofedError(f"the coordinator asked for delta {requested_delta:g}, above this hospital's {site.delta:g}")
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


def _evaluate(msg: Message, site: SiteConfig, settings: dict) -> RecordDict:
    data = load_site_tensors(site, _split_seed(site, settings))
    model = _global_model(msg, data.n_variants)
    probs = predict_proba(model, data.val_x)
    scores = binary_metrics(data.val_y, probs)
    eps = 1e-7
    loss = float(-np.mean(data.val_y * np.log(probs + eps) + (1 - data.val_y) * np.log(1 - probs + eps)))
    auc = scores["auc"]
    return RecordDict(
        {
            "metrics": MetricRecord(
                {
                    "num-examples": len(data.val_y),
                    "val-auc": float("nan") if auc is None else float(auc),
                    "val-accuracy": float(scores["accuracy"]),
                    "val-loss": loss,
                }
            )
        }
    )


def _global_model(msg: Message, n_variants: int) -> torch.nn.Module:
    """The coordinator's model, built from the config it sent and checked against our panel."""
    config = ModelConfig.from_dict(json.loads(str(msg.content["config"]["model"])))
    if config.n_variants != n_variants:
        raise GenofedError(
            f"the coordinator's model expects {config.n_variants} variants but this site's panel has {n_variants}: "
            "the site and the federation use different panels"
        )
    model = build_model(config, seed=0)
    model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
    return model


#: The ClientApp `flwr run` loads (pyproject.toml [tool.flwr.app.components]).
app = make_client_app()
