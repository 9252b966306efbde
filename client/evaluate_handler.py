"""The ClientApp's evaluate handler: a DP release of how the coordinator's model scores this site.

`evaluate` answers with a score histogram of the validation patients
(`genofed.common.privacy.release`), noisy and charged to the site's ledger as one Gaussian step
unless the site chose no privacy (budget inf, its own choice). Only a run's planned number of
evaluations is answered, with the run's model architecture.
"""

from __future__ import annotations

import hashlib
import math
import time

import numpy as np
import torch
from flwr.app import Context, Message, MetricRecord, RecordDict

from genofed.client.budget import RoundPrivacy, plan_evaluation
from genofed.client.coordinator_request import (
    global_model,
    input_digest,
    model_digest,
    requested_budget,
    run_config_fallbacks,
    site_split_seed,
    whole_number,
)
from genofed.client.kept_replies import KeptReply, keep_reply, replayed
from genofed.client.site import (
    SiteConfig,
    SiteTensors,
    derived_key,
    load_site_tensors,
    site_coalition_cap,
    site_secret,
)
from genofed.client.spend_log import charge_and_log
from genofed.common.model.network import predict_proba
from genofed.common.privacy.ledger import LEDGER_FILE, Charge, PrivacyLedger
from genofed.common.privacy.release import noisy_histogram, release_step, score_histogram


def evaluate(msg: Message, context: Context, site: SiteConfig, settings: dict) -> RecordDict:
    """A DP release of how the coordinator's model scores this site's validation patients.

    The reply is a noisy score histogram (`genofed.common.privacy.release`), charged to the ledger
    as one Gaussian step; the coordinator derives AUC, accuracy and the rest from it. Only a
    run's planned number of evaluations is answered, with the run's model architecture; a site
    without privacy (budget inf, its own choice) sends the exact histogram.
    """
    config = msg.content["config"]
    epsilon, delta = requested_budget(site, config, settings)
    server_round = whole_number(config, "server-round")  # 2.9 was answered, and charged, as round 2
    data = load_site_tensors(site, site_split_seed(site, settings))
    model = global_model(msg, data.n_variants, site)
    private = not math.isinf(epsilon)
    plan_id = str(config.get("plan-id", "unplanned"))
    # what the coordinator sent alone: the same request again gets its kept reply (kept_replies)
    request_digest = input_digest(msg, "", run_config_fallbacks(config, settings))
    again = replayed(site.state_dir, plan_id, "evaluate", server_round, request_digest) if private else None
    if again is not None:
        return again
    epsilon_after, sigma, coalition = math.inf, 0.0, {}
    if not private:  # the site's own choice: no privacy, the exact histogram
        histogram = _histogram(model, data)
    else:
        histogram, epsilon_after, sigma, coalition = _noisy_evaluation(
            msg, site, settings, data, model, epsilon=epsilon, delta=delta, server_round=server_round
        )
    reply = RecordDict(
        {
            "metrics": MetricRecord(
                {
                    "num-examples": data.public_validation,  # public: the declared validation size
                    "val-histogram": [float(v) for v in histogram.reshape(-1)],
                    "val-noise": float(sigma),
                    "epsilon": float(epsilon_after),
                    **coalition,
                }
            )
        }
    )
    if private:  # kept before it leaves, after its charge
        kept = KeptReply(round=server_round, request_digest=request_digest, content=reply)
        keep_reply(site.state_dir, plan_id, "evaluate", kept)
    return reply


def _histogram(model: torch.nn.Module, data: SiteTensors) -> np.ndarray:
    """The exact score histogram of the validation patients under the coordinator's model.

    Computed only once the release is allowed (planned, within the budget): before that, any
    difference in how the computation ends would answer a question about patients for free.
    `score_histogram` counts a non-finite risk in the middle bin, so no crafted model (weights
    that overflow for carriers of chosen variants) can make it fail on some patients only."""
    return score_histogram(data.val_y, predict_proba(model, data.val_x))


def _noisy_evaluation(
    msg: Message,
    site: SiteConfig,
    settings: dict,
    data: SiteTensors,
    model: torch.nn.Module,
    *,
    epsilon: float,
    delta: float,
    server_round: int,
) -> tuple[np.ndarray, float, float, dict[str, float]]:
    """The histogram with Gaussian noise, planned (refused past the run's evaluations or the
    budget, before the model scores anyone) and charged under the ledger's lock. Returns the
    noisy histogram, the site's epsilon after the charge, the noise multiplier per count and,
    when the ledger holds distributed-DP
    training, the site's epsilon against a coordinator and all other sites colluding (the
    release adds to it too: `{"coalition-epsilon": ...}`; empty otherwise, so local-DP replies are
    as they were)."""
    plan_id = str(msg.content["config"].get("plan-id", "unplanned"))
    validation = hashlib.sha256(data.val_x.tobytes() + data.val_y.tobytes()).hexdigest()
    digest = input_digest(
        msg, data.fingerprint + validation, run_config_fallbacks(msg.content["config"], settings)
    )
    with PrivacyLedger.locked_at(site.state_dir / LEDGER_FILE) as ledger:
        ledger.check_rerun(plan_id, server_round, kind="evaluate")
        privacy = plan_evaluation(
            ledger,
            plan_id=plan_id,
            server_round=server_round,
            budget=epsilon,
            delta=delta,
            model=model_digest(msg),
            max_coalition_epsilon=site_coalition_cap(site),
            max_evaluations=site.max_evaluations,
        )
        sigma = privacy.noise_multiplier
        secret = site_secret(site, int(settings.get("seed", 0)))
        seed = derived_key(secret, plan_id, server_round, digest, "evaluate")
        histogram = noisy_histogram(_histogram(model, data), sigma, seed)
        epsilon_after = charge_and_log(
            ledger,
            _evaluation_charge(plan_id, server_round, privacy, digest, delta),
            label=f"round {server_round} evaluation",
            delta=delta,
            site=site,
            limit=epsilon,
        )
        distributed = any(c.coalition_noise_multiplier is not None for c in ledger.charges)
        coalition = {"coalition-epsilon": float(ledger.coalition_epsilon(delta))} if distributed else {}
    return histogram, epsilon_after, sigma, coalition


def _evaluation_charge(
    plan_id: str, server_round: int, privacy: RoundPrivacy, digest: str, delta: float
) -> Charge:
    """The ledger entry of one evaluation release: one Gaussian step (`release_step`), with the
    delta (the coordinator's) its `epsilon_after` was planned at."""
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
        delta=delta,
    )
