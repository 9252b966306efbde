"""Our generators' rows: whether a generator can run, and one trained generator measured at each
sampling temperature (the reference generator: at 1 only, on a dataset with a public panel)."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from genofed.common.errors import GenofedError
from genofed.common.util.torch_threads import single_torch_thread
from genofed.simulations.experiments.synthetic_fidelity.config import FidelityConfig
from genofed.simulations.experiments.synthetic_fidelity.datasets import Dataset, EvalSets
from genofed.simulations.experiments.synthetic_fidelity.metrics import Reference, measure

#: What each generator module must offer for its rows to be run.
GENERATOR_API = {
    "vae": ("train_vae", "dp_noise_for_budget", "VAESettings"),
    "gan": ("train_gan", "gan_noise_for_budget", "GANSettings"),
    "reference": ("train_reference", "reference_noise_for_budget", "ReferenceSettings"),
}


def runs_on(kind: str, ds: Dataset) -> bool:
    """Whether `kind` has rows on `ds`: the reference generator needs the dataset's public panel
    (only "805site" has one); the VAE and GAN run on every dataset."""
    return ds.panel is not None and ds.phased if kind == "reference" else True


def generator_temperatures(kind: str, config: FidelityConfig) -> tuple[float, ...]:
    """The sampling temperatures of `kind`'s rows: the reference generator copies haplotypes and
    has no temperature to lower (1 only)."""
    return (1.0,) if kind == "reference" else config.temperatures


def settings_of(kind: str, seed: int, config: FidelityConfig) -> Any:
    """The generator's settings for one run (the reference generator trains no epochs)."""
    from genofed.common.synthetic.generators import generator_settings

    return generator_settings(kind, seed=seed, epochs=None if kind == "reference" else config.epochs)


def generator_available(kind: str) -> str | None:
    """None if the generator can be imported and offers `GENERATOR_API[kind]`, else why not:
    a generator that fails to import must not stop the reference rows."""
    try:
        module = _generator_module(kind)
    except Exception as exc:  # a half-written generator module must not stop the reference rows
        return f"{kind}: not available ({type(exc).__name__}: {exc})"
    if module is None:
        return f"{kind}: not available (common/synthetic/{kind}.py does not exist)"
    missing = [name for name in GENERATOR_API[kind] if not hasattr(module, name)]
    name = f"genofed.common.synthetic.{kind}"
    return f"{kind}: not available ({name} lacks {', '.join(missing)})" if missing else None


def _generator_module(kind: str) -> Any:
    """The generator's module (torch loads with it), None for an unknown kind."""
    if kind == "vae":
        import genofed.common.synthetic.vae as vae

        return vae
    if kind == "gan":
        import genofed.common.synthetic.gan as gan

        return gan
    if kind == "reference":
        import genofed.common.synthetic.reference as reference

        return reference
    return None


def generator_rows(
    kind: str, epsilon: float, seed: int, ds: Dataset, ref: Reference, sets: EvalSets, config: FidelityConfig
) -> dict[float, dict[str, Any]]:
    """Train `kind` on the whole training half (DP at `epsilon` per person if finite), sample as
    many people as T holds at each of its temperatures, and measure each sample. Labels are all 0:
    no phenotype is involved here.

    VAE and GAN: DP-SGD on phased states. Reference: the site release of the training half's
    dosages (one Gaussian release at `epsilon`), mosaics of `ds.panel`. Every kind's DP noise is
    drawn from a generator seeded with (split_seed, seed), so a rerun is the same: an experiment,
    not a hospital."""
    from genofed.common.privacy.accountant import epsilon_of
    from genofed.common.synthetic.generators import noise_for_budget, train_generator

    settings = settings_of(kind, seed, config)
    reference = kind == "reference"
    x = ds.dosages(ds.train) if reference else ds.states(ds.train)
    labels = np.zeros(len(x), dtype=np.int8)
    sigma = (
        None
        if math.isinf(epsilon)
        else noise_for_budget(kind, len(x), settings, epsilon=epsilon, delta=config.delta)
    )
    # the DP noise (and the VAE's and GAN's Poisson sampling) from a generator seeded by
    # (split_seed, seed): an experiment's rerun is the same; a hospital's is secret randomness
    extra: dict[str, Any] = {
        "noise_rng": np.random.default_rng([config.split_seed, seed, 2]),
        **({"reference": ds.panel} if reference else {"n_states": ds.n_states}),
    }
    with single_torch_thread():
        started = time.perf_counter()
        model = train_generator(kind, x, labels, settings=settings, noise_multiplier=sigma, **extra)
        seconds = time.perf_counter() - started
    k = len(sets.train_people)
    history = list(getattr(model, "history", []) or [])
    facts = {
        "train_seconds": seconds,
        "noise_multiplier": sigma,
        "epsilon_spent": epsilon_of(history, config.delta) if history else None,
        "epochs": getattr(settings, "epochs", None),
        "final_loss": _final_loss(model),
    }
    if reference:
        facts["populations_matched"] = len(model.population_weights)
    rows = {}
    for temperature in generator_temperatures(kind, config):
        sample = model.sample(
            k, labels=np.zeros(k, dtype=np.int8), seed=10_000 + seed, temperature=temperature
        )
        if ds.phased:
            if sample.haplotypes is None:
                raise GenofedError(f"{kind} trained on phased states returned no haplotypes")
            synthetic = sample.haplotypes.transpose(0, 2, 1).reshape(-1, ds.n_variants)
        else:
            synthetic = sample.genotypes
        rows[temperature] = {**measure(ds, ref, sets, synthetic), **facts, "temperature": temperature}
    return rows


def row_name(kind: str, temperature: float) -> str:
    """The table row of a generator sampled at `temperature` ("vae", "vae T=0.7")."""
    return kind if temperature == 1.0 else f"{kind} T={temperature:g}"


def _final_loss(model: Any) -> float | None:
    losses = getattr(model, "losses", None)
    if isinstance(losses, dict):  # a GAN may keep several curves
        return None
    return float(losses[-1]) if losses else None
