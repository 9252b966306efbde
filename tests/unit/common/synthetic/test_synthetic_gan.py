"""The label-conditional genotype GAN: training, sampling, DP accounting, persistence.

Small, easy data on purpose (200 people x 60 variants in LD blocks, one variant that differs
strongly between cases and controls) so the whole file runs in seconds on two cores.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from genofed.common.privacy.accountant import epsilon_of
from genofed.common.synthetic.encoding import phased_states
from genofed.common.synthetic.gan import GANSettings, TrainedGAN, gan_noise_for_budget, load_gan, train_gan
from genofed.common.synthetic.vae import SyntheticRecords

N, V = 200, 60
CAUSAL = 12
FAST = GANSettings(epochs=400, batch_size=50, hidden=64, critic_hidden=64, noise_dim=8, seed=1)


def make_cohort(n: int = N, v: int = V, seed: int = 0, block: int = 10, founders: int = 3):
    """Phased haplotypes with LD (copies of `founders` founder haplotypes per block, 2 % of
    alleles flipped), labels driven by the CAUSAL variant's dosage, and (sex, age)."""
    rng = np.random.default_rng(seed)
    n_blocks = v // block
    founder_haps = (
        rng.random((n_blocks, founders, block)) < rng.uniform(0.1, 0.6, size=(n_blocks, 1, block))
    ).astype(np.int8)

    def haplotypes() -> np.ndarray:
        pick = rng.integers(0, founders, size=(n, n_blocks))
        h = founder_haps[np.arange(n_blocks)[None, :], pick]
        return np.where(rng.random(h.shape) < 0.02, 1 - h, h).reshape(n, v)

    haps = np.stack([haplotypes(), haplotypes()], axis=2).astype(np.int8)
    dosages = haps.sum(2)
    labels = (dosages[:, CAUSAL] + rng.normal(0, 0.5, n) > 0.5).astype(np.int8)
    covariates = np.stack([rng.integers(0, 2, n), rng.normal(55, 12, n)], axis=1)
    return dosages.astype(np.int8), labels, covariates, haps


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Training is thousands of tiny ops: with several intra-op threads on a busy 2-core machine
    torch spends its time synchronising (measured: 1.4 s per epoch with one thread against 23 s
    with two while other jobs ran). Restored after this module."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cohort():
    return make_cohort()


@pytest.fixture(scope="module")
def trained(cohort) -> TrainedGAN:
    genotypes, labels, covariates, _ = cohort
    return train_gan(genotypes, labels, covariates=covariates, settings=FAST, noise_multiplier=None)


def test_samples_are_valid_records_with_the_requested_labels(trained: TrainedGAN) -> None:
    assert len(trained.losses) == FAST.epochs and trained.history == []
    labels = np.array([0, 1] * 50, dtype=np.int8)
    records = trained.sample(100, labels=labels, seed=7)
    assert isinstance(records, SyntheticRecords) and records.haplotypes is None
    assert records.genotypes.shape == (100, V) and records.genotypes.dtype == np.int8
    assert set(np.unique(records.genotypes)) <= {0, 1, 2}
    np.testing.assert_array_equal(records.labels, labels)
    assert set(np.unique(records.sex)) <= {0, 1} and np.isfinite(records.age).all()
    assert (trained.sample(20, case_fraction=1.0, seed=1).labels == 1).all()
    assert (trained.sample(20, case_fraction=0.0, seed=1).labels == 0).all()
    assert abs(trained.sample(2000, seed=2).labels.mean() - trained.config.case_fraction) < 0.05
    assert trained.sample(0, seed=0).genotypes.shape == (0, V)
    with pytest.raises(ValueError):
        trained.sample(3, labels=np.array([0, 1, 2]), seed=0)
    with pytest.raises(ValueError):
        trained.sample(3, seed=0, temperature=0.0)


