"""The secret randomness of DP releases: deterministic in its key, the right distributions, and
Opacus' noise and Poisson sampling drawn from it with Opacus' own arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from opacus.optimizers import DPOptimizer
from scipy import stats
from torch.utils.data import TensorDataset

from genofed.common.privacy.opacus_noise import secret_poisson_loader, use_secret_noise
from genofed.common.privacy.secret_noise import SecretNoise


def test_the_same_key_and_purpose_draw_the_same_numbers_and_any_other_does_not():
    a = SecretNoise(2**255 + 7, "noise").normal((3, 5))
    assert a.shape == (3, 5) and np.array_equal(a, SecretNoise(2**255 + 7, "noise").normal((3, 5)))
    assert not np.array_equal(a, SecretNoise(2**255 + 8, "noise").normal((3, 5)))
    assert not np.array_equal(a, SecretNoise(2**255 + 7, "sampling").normal((3, 5)))
    with pytest.raises(ValueError, match="2\\*\\*256"):
        SecretNoise(2**256, "noise")
    with pytest.raises(ValueError):
        SecretNoise(-1, "noise")


def test_the_draws_are_standard_normal_and_uniform():
    z = SecretNoise(1, "noise").normal(200_001)  # an odd count: the last pair's second draw is dropped
    assert z.shape == (200_001,) and abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert stats.kstest(z, "norm").pvalue > 1e-4
    assert abs(stats.pearsonr(z[:-1], z[1:])[0]) < 0.01
    u = SecretNoise(2, "u").uniform(100_000)
    assert u.min() > 0 and u.max() < 1 and stats.kstest(u, "uniform").pvalue > 1e-4


def test_opacus_adds_the_secret_noise_at_its_own_scale():
    """A zero gradient sum: what the optimizer leaves in p.grad is the noise alone, sigma x C per
    coordinate, drawn again identically from the same key (a replay releases the same numbers)."""

    def noise_of(key: int) -> torch.Tensor:
        weight = torch.nn.Parameter(torch.zeros(50_000))
        optimizer = DPOptimizer(
            torch.optim.SGD([weight], lr=0.0), noise_multiplier=1.5, max_grad_norm=2.0, expected_batch_size=1
        )
        use_secret_noise(optimizer, SecretNoise(key, "noise"))
        weight.summed_grad = torch.zeros(50_000)
        optimizer.add_noise()
        return weight.grad.detach().clone()

    noise = noise_of(9)
    assert abs(float(noise.std()) - 3.0) < 0.05 and noise.dtype == torch.float32
    assert torch.equal(noise, noise_of(9)) and not torch.equal(noise, noise_of(10))
    assert torch.equal(noise, torch.from_numpy(SecretNoise(9, "noise").normal(50_000, np.float32)).mul_(3.0))


def test_the_poisson_loader_samples_at_its_rate_with_empty_batches_allowed():
    dataset = TensorDataset(torch.arange(200, dtype=torch.float32)[:, None], torch.zeros(200))
    loader = secret_poisson_loader(dataset, sample_rate=0.05, noise=SecretNoise(3, "poisson sampling"))
    assert len(loader) == 20  # 1 / rate batches per pass, as Opacus' DPDataLoader
    sizes = [len(yb) for _ in range(50) for _, yb in loader]
    assert abs(np.mean(sizes) - 10) < 0.5  # 200 x 0.05 per batch on average
    empty = secret_poisson_loader(dataset, sample_rate=0.001, noise=SecretNoise(4, "poisson sampling"))
    shapes = {tuple(xb.shape) for xb, _ in empty}
    assert (0, 1) in shapes  # an empty batch keeps the feature shape
    again = secret_poisson_loader(dataset, sample_rate=0.05, noise=SecretNoise(3, "poisson sampling"))
    fresh = secret_poisson_loader(dataset, sample_rate=0.05, noise=SecretNoise(3, "poisson sampling"))
    assert [xb.tolist() for xb, _ in again] == [xb.tolist() for xb, _ in fresh]
