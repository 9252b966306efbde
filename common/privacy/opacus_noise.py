"""Opacus' DP-SGD with its secret randomness from a `SecretNoise` (common.privacy.secret_noise,
which says why): `use_secret_noise` makes one optimizer draw its Gaussian noise from it, and
`secret_poisson_loader` is Opacus' DPDataLoader with its Poisson draws from one. The arithmetic is
Opacus' own; only the source of the random numbers changes. `private_dp_sgd` puts both on
Opacus' `make_private` at the rate of a public row count, as every DP-SGD run of genofed trains.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, default_collate

# isort: off
# Imported before opacus: it undoes Opacus' logging.basicConfig() at import (see model.py).
import genofed.common.model.network  # noqa: F401
from genofed.common.privacy.accountant import sample_rate
from genofed.common.privacy.secret_noise import SecretNoise
from genofed.common.privacy.snapping import snap_tensor
from opacus import PrivacyEngine
from opacus.data_loader import dtype_safe, shape_safe, wrap_collate_with_empty
from opacus.optimizers.optimizer import DPOptimizer, _check_processed_flag, _mark_as_processed
from opacus.utils.uniform_sampler import UniformWithReplacementSampler
# isort: on


def gaussian_like(noise: SecretNoise, reference: torch.Tensor, std: float) -> torch.Tensor:
    """N(0, std^2) noise from `noise` of `reference`'s shape, dtype and device (zeros when std is 0)."""
    if std == 0:
        return torch.zeros_like(reference)
    shape = tuple(reference.shape)
    if reference.dtype == torch.float32:  # the models' parameters: float32 arithmetic suffices
        return torch.from_numpy(noise.normal(shape, np.float32)).mul_(std).to(device=reference.device)
    return torch.from_numpy(noise.normal(shape) * std).to(dtype=reference.dtype, device=reference.device)


def use_secret_noise(optimizer: DPOptimizer, noise: SecretNoise) -> DPOptimizer:
    """Make Opacus' `optimizer` draw its Gaussian noise from `noise` instead of a torch generator,
    and round each step's noisy gradient to the public grid of that noise (snapping).

    The step is Opacus' `add_noise` (DPOptimizer's and the ghost-clipping optimizer's are the same):
    for each parameter, its clipped gradient sum plus N(0, (noise multiplier x max_grad_norm)^2),
    the multiplier Opacus' adaptive clipping adjusts if it set one, then rounded to
    `grid_for(sd)` (`common.privacy.snapping`). Everything the optimizer computes after it (the
    scaling, momentum, Adam, the weights) is then a function of snapped values and public ones, so
    no float bit of a reply says more than the snapped noisy gradients do, whatever the momentum,
    batch or starting weights a coordinator asks for. Returns the optimizer."""

    def add_noise(self: DPOptimizer) -> None:
        std = getattr(self, "_adjusted_noise_multiplier", self.noise_multiplier) * self.max_grad_norm
        for p in self.params:
            _check_processed_flag(p.summed_grad)
            noisy = p.summed_grad + gaussian_like(noise, p.summed_grad, std)
            p.grad = (snap_tensor(noisy, std) if std > 0 else noisy).view_as(p)
            _mark_as_processed(p.summed_grad)

    optimizer.generator = None  # nothing is drawn from a torch generator any more
    optimizer.add_noise = types.MethodType(add_noise, optimizer)
    return optimizer


class SecretPoissonSampler(UniformWithReplacementSampler):
    """Opacus' Poisson sampler (each record in each batch with probability `sample_rate`, 1 /
    sample_rate batches) with its draws from a `SecretNoise`: which patients a step used is as
    secret as its noise (the privacy amplification by sampling assumes nobody knows it).

    The number of batches is `poisson_steps(sample_rate)`, not Opacus' int(1 / sample_rate): the
    rates genofed plans are 1 / k (`accountant.sample_rate`), and for k = 93, 99, 105, ... the
    float 1 / (1 / k) falls just below k, so Opacus ran k - 1 steps and its accountant read the
    rate back as 1 / (k - 1): the charge differed from the plan (a reviewer: a synth run charged
    epsilon 3.004 against the 3 planned, then refused to write its batch)."""

    def __init__(self, *, num_samples: int, sample_rate: float, noise: SecretNoise) -> None:
        super().__init__(num_samples=num_samples, sample_rate=sample_rate, steps=poisson_steps(sample_rate))
        self._noise = noise

    def __iter__(self):
        for _ in range(self.steps):
            yield np.flatnonzero(self._noise.uniform(self.num_samples) < self.sample_rate).tolist()


def poisson_steps(sample_rate: float) -> int:
    """Batches per epoch at Poisson rate `sample_rate`: k for a rate of 1 / k (to float precision),
    else Opacus' int(1 / sample_rate). Opacus' engine reads the rate back as 1 / this, so a planned
    1 / k is read back exactly."""
    inverse = 1.0 / sample_rate
    nearest = round(inverse)
    return int(nearest) if abs(inverse - nearest) <= 1e-9 * inverse else int(inverse)


def secret_poisson_loader(dataset: Dataset, *, sample_rate: float, noise: SecretNoise) -> DataLoader:
    """Opacus' DPDataLoader (Poisson batches; an empty batch is a tensor with no rows) over
    `dataset`, its sampling drawn from `noise`: the same loader Opacus builds, with the sampler
    above."""
    first = dataset[0]
    return DataLoader(
        dataset,
        batch_sampler=SecretPoissonSampler(num_samples=len(dataset), sample_rate=sample_rate, noise=noise),
        collate_fn=wrap_collate_with_empty(
            collate_fn=default_collate,
            batch_first=True,
            rand_on_empty=False,
            sample_empty_shapes=[(0, *shape_safe(x)) for x in first],
            dtypes=[dtype_safe(x) for x in first],
        ),
    )


def private_dp_sgd(
    engine: PrivacyEngine,
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    dataset: Dataset,
    *,
    rows: int,
    batch_size: int,
    noise_multiplier: float,
    max_grad_norm: float,
    noise_key: int,
    **make_private_options: Any,
) -> tuple:
    """Opacus' `engine.make_private` for DP-SGD over `dataset`, with its Poisson batches and its
    Gaussian noise both drawn from `noise_key` (a torch generator would keep 32 bits of it).
    Returns what `make_private` returns (module, optimizer, [criterion,] loader).

    `rows`: the training rows as far as anyone outside may know (a site's declared size): the
    Poisson rate (`accountant.sample_rate(rows, batch_size)`), so the number of steps, and Opacus'
    divisor of the noisy gradient sum follow from it rather than from the actual count, so that
    none of them changes when one patient is added or removed (what the RDP accountant assumes).
    Opacus then reads the same rate back from the loader. `make_private_options`: the rest of
    `make_private`'s arguments (a criterion, a grad_sample_mode)."""
    rate = sample_rate(rows, batch_size)
    poisson = secret_poisson_loader(
        dataset, sample_rate=rate, noise=SecretNoise(noise_key, "poisson sampling")
    )
    private = engine.make_private(
        module=module,
        optimizer=optimizer,
        data_loader=poisson,
        noise_multiplier=float(noise_multiplier),
        max_grad_norm=max_grad_norm,
        poisson_sampling=False,
        **make_private_options,
    )
    private_optimizer = private[1]
    use_secret_noise(private_optimizer, SecretNoise(noise_key, "noise"))
    private_optimizer.expected_batch_size = max(1, int(rows * rate))
    return private
