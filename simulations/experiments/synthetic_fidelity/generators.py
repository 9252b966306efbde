"""Our generators' rows: whether a generator can run, and one trained generator measured at each
sampling temperature."""

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
}


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
    return None


def generator_rows(
    kind: str, epsilon: float, seed: int, ds: Dataset, ref: Reference, sets: EvalSets, config: FidelityConfig
) -> dict[float, dict[str, Any]]:
    """Train `kind` on the whole training half (DP-SGD at `epsilon` per person if finite), sample as
    many people as T holds at each of `config.temperatures`, and measure each sample. Labels are
    all 0: no phenotype is involved here."""
    from genofed.common.privacy.accountant import epsilon_of
    from genofed.common.synthetic.generators import generator_settings, noise_for_budget, train_generator

    settings = generator_settings(kind, seed=seed, epochs=config.epochs)
    x = ds.states(ds.train)
    labels = np.zeros(len(x), dtype=np.int8)
    sigma = (
        None
        if math.isinf(epsilon)
        else noise_for_budget(kind, len(x), settings, epsilon=epsilon, delta=config.delta)
    )
    with single_torch_thread():
        started = time.perf_counter()
        model = train_generator(
            kind, x, labels, settings=settings, noise_multiplier=sigma, n_states=ds.n_states
        )
        seconds = time.perf_counter() - started
    k = len(sets.train_people)
    history = list(getattr(model, "history", []) or [])
    facts = {
        "train_seconds": seconds,
        "noise_multiplier": sigma,
        "epsilon_spent": epsilon_of(history, config.delta) if history else None,
        "epochs": int(settings.epochs),
        "final_loss": _final_loss(model),
    }
    rows = {}
    for temperature in config.temperatures:
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
