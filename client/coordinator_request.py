"""What every coordinator message is checked against before a site computes on its patients.

The budget a site will spend (`spend_limit`), the model the coordinator sent (built, checked
against the site's panel, the architecture it agreed to and for finite weights) and the digests
that pin a request: `input_digest` (what a round is computed from, so the ledger recognises a
rerun), `model_digest` and `architecture_digest` (what node config `model-digest` pins).
Shared by the train and evaluate handlers.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

import torch
from flwr.app import Message

from genofed.client.site import SiteConfig, split_seed
from genofed.common.errors import GenofedError
from genofed.common.model.network import ModelConfig, build_model

#: The largest weight, bias or column scale a site accepts from the coordinator. Trained models
#: stay far below it (the largest values are the covariates' column scale, about 10 at epsilon 1
#: on a 20,000-variant panel, server/training_rule.py; the network's initial weights are below
#: 0.3; the empirical privacy audit's crafted models pass it). Without a
#: bound, a finite model can overflow to inf - inf = NaN on the patients who carry chosen variants
#: only (a column scale of 3.4e38 with weights +10 / -10): whether the round's arithmetic stays
#: finite would then tell the coordinator what patients carry, outside any DP accounting. Within
#: it, on encoded inputs of a few units: the logistic logit is at most V x 2 x 1e12 (4e16 at
#: 20,000 variants); the network's tanh layers keep its hidden units in [-1, 1], so its logit is
#: at most 17 x 1e6 and a patient's squared gradient norm at most about 5e5 x (1e6)^4 = 5e29,
#: all far inside float32 (3.4e38).
MAX_ABS_WEIGHT = 1e6


def site_split_seed(site: SiteConfig, settings: dict) -> int:
    """The site's validation split seed under the run's `seed` setting (`split_seed`)."""
    return split_seed(site, int(settings.get("seed", 0)))


def asked_budget(config: Mapping[str, Any], settings: Mapping[str, Any]) -> tuple[float, float]:
    """The (epsilon, delta) a train or evaluate message asks for: its config's, else the run
    config's (`RUN_CONFIG_FALLBACKS`). Refused when neither names an epsilon: a ServerApp of one's
    own that leaves it out (a Flower user's walkthrough) would otherwise have had every simulated
    hospital train without differential privacy, silently; genofed's own sends inf for that."""
    if "epsilon" not in config and "epsilon" not in settings:
        raise GenofedError(
            "the coordinator's message names no epsilon, and neither does the run config: this "
            "hospital does not guess its privacy level; send epsilon in the message's config (inf to "
            "train without differential privacy)"
        )
    return (
        float(config.get("epsilon", settings.get("epsilon"))),
        float(config.get("delta", settings.get("delta", 1e-5))),
    )


def requested_budget(
    site: SiteConfig, config: Mapping[str, Any], settings: Mapping[str, Any]
) -> tuple[float, float]:
    """`spend_limit` for the (epsilon, delta) a train or evaluate message asks for."""
    return spend_limit(site, *asked_budget(config, settings))


def spend_limit(site: SiteConfig, requested_epsilon: float, requested_delta: float) -> tuple[float, float]:
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


def run_limit_note(site: SiteConfig, run_epsilon: float) -> str:
    """What a budget refusal adds when the limit it hit is the run's epsilon, not the hospital's
    own budget: the refusal's words ("raise the site's budget") would send the hospital to raise a
    budget that is not the limit (an operator's audit: a site with budget 100 was told to raise
    it, in a run asking for epsilon 8 after an earlier run had spent 7.96). "" otherwise."""
    own = site.epsilon_budget
    if own is None or not run_epsilon < own:
        return ""
    return (
        f"(The limit here is this run's epsilon {run_epsilon:g}, below this hospital's own budget of "
        f"{own:g}: a run's epsilon caps what the hospital's ledger may reach by the run's end, earlier "
        "runs included, and only the coordinator can set it higher.)"
    )


#: Settings a site takes from the run config when a message leaves them out (`requested_training`,
#: `requested_budget`): the coordinator controls the run config too.
RUN_CONFIG_FALLBACKS = ("local-epochs", "batch-size", "lr", "clip", "epsilon", "delta")


def whole_number(config: Mapping[str, Any], key: str) -> int:
    """The coordinator's `key` as an int, refused (GenofedError, quoting only what it sent) unless
    a whole number (a bool is none: JSON's true read as 1)."""
    value = config.get(key)
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or number != int(number):
        raise GenofedError(f"the coordinator sent {key}={value!r}, not a whole number; refused")
    return int(number)


def run_config_fallbacks(config: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings this message leaves to the run config, with the values the site will use."""
    return {key: settings[key] for key in RUN_CONFIG_FALLBACKS if key not in config and key in settings}


def input_digest(msg: Message, data_fingerprint: str, fallbacks: Mapping[str, Any] | None = None) -> str:
    """SHA-256 of everything a release is computed from: the site's data (and split), the global
    weights, the message's config and `fallbacks`, what the message left to the run config
    (`run_config_fallbacks`; none when the message names every setting, as genofed's ServerApp's do,
    so their digests and noise draws are as before).

    Why the fallbacks: the coordinator controls the run config too. Hashing the message alone let
    one message, sent again in a run whose run config changed the clip, pass as a free rerun with
    the same noise draw; two such releases cancel the noise (a security audit read 74 of 74
    patients' labels that way)."""
    digest = hashlib.sha256(data_fingerprint.encode())
    arrays = msg.content["arrays"]
    for key in sorted(arrays.keys()):
        digest.update(key.encode())
        digest.update(arrays[key].numpy().tobytes())
    config = msg.content["config"]
    digest.update(json.dumps({k: config[k] for k in sorted(config.keys())}, default=str).encode())
    if fallbacks:
        digest.update(json.dumps(dict(fallbacks), sort_keys=True, default=str).encode())
    return digest.hexdigest()


def sent_model_config(msg: Message) -> dict[str, Any]:
    """The model architecture the coordinator sent in `msg` (`model_config_in` its config)."""
    return model_config_in(msg.content["config"])


def model_config_in(config: Mapping[str, Any]) -> dict[str, Any]:
    """The model architecture a train or evaluate config carries (its `model`, JSON), refused in
    one line when it is missing or no JSON object: a ServerApp of one's own that left it out met a
    KeyError, answered as "the site hit an internal error"."""
    sent = config.get("model")
    try:
        architecture = json.loads(str(sent)) if sent is not None else None
    except ValueError:
        architecture = None
    if not isinstance(architecture, dict):
        raise GenofedError(
            "the coordinator's message has no model architecture (its config's `model`, the JSON of the "
            "model config) or one that is no JSON object; refused"
        )
    return architecture


def model_digest(msg: Message) -> str:
    """SHA-256 of the model architecture the coordinator sent (its config, not its weights)."""
    return architecture_digest(sent_model_config(msg))


def architecture_digest(config: Mapping[str, Any]) -> str:
    """SHA-256 of a model config's JSON with sorted keys: what node config `model-digest` pins."""
    return hashlib.sha256(json.dumps(dict(config), sort_keys=True).encode()).hexdigest()


def global_model(msg: Message, n_variants: int, site: SiteConfig) -> torch.nn.Module:
    """The coordinator's model, built from the config it sent and checked against our panel, against
    the architecture the hospital agreed to (node config `model-digest`, set at `hospital check`),
    and for finite weights."""
    if site.model_digest and model_digest(msg) != site.model_digest:
        raise GenofedError(
            "the coordinator sent a model architecture this hospital did not agree to (node config "
            "model-digest); refused"
        )
    config = ModelConfig.from_dict(sent_model_config(msg))
    if config.n_outputs != 1:  # a federation trains one disease label (0/1): one logit per patient
        raise GenofedError(
            f"the coordinator's model has {config.n_outputs} outputs; a hospital trains and evaluates one "
            "disease label (one output): refused"
        )
    if config.n_variants != n_variants:
        raise GenofedError(
            f"the coordinator's model expects {config.n_variants} variants but this site's panel has "
            f"{n_variants}: the site and the federation use different panels"
        )
    model = build_model(config, seed=0)
    weights = msg.content["arrays"].to_torch_state_dict()
    expected = model.state_dict()
    # every array as the site's own model has it: an integer array would be cast on loading and
    # pass the checks below unseen (an int64 column scale of 9.2e18 did, in a security audit)
    wrong = sorted(k for k, t in weights.items() if k in expected and t.dtype != expected[k].dtype)
    if wrong:
        raise GenofedError(
            f"the coordinator's model sends {', '.join(wrong)} as another number type than this site's "
            "model; refused"
        )
    if not all(bool(torch.isfinite(t).all()) for t in weights.values() if t.is_floating_point()):
        raise GenofedError("the coordinator's model has non-finite weights (NaN or inf); refused")
    if any(float(t.abs().max()) > MAX_ABS_WEIGHT for t in weights.values() if t.numel()):
        raise GenofedError(
            f"the coordinator's model has weights or scales above {MAX_ABS_WEIGHT:,.0f} in size, which no "
            "training here produces and whose arithmetic could overflow for some patients only; refused"
        )
    model.load_state_dict(weights)
    return model