def test_allele_frequencies_and_conditional_generation(cohort, trained: TrainedGAN) -> None:
    genotypes, labels, _, _ = cohort
    records = trained.sample(4000, labels=np.repeat([0, 1], 2000), seed=5)
    r = np.corrcoef(genotypes.mean(0), records.genotypes.mean(0))[0, 1]
    assert r > 0.9, r
    real = genotypes[labels == 1, CAUSAL].mean() - genotypes[labels == 0, CAUSAL].mean()
    synthetic = (
        records.genotypes[records.labels == 1, CAUSAL].mean()
        - records.genotypes[records.labels == 0, CAUSAL].mean()
    )
    assert real > 0.6  # the toy disease: cases carry the causal allele far more often
    assert synthetic > 0.3, (real, synthetic)


def test_fixed_seeds_give_identical_models_and_samples(cohort, trained: TrainedGAN) -> None:
    a, b = trained.sample(50, seed=11), trained.sample(50, seed=11)
    for name in ("genotypes", "labels", "sex", "age"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.genotypes, trained.sample(50, seed=12).genotypes)
    genotypes, labels, _, _ = cohort
    short = GANSettings(epochs=2, batch_size=50, hidden=32, critic_hidden=32, seed=5)
    one, two = (train_gan(genotypes, labels, settings=short, noise_multiplier=None) for _ in range(2))
    for key, value in one.generator.state_dict().items():
        assert torch.equal(value, two.generator.state_dict()[key]), key
    other = train_gan(
        genotypes, labels, settings=GANSettings(**{**short.__dict__, "seed": 6}), noise_multiplier=None
    )
    assert not torch.equal(one.generator.blocks.weight, other.generator.blocks.weight)
    np.testing.assert_array_equal(one.sample(30, seed=0).genotypes, two.sample(30, seed=0).genotypes)
    assert one.sample(10, seed=0).sex is None  # trained without covariates


def test_phased_training_samples_consistent_haplotypes(cohort) -> None:
    _, labels, _, haps = cohort
    short = GANSettings(epochs=2, batch_size=50, hidden=32, critic_hidden=32)
    result = train_gan(phased_states(haps), labels, settings=short, noise_multiplier=None, n_states=4)
    records = result.sample(40, seed=3)
    assert result.config.n_states == 4 and records.haplotypes.shape == (40, V, 2)
    assert set(np.unique(records.haplotypes)) <= {0, 1}
    np.testing.assert_array_equal(records.haplotypes.sum(2), records.genotypes)


def test_dp_training_history_matches_the_calibrated_budget(cohort) -> None:
    genotypes, labels, covariates, haps = cohort
    settings = GANSettings(epochs=3, batch_size=32, hidden=32, critic_hidden=32, seed=2)
    sigma = gan_noise_for_budget(N, settings, epsilon=4.0, delta=1e-5)
    result = train_gan(
        phased_states(haps),
        labels,
        covariates=covariates,
        settings=settings,
        noise_multiplier=sigma,
        n_states=4,
        noise_rng=np.random.default_rng(5),
    )
    steps_per_epoch = math.ceil(N / settings.batch_size)
    assert len(result.history) == 1
    noise, rate, steps = result.history[0]
    assert noise == pytest.approx(sigma) and rate == pytest.approx(1 / steps_per_epoch)
    assert steps == settings.epochs * steps_per_epoch
    eps = epsilon_of(result.history, 1e-5)
    assert math.isfinite(eps) and 0.9 * 4.0 < eps <= 4.0 * 1.0001
    assert len(result.losses) == settings.epochs and all(math.isfinite(x) for x in result.losses)
    records = result.sample(20, seed=0)
    assert (
        set(np.unique(records.genotypes)) <= {0, 1, 2}
        and records.haplotypes is not None
        and records.sex is not None
    )
    # the generator learnt (through the critic) and is a plain module, with no Opacus state left on it
    fresh = train_gan(
        phased_states(haps),
        labels,
        covariates=covariates,
        settings=GANSettings(**{**settings.__dict__, "epochs": 1}),
        noise_multiplier=sigma,
        n_states=4,
    )
    assert not torch.equal(fresh.generator.blocks.weight, result.generator.blocks.weight)
    assert all(getattr(p, "grad_sample", None) is None for p in result.generator.parameters())
    again = train_gan(
        phased_states(haps),
        labels,
        covariates=covariates,
        settings=settings,
        noise_multiplier=sigma,
        n_states=4,
        noise_rng=np.random.default_rng(5),
    )
    np.testing.assert_array_equal(
        again.sample(20, seed=0).genotypes, records.genotypes
    )  # an explicit seeded noise source: the same DP noise and Poisson sampling
    secret = train_gan(
        phased_states(haps),
        labels,
        covariates=covariates,
        settings=settings,
        noise_multiplier=sigma,
        n_states=4,
    )  # the default: secret randomness, not the public settings.seed
    assert not torch.equal(secret.generator.blocks.weight, result.generator.blocks.weight)
    # a site that already spent part of its budget gets more noise for the same target
    assert gan_noise_for_budget(N, settings, epsilon=4.0, delta=1e-5, history=[(2.0, 0.1, 20)]) > sigma


