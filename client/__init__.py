"""The hospital side: the Flower ClientApp and everything a site computes on its own patients.

Modules:

- `app`: the ClientApp (`make_client_app`): its mods and the describe, train and evaluate
  handlers wired in, a refusal reply for any request the site will not answer.
- `coordinator_request`: what every coordinator message is checked against (the site's budget,
  the model it sent, the digests that pin a request).
- `training_request`: reading and refusing a train request (`round_request`, `TRAINING_LIMITS`).
- `train_handler`: one round of plain training or DP-SGD charged to the site's ledger.
- `evaluate_handler`: a noisy score histogram of the validation patients, charged to the ledger.
- `trainer`: one round's local training, plain or DP-SGD with Opacus, optionally with FedProx.
- `budget`: the site's privacy plan per run, refused before training when over its budget.
- `outbound`: the last gate before a reply leaves: model arrays and whitelisted aggregates only.
- `unwritable`: a site's own file the storage refused to write, in words a refusal may carry.
- `site`: which hospital a node serves (node config or partition id) and its data, loaded once.
- `declared_size`: the cohort size a hospital makes public when it declares none.
- `secagg`: the site's side of Flower's SecAgg+ (the same training, a masked FitRes).
- `augmentation`: the site's genotype augmentation in local training.
- `synth`: `genofed synth`, a site's own validated synthetic cohort.
- `synth_checks`: `genofed synth`'s refusals before anything is read, trained or charged.
- `synthetic_use`: a site's synthetic cohort in its training, refused where it would break DP.
- `agent/`: the deployed hospital: its agent, audit log, pinning and keys.

Never imports `genofed.server`. `budget` is light and imported here; the names of the modules
that import torch, Opacus or Flower load on first use.
"""

from __future__ import annotations

from typing import Any

from genofed.client.budget import RoundPrivacy, plan_evaluation, plan_round
from genofed.common.privacy.release import EVALUATION_NOISE_FLOOR, EVALUATION_NOISE_SCALE, evaluation_noise

_APP = {
    "FAILED",
    "REFUSED",
    "TRAINING_LIMITS",
    "architecture_digest",
    "input_digest",
    "make_client_app",
    "model_digest",
    "requested_training",
    "spend_limit",
}
_TRAINER = {"OPTIMIZERS", "Augment", "TrainResult", "TrainSettings", "train_model"}
_OUTBOUND = {"ALLOWED_METRICS", "BLOCKED", "OutboundViolation", "check_outbound", "outbound_guard"}
_SITE = {
    "SiteConfig",
    "SiteConfigError",
    "SiteTensors",
    "derived_seed",
    "load_site_tensors",
    "resolve_site",
    "site_secret",
    "split_seed",
    "validation_split",
}
_DECLARED_SIZE = {"declared_cohort_size"}
_SECAGG = {"is_secagg_fit", "secagg_mod", "train_secagg"}
_AUGMENTATION = {"augment_callable", "site_augmentation"}
_SYNTH = {"SynthOptions", "synthesize"}
_SYNTH_INPUT = {"impute_mode", "phased_haplotypes"}
_SYNTHETIC_USE = {
    "SUMMARY_FILE",
    "SyntheticCohort",
    "SyntheticCohortError",
    "check_end_to_end",
    "load_synthetic",
    "synthetic_count",
}


def __getattr__(name: str) -> Any:
    """The names of the modules that import torch, Opacus or Flower, imported on first use."""
    if name in _APP:
        import genofed.client.app as app_module

        return getattr(app_module, name)
    if name in _TRAINER:
        import genofed.client.trainer as trainer

        return getattr(trainer, name)
    if name in _OUTBOUND:
        import genofed.client.outbound as outbound

        return getattr(outbound, name)
    if name in _SITE:
        import genofed.client.site as site

        return getattr(site, name)
    if name in _DECLARED_SIZE:
        import genofed.client.declared_size as declared_size

        return getattr(declared_size, name)
    if name in _SECAGG:
        import genofed.client.secagg as secagg

        return getattr(secagg, name)
    if name in _AUGMENTATION:
        import genofed.client.augmentation as augmentation

        return getattr(augmentation, name)
    if name in _SYNTH:
        import genofed.client.synth as synth

        return getattr(synth, name)
    if name in _SYNTH_INPUT:
        import genofed.client.synth_input as synth_input

        return getattr(synth_input, name)
    if name in _SYNTHETIC_USE:
        import genofed.client.synthetic_use as synthetic_use

        return getattr(synthetic_use, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EVALUATION_NOISE_FLOOR",
    "EVALUATION_NOISE_SCALE",
    "RoundPrivacy",
    "evaluation_noise",
    "plan_evaluation",
    "plan_round",
]
#: and every name `__getattr__` loads on first use
__all__ += sorted(
    _APP
    | _TRAINER
    | _OUTBOUND
    | _SITE
    | _DECLARED_SIZE
    | _SECAGG
    | _AUGMENTATION
    | _SYNTH
    | _SYNTH_INPUT
    | _SYNTHETIC_USE
)
