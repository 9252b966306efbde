"""The site's generator by name: "vae" (conditional VAE) or "gan" (conditional WGAN; DP-WGAN
under DP). One switch, so `genofed synth`, the training path and the experiments never branch on
the kind themselves. Both generators share one interface: `train(...) -> trained` with
`.sample(n, labels=, case_fraction=, seed=) -> SyntheticRecords`, `.history` (the DP steps to
charge to the site's ledger) and `.save(path)`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from genofed.common.privacy.accountant import Step
from genofed.common.synthetic.encoding import DOSAGE_STATES

GENERATORS = ("vae", "gan")


def _module(kind: str) -> Any:
    """The generator's module, imported on first use (each pulls in Opacus)."""
    if kind == "vae":
        from genofed.common.synthetic import vae

        return vae
    if kind == "gan":
        from genofed.common.synthetic import gan

        return gan
    raise ValueError(f"unknown generator {kind!r}; choose one of {', '.join(GENERATORS)}")


def generator_settings(kind: str, *, seed: int, epochs: int | None = None) -> Any:
    """The kind's default settings (VAESettings / GANSettings) with the run's seed and, if given, epochs."""
    module = _module(kind)
    settings = module.VAESettings() if kind == "vae" else module.GANSettings()
    settings = replace(settings, seed=int(seed))
    return replace(settings, epochs=int(epochs)) if epochs is not None else settings


def train_generator(
    kind: str,
    genotypes: np.ndarray,
    labels: np.ndarray,
    *,
    settings: Any,
    covariates: np.ndarray | None = None,
    noise_multiplier: float | None = None,
    n_states: int = DOSAGE_STATES,
) -> Any:
    """Train a generator of `kind` (see the module docstring); DP-SGD when noise_multiplier is given."""
    module = _module(kind)
    train = module.train_vae if kind == "vae" else module.train_gan
    return train(
        genotypes,
        labels,
        covariates=covariates,
        settings=settings,
        noise_multiplier=noise_multiplier,
        n_states=n_states,
    )


def noise_for_budget(
    kind: str, n: int, settings: Any, *, epsilon: float, delta: float, history: list[Step] | tuple = ()
) -> float:
    """Noise multiplier that keeps `history` + this generator's training on `n` patients within `epsilon`."""
    module = _module(kind)
    calibrate = module.dp_noise_for_budget if kind == "vae" else module.gan_noise_for_budget
    return calibrate(n, settings, epsilon=epsilon, delta=delta, history=history)
