"""Local synthetic genotypes: generators trained at a site, and the checks every synthetic batch
must pass before it is used (fidelity, linkage, structure, associations, privacy).

Modules:

- `encoding`: a genotype as a small categorical state (dosage 0/1/2, or the 4 phased allele pairs).
- `config_base`: what both generators share: settings round trip, sampling, the saved file.
- `vae`: the label-conditional VAE, trainable with or without DP-SGD.
- `gan`: the label-conditional Wasserstein GAN (DP-WGAN under DP).
- `generators`: the generator by name ("vae" or "gan"), so callers never branch on the kind.
- `pipeline`: one site's batch in memory: split, train, sample, drop near copies, validate.
- `checks/`: the fidelity and privacy checks, one metric family per module, and the verdict.

`encoding` and `generators` are light and imported here; the names of the torch/Opacus modules
(`config_base`, `vae`, `gan`, `pipeline`) and of `checks` load on first use.
"""

from __future__ import annotations

from typing import Any

from genofed.common.synthetic.encoding import (
    DOSAGE_STATES,
    PHASED_STATES,
    check_states,
    phased_states,
    states_to_dosages,
    states_to_haplotypes,
)
from genofed.common.synthetic.generators import (
    GENERATORS,
    generator_settings,
    noise_for_budget,
    train_generator,
)

_CONFIG_BASE = {"SyntheticRecords"}
_VAE = {"TrainedVAE", "VAESettings", "dp_noise_for_budget", "load_vae", "train_vae"}
_GAN = {"GANSettings", "TrainedGAN", "gan_noise_for_budget", "load_gan", "train_gan"}
_PIPELINE = {
    "HOLDOUT_FRACTION",
    "ValidatedBatch",
    "filter_and_validate",
    "generate_validated",
    "split_for_generator",
}
_CHECKS = {"Thresholds", "ValidationReport", "record_failures", "validate_synthetic"}


def __getattr__(name: str) -> Any:
    """The names of the modules that import torch, Opacus or scikit-learn, imported on first use."""
    if name in _CONFIG_BASE:
        import genofed.common.synthetic.config_base as config_base

        return getattr(config_base, name)
    if name in _VAE:
        import genofed.common.synthetic.vae as vae

        return getattr(vae, name)
    if name in _GAN:
        import genofed.common.synthetic.gan as gan

        return getattr(gan, name)
    if name in _PIPELINE:
        import genofed.common.synthetic.pipeline as pipeline

        return getattr(pipeline, name)
    if name in _CHECKS:
        import genofed.common.synthetic.checks as checks

        return getattr(checks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DOSAGE_STATES",
    "PHASED_STATES",
    "check_states",
    "phased_states",
    "states_to_dosages",
    "states_to_haplotypes",
    "GENERATORS",
    "generator_settings",
    "noise_for_budget",
    "train_generator",
]
#: and every name `__getattr__` loads on first use
__all__ += sorted(_CONFIG_BASE | _VAE | _GAN | _PIPELINE | _CHECKS)
