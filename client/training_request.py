"""Reading and refusing a train request: what the coordinator asks, checked before any training.

`round_request` checks a train message in the order a refusal is cheapest (the model, the
training settings, the budget, the synthetic records, the evaluation cap, the augmentation) and
returns a `RoundRequest`: the round as the site will run it. `requested_training` refuses (never
clamps) training settings outside `TRAINING_LIMITS`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from flwr.app import Message

from genofed.client.augmentation import site_augmentation
from genofed.client.coordinator_request import (
    asked_budget,
    global_model,
    input_digest,
    requested_budget,
    run_config_fallbacks,
    site_split_seed,
    whole_number,
)
from genofed.client.site import SiteConfig, SiteTensors, derived_key, load_site_tensors, site_secret
from genofed.client.synthetic_use import check_end_to_end
from genofed.client.trainer import Augment, TrainSettings
from genofed.common.errors import GenofedError
from genofed.common.model.network import FINETUNE_MODES, set_trainable
from genofed.common.privacy.ledger import LEDGER_FILE
from genofed.common.training_limits import MAX_ROUNDS, TRAINING_LIMITS
from genofed.common.util.checks import require, require_choice, require_in_range, to_float


@dataclass(frozen=True)
class RoundRequest:
    """One training round as the site will run it, every part of the request already checked.

    `digest` covers everything the update is computed from (data, augmentation, weights, config);
    `seed` derives from the site's secret and that digest. `request_digest` covers what the
    coordinator sent alone (weights, config, the run config's settings): the same request again is
    answered with the kept reply whatever the site's data has become (`genofed.client.kept_replies`).
    """

    msg: Message
    data: SiteTensors
    model: torch.nn.Module
    anchor: dict[str, torch.Tensor]  # the global weights, FedProx's anchor
    server_round: int
    num_rounds: int  # the run's rounds, which the privacy plan spreads the budget over
    training: TrainSettings
    epsilon: float  # inf: no DP (the site's own choice)
    delta: float
    #: The epsilon the coordinator asked every site for (`epsilon` is this site's, at most it): the
    #: least noise any site of the run can add (`budget.distributed_floor`).
    run_epsilon: float
    evaluations: int  # how many evaluations the run's privacy plan must pay for
    augment: Augment | None
    plan_id: str
    digest: str
    request_digest: str
    seed: int


def round_request(msg: Message, site: SiteConfig, settings: dict, *, masked: bool = False) -> RoundRequest:
    """Check a train message against what this site allows, in the order a refusal is cheapest:
    the model (panel, agreed architecture, finite weights, fine-tuning mode), the training
    settings, the budget, the synthetic records, the evaluation cap and the augmentation.

    `masked`: the message came in SecAgg+'s masked stage. It is part of `request_digest`, so that a
    round's masked reply is never sent again in a plain message (a review: the same weights and
    config sent plain got the kept reply unmasked, the site's own update instead of the sum)."""
    config = msg.content["config"]
    data = load_site_tensors(site, site_split_seed(site, settings))
    model = _trainable_model(msg, data.n_variants, site, str(config.get("finetune", "full")))
    server_round, num_rounds = round_numbers(config)
    training = requested_training(config, settings)
    epsilon, delta = requested_budget(site, config, settings)
    private = not math.isinf(epsilon)
    if data.synthetic is not None:
        check_end_to_end(data.synthetic, private=private, ledger_path=site.state_dir / LEDGER_FILE)
    evaluations = _requested_evaluations(site, config)
    _, augment, augmentation = site_augmentation(str(config.get("augment", "")), site, data, private=private)
    plan_id = str(config.get("plan-id", "unplanned"))
    # the site's own augmentation (its known-causal list included) and the settings taken from the
    # run config are inputs too: a rerun with another one must not reuse the noise
    fallbacks = run_config_fallbacks(config, settings)
    digest = input_digest(msg, data.fingerprint + augmentation, fallbacks)
    secret = site_secret(site, int(settings.get("seed", 0)))
    return RoundRequest(
        msg=msg,
        data=data,
        model=model,
        anchor={k: v.detach().clone() for k, v in model.state_dict().items()},
        server_round=server_round,
        num_rounds=num_rounds,
        training=training,
        epsilon=epsilon,
        delta=delta,
        run_epsilon=asked_budget(config, settings)[0],
        evaluations=evaluations,
        augment=augment,
        plan_id=plan_id,
        digest=digest,
        request_digest=input_digest(msg, "secagg-masked" if masked else "", fallbacks),
        seed=derived_key(secret, plan_id, server_round, digest, "train"),
    )


def round_numbers(config: Mapping[str, Any]) -> tuple[int, int]:
    """The round and the run's rounds the coordinator sent, refused (GenofedError, quoting only
    what the coordinator sent) unless whole numbers with 1 <= server-round <= num-rounds <=
    MAX_ROUNDS. Why: the privacy plan spreads the budget over num-rounds, and a num-rounds of 0 or
    less planned the least noise the plan allows (a privacy review: the budget still held, each
    round projected against it, but the coordinator chose how fast it was spent)."""
    server_round, num_rounds = whole_number(config, "server-round"), whole_number(config, "num-rounds")
    if not 1 <= server_round <= num_rounds <= MAX_ROUNDS:
        raise GenofedError(
            f"the coordinator sent round {server_round} of {num_rounds}: a run has 1 to {MAX_ROUNDS} "
            "rounds, and its round is one of them; refused"
        )
    return server_round, num_rounds


def _trainable_model(msg: Message, n_variants: int, site: SiteConfig, finetune: str) -> torch.nn.Module:
    """The coordinator's model (`global_model`) with the parameters its fine-tuning mode trains."""
    model = global_model(msg, n_variants, site)
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
    evaluations = whole_number({"site-evaluations": 0, **config}, "site-evaluations")
    require(
        evaluations >= 0,
        f"the coordinator asked this site to plan {evaluations} evaluations in this run; refused",
    )
    require(
        evaluations <= site.max_evaluations,
        f"the coordinator asked this site to plan {evaluations} evaluations in this run; it answers at "
        f"most {site.max_evaluations} (node config max-evaluations): each is a privacy release",
    )
    return evaluations


def requested_training(config: Mapping[str, Any], settings: Mapping[str, Any]) -> TrainSettings:
    """The coordinator's training settings, checked: refused (not clamped) when outside `TRAINING_LIMITS`."""
    values = {
        "local-epochs": config.get("local-epochs", settings.get("local-epochs", 1)),
        "batch-size": config.get("batch-size", settings.get("batch-size", 32)),
        "lr": config.get("lr", settings.get("lr", TrainSettings.lr)),
        "clip": config.get("clip", settings.get("clip", TrainSettings.max_grad_norm)),
        "proximal-mu": config.get("proximal-mu", 0.0),
        # absent: the network's 0.9, which every site assumed before the coordinator sent it
        "momentum": config.get("momentum", TrainSettings.momentum),
    }
    for key, value in values.items():
        _require_within_limits(key, value)
    settings_ = TrainSettings(
        epochs=int(values["local-epochs"]),
        batch_size=int(values["batch-size"]),
        lr=float(values["lr"]),
        max_grad_norm=float(values["clip"]),
        proximal_mu=float(values["proximal-mu"]),
        momentum=float(values["momentum"]),
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
    open_low = key == "lr"  # 0 is no training: refused
    require_in_range(
        key,
        number,
        low,
        high,
        low_open=open_low,
        message=asked + f"{key} must be {'above' if open_low else 'at least'} {low:g} and at most {high:g}",
    )