def test_save_load_round_trip_gives_identical_samples(trained: TrainedGAN, tmp_path) -> None:
    path = tmp_path / "gan.pt"
    trained.save(path)
    torch.load(path, weights_only=True)  # plain data only
    loaded = load_gan(path)
    assert loaded.config == trained.config and loaded.settings == trained.settings
    assert loaded.history == trained.history and loaded.losses == trained.losses
    a, b = trained.sample(100, seed=9), loaded.sample(100, seed=9)
    for name in ("genotypes", "labels", "sex", "age"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_bad_inputs_are_refused(cohort) -> None:
    genotypes, labels, _, _ = cohort
    settings = GANSettings(epochs=1)
    with pytest.raises(ValueError, match="imputed"):
        train_gan(np.where(genotypes == 2, -1, genotypes), labels, settings=settings, noise_multiplier=None)
    with pytest.raises(ValueError, match="phased"):
        train_gan(genotypes + 2, labels, settings=settings, noise_multiplier=None, n_states=4)
    with pytest.raises(ValueError, match="labels"):
        train_gan(genotypes, labels[:-1], settings=settings, noise_multiplier=None)
    with pytest.raises(ValueError, match="labels"):
        train_gan(genotypes, labels + 1, settings=settings, noise_multiplier=None)
    with pytest.raises(ValueError, match="covariates"):
        train_gan(genotypes, labels, covariates=np.zeros((N, 3)), settings=settings, noise_multiplier=None)
    for bad in (
        {"epochs": 0},
        {"n_critic": 0},
        {"lr_critic": 0.0},
        {"weight_clip": -1.0},
        {"gp_weight": -1.0},
        {"gumbel_tau": 0.0},
    ):
        with pytest.raises(ValueError):
            GANSettings(**bad)


def test_common_does_not_import_client_server_or_simulations() -> None:
    code = (
        "import sys, genofed.common.synthetic.gan; "
        "bad = [m for m in sys.modules "
        "if m.startswith(('genofed.client', 'genofed.server', 'genofed.simulations'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_generator_switch_reaches_both_generators_with_one_interface() -> None:
    """`genofed synth --generator`, the simulation and the experiments pick generators by name."""
    from genofed.common.privacy.release import release_step
    from genofed.common.synthetic.generators import generator_settings, noise_for_budget, train_generator
    from genofed.common.synthetic.site_release import CASE_COUNT_NOISE
    from genofed.common.synthetic.vae import VAESettings

    assert isinstance(generator_settings("gan", seed=3, epochs=2), GANSettings)
    assert generator_settings("vae", seed=3).epochs == VAESettings().epochs
    x = np.random.default_rng(0).integers(0, 3, size=(40, 12)).astype(np.int8)
    y = np.r_[np.zeros(20), np.ones(20)].astype(np.int8)
    settings = generator_settings("gan", seed=3, epochs=1)
    trained = train_generator("gan", x, y, settings=settings)
    assert isinstance(trained, TrainedGAN) and trained.sample(5, seed=1).genotypes.shape == (5, 12)
    # the switch calibrates the GAN together with its case-count release (site_release)
    count = [release_step(CASE_COUNT_NOISE)]
    assert noise_for_budget("gan", 40, settings, epsilon=5.0, delta=1e-5) == pytest.approx(
        gan_noise_for_budget(40, settings, epsilon=5.0, delta=1e-5, history=count)
    )
    with pytest.raises(ValueError, match="unknown generator"):
        generator_settings("diffusion", seed=0)
