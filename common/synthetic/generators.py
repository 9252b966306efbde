"""The site's generator by name: "vae" (conditional VAE), "gan" (conditional WGAN; DP-WGAN
under DP) or "reference" (mosaics of a public reference panel conditioned on the site's released
statistics; needs the panel). One switch, so `genofed synth`, the training path and the
experiments never branch on the kind themselves. The generators share one interface:
`train(...) -> trained` with `.sample(n, labels=, case_fraction=, seed=) -> SyntheticRecords`,
`.history` (the DP steps to charge to the site's ledger) and `.save(path)`.

Under DP the VAE and GAN also release the site's (controls, cases) counts with noise
(`site_release.case_count_noise`) so that their synthetic labels follow a released case share;
`noise_for_budget` counts that release, and the pipeline adds it to the batch's history. The
reference generator's one release already contains its counts."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from genofed.common.privacy.accountant import Step
from genofed.common.synthetic.encoding import DOSAGE_STATES

if TYPE_CHECKING:
    from genofed.common.synthetic.reference_panel import ReferencePanel

GENERATORS = ("vae", "gan", "reference")


def _module(kind: str) -> Any:
    """The generator's module, imported on first use (each pulls in Opacus)."""
    if kind == "vae":
        from genofed.common.synthetic import vae

        return vae
    if kind == "gan":
        from genofed.common.synthetic import gan

        return gan
    if kind == "reference":
        from genofed.common.synthetic import reference

        return reference
    raise ValueError(f"unknown generator {kind!r}; choose one of {', '.join(GENERATORS)}")


def generator_settings(kind: str, *, seed: int, epochs: int | None = None) -> Any:
    """The kind's default settings (VAESettings / GANSettings / ReferenceSettings) with the run's
    seed and, if given, epochs (the reference generator has none: ValueError)."""
    module = _module(kind)
    if kind == "reference":
        if epochs is not None:
            raise ValueError("the reference generator copies haplotypes and trains no epochs; leave it out")
        return module.ReferenceSettings(seed=int(seed))
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
    reference: ReferencePanel | None = None,
    focus: np.ndarray | None = None,
    noise_rng: np.random.Generator | None = None,
    public_rows: int | None = None,
) -> Any:
    """Train a generator of `kind` (see the module docstring); DP when noise_multiplier is given.

    The reference generator takes dosages (n_states 3), the public `reference` panel, an optional
    `focus` (the variants whose per-class frequencies are released). `noise_rng` is the DP noise's
    source for every kind (the VAE's and GAN's Poisson sampling too); default secret randomness,
    only experiments, tests and simulations pass a seeded one. `public_rows` (VAE and GAN under
    DP): the training rows their DP-SGD's rate and steps follow (`opacus_noise.private_dp_sgd`); default
    the actual count. The reference generator's one release does not depend on it."""
    module = _module(kind)
    if kind == "reference":
        if reference is None:
            raise ValueError("the reference generator needs a reference panel")
        if n_states != DOSAGE_STATES:
            raise ValueError("the reference generator reads dosages; its records are phased anyway")
        return module.train_reference(
            genotypes,
            labels,
            reference=reference,
            settings=settings,
            covariates=covariates,
            noise_multiplier=noise_multiplier,
            focus=focus,
            noise_rng=noise_rng,
        )
    train = module.train_vae if kind == "vae" else module.train_gan
    return train(
        genotypes,
        labels,
        covariates=covariates,
        settings=settings,
        noise_multiplier=noise_multiplier,
        n_states=n_states,
        noise_rng=noise_rng,
        public_rows=public_rows,
    )


def planned_history(
    kind: str, n: int, settings: Any, noise_multiplier: float, count_noise: float
) -> list[Step]:
    """The steps a `kind` generator charges on `n` patients at `noise_multiplier`, known before it
    trains (what `noise_for_budget` calibrates): the reference generator's one release; the VAE's
    and GAN's case-count release at `count_noise`, then their DP-SGD epochs."""
    from genofed.common.privacy.release import release_step

    if kind == "reference":
        return [release_step(noise_multiplier)]
    from genofed.common.synthetic.config_base import dp_sgd_step

    training = dp_sgd_step(n, int(settings.batch_size), int(settings.epochs), noise_multiplier)
    return [release_step(count_noise), training]


def noise_for_budget(
    kind: str,
    n: int,
    settings: Any,
    *,
    epsilon: float,
    delta: float,
    history: list[Step] | tuple = (),
    count_noise: float | None = None,
) -> float:
    """Noise multiplier that keeps `history` + this generator's privacy cost on `n` patients within
    `epsilon`: for the VAE and GAN their training plus the case-count release at `count_noise`
    (default `site_release.CASE_COUNT_NOISE`; pass the same to `generate_validated`), for the
    reference generator its one release."""
    module = _module(kind)
    if kind == "reference":
        return module.reference_noise_for_budget(epsilon=epsilon, delta=delta, history=history)
    from genofed.common.privacy.release import release_step
    from genofed.common.synthetic.site_release import CASE_COUNT_NOISE

    calibrate = module.dp_noise_for_budget if kind == "vae" else module.gan_noise_for_budget
    history = [*history, release_step(CASE_COUNT_NOISE if count_noise is None else count_noise)]
    return calibrate(n, settings, epsilon=epsilon, delta=delta, history=history)
