"""The secret randomness of DP releases: deterministic in its key, the right distributions, and
Opacus' noise and Poisson sampling drawn from it with Opacus' own arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from opacus.optimizers import DPOptimizer
from scipy import stats
from torch.utils.data import TensorDataset

from genofed.common.data.cohort import GenotypeMatrix
from genofed.common.data.variant_summary import exact_counts, noisy_summary
from genofed.common.privacy.opacus_noise import secret_poisson_loader, use_secret_noise
from genofed.common.privacy.secret_noise import SecretNoise, noise_key_from
from genofed.common.privacy.snapping import snap_tensor
from genofed.common.synthetic.site_release import release_case_count, release_site


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
    coordinate, drawn again identically from the same key (a replay releases the same numbers),
    rounded to its grid (3 / 16 rounded down to a power of two, 1/8: common.privacy.snapping)."""

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
    drawn = torch.from_numpy(SecretNoise(9, "noise").normal(50_000, np.float32)).mul_(3.0)
    assert torch.equal(noise, snap_tensor(drawn, 3.0))


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


def test_local_releases_draw_their_noise_from_the_keystream_secret_unless_a_caller_seeds_it():
    """The DP variant summary, the reference generator's site release and the case count: the noise
    is the keystream's, keyed by 32 bytes of a seeded caller's generator (reproducible) or by 256
    secret bits (two releases of the same data differ), never numpy's PCG64 output."""
    dosages = np.random.default_rng(0).integers(0, 3, size=(40, 30)).astype(np.int8)
    genotypes = GenotypeMatrix(dosages, [f"p{i}" for i in range(40)], [f"1:{i + 1}:A:G" for i in range(30)])
    called, alt = exact_counts(genotypes)
    summary = noisy_summary("x", genotypes, noise_multiplier=2.0, epsilon=1, delta=1e-5, rng=_seeded(3))
    sd = summary.release.noise_sd
    expected = sd * SecretNoise(noise_key_from(_seeded(3)), "variant summary").normal(30)
    assert np.allclose(summary.called - called, expected)
    assert not np.allclose(summary.called - called, _seeded(3).normal(0.0, sd, 30))
    again = noisy_summary("x", genotypes, noise_multiplier=2.0, epsilon=1, delta=1e-5)
    other = noisy_summary("x", genotypes, noise_multiplier=2.0, epsilon=1, delta=1e-5)
    assert not np.allclose(again.called, other.called)

    labels = np.arange(40) % 2
    share = release_case_count(labels, noise_multiplier=4.0, rng=_seeded(8))
    noisy = np.maximum(20 + 4.0 * SecretNoise(noise_key_from(_seeded(8)), "case count release").normal(2), 1)
    assert share == pytest.approx(np.clip(noisy[1] / noisy.sum(), 0.01, 0.99))
    freq = np.full(30, 0.5)
    a, b, c, d = (
        release_site(dosages, labels, reference_freq=freq, noise_multiplier=5.0, rng=rng)
        for rng in (None, None, _seeded(9), _seeded(9))
    )
    assert not np.allclose(a.class_counts, b.class_counts)
    assert np.array_equal(c.centred_sums, d.centred_sums)


def test_a_release_key_takes_32_bytes_of_a_seeded_generator_or_256_secret_bits():
    assert noise_key_from(_seeded(1)) == noise_key_from(_seeded(1)) != noise_key_from(_seeded(2))
    keys = {noise_key_from(None) for _ in range(20)}
    assert len(keys) == 20 and max(keys).bit_length() > 128


def _seeded(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)
