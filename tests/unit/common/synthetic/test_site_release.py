"""The site's release for the reference generator: exact without DP, one patient moves the released
vector by at most 1 (so the ledger's Gaussian step is the true cost), and an attacker who knows
every other patient cannot tell whether one is in the cohort better than the epsilon allows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genofed.common.privacy.accountant import epsilon_of
from genofed.common.privacy.release import release_step
from genofed.common.synthetic.reference import reference_noise_for_budget
from genofed.common.synthetic.site_release import (
    ANCESTRY_SHARE,
    CASE_COUNT_NOISE,
    COUNT_SHARE,
    COVARIATE_SHARE,
    GENOTYPE_SHARE,
    age_bins,
    case_count_noise,
    clipping_norm,
    release_case_count,
    release_site,
)


def _cohort(n: int = 120, v: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.05, 0.5, v)
    x = rng.binomial(2, freq, (n, v)).astype(np.int8)
    y = (rng.random(n) < 0.4).astype(np.int8)
    cov = np.c_[rng.integers(0, 2, n), rng.uniform(1, 85, n)]
    return x, y, cov, freq


def test_exact_release_gives_the_class_frequencies_and_counts():
    x, y, cov, freq = _cohort()
    release = release_site(
        x, y, reference_freq=freq, covariates=cov, noise_multiplier=None, rng=np.random.default_rng(1)
    )
    assert release.class_counts.tolist() == [(y == 0).sum(), (y == 1).sum()]
    for k in (0, 1):
        np.testing.assert_allclose(release.raw_class_frequencies()[k], x[y == k].mean(axis=0) / 2)
    # without DP only the sampling noise of each class is shrunk away: partly at 120 patients
    raw, shrunk = release.raw_class_frequencies(), release.class_frequencies(freq)
    moved = (shrunk - freq) / np.where(raw == freq, 1, raw - freq)
    assert np.all((moved > 0.3) & (moved < 0.9)), moved
    assert release.covariates.sum() == len(y) and release.covariates.shape == (2, 2, age_bins())
    assert release.case_fraction == pytest.approx(y.mean())


def test_one_patient_moves_the_released_vector_by_at_most_one():
    """The mechanism's sensitivity, computed the way the module documents it: a patient whose
    centred genotype is far beyond the clipping norm still contributes a vector of norm <= 1."""
    x, y, cov, freq = _cohort()
    x[0] = 2  # an extreme patient: every variant homozygous ALT
    clip = clipping_norm(freq, np.ones(len(freq), bool))
    centred = x[0] - 2 * freq
    genotype_part = centred * min(1.0, clip / np.linalg.norm(centred)) / clip
    vector = np.r_[
        math.sqrt(GENOTYPE_SHARE) * genotype_part,
        math.sqrt(COUNT_SHARE),  # its class's count
        math.sqrt(COVARIATE_SHARE),  # its (sex, age decade) cell
        math.sqrt(ANCESTRY_SHARE),  # its assigned population
    ]
    assert np.linalg.norm(vector) <= 1 + 1e-12
    assert release_step(1.7) == (1.7, 1.0, 1)


def test_noise_is_calibrated_to_the_ledger_epsilon():
    sigma = reference_noise_for_budget(epsilon=2.0, delta=1e-5)
    assert epsilon_of([release_step(sigma)], 1e-5) <= 2.0
    assert epsilon_of([release_step(sigma * 0.95)], 1e-5) > 2.0  # and not needlessly noisy
    x, y, cov, freq = _cohort()
    release = release_site(
        x, y, reference_freq=freq, covariates=cov, noise_multiplier=sigma, rng=np.random.default_rng(0)
    )
    clip = clipping_norm(freq, np.ones(len(freq), bool))
    np.testing.assert_allclose(
        release.noise_sd,
        [
            sigma * clip / math.sqrt(GENOTYPE_SHARE),
            sigma / math.sqrt(COUNT_SHARE),
            sigma / math.sqrt(COVARIATE_SHARE),
            sigma / math.sqrt(ANCESTRY_SHARE),
        ],
    )


def test_membership_attack_on_the_release_stays_within_epsilon():
    """An attacker who knows every other patient releases both neighbouring cohorts' sums many
    times and thresholds the projection on the target's own vector (the most powerful test for a
    Gaussian mechanism). Its true and false positive rates must obey TPR <= e^eps FPR + delta
    (with sampling slack). The same attack on a fifth of the noise breaks the bound: the test has power."""
    x, y, cov, freq = _cohort(n=60, v=12, seed=3)
    x[0] = 2
    y[0] = 1
    eps, delta = 1.0, 1e-5
    sigma = reference_noise_for_budget(epsilon=eps, delta=delta)
    trials = 4000

    clip = clipping_norm(freq, np.ones(len(freq), bool))
    w_g, w_n, w_c = (math.sqrt(s) for s in (GENOTYPE_SHARE, COUNT_SHARE, COVARIATE_SHARE))
    centred = x[0] - 2 * freq
    target_g = w_g * centred * min(1.0, clip / np.linalg.norm(centred)) / clip
    target_cov = np.zeros((2, age_bins()))
    target_cov[int(cov[0, 0]), int(cov[0, 1] // 10)] = w_c

    def statistic(xs, ys, covs, seed, noise=sigma):
        """<release in the mechanism's unit coordinates, the target's own vector>"""
        rng = np.random.default_rng(seed)
        out = []
        for _ in range(trials):
            r = release_site(xs, ys, reference_freq=freq, covariates=covs, noise_multiplier=noise, rng=rng)
            unit_g = r.centred_sums[1] * w_g / clip
            out.append(
                unit_g @ target_g + r.class_counts[1] * w_n * w_n + (r.covariates[1] * w_c * target_cov).sum()
            )
        return np.asarray(out)

    def worst_excess(with_target, without):
        """max over thresholds of TPR - (e^eps FPR + delta)"""
        rates = [
            ((with_target > t).mean(), (without > t).mean())
            for t in np.quantile(without, [0.5, 0.8, 0.9, 0.95, 0.97, 0.99])
        ]
        return max(tpr - math.exp(eps) * fpr - delta for tpr, fpr in rates)

    with_target, without = statistic(x, y, cov, 1), statistic(x[1:], y[1:], cov[1:], 2)
    assert worst_excess(with_target, without) <= 0.03
    assert (with_target > np.median(without)).mean() > 0.52  # the attack does see the target
    weak = statistic(x, y, cov, 1, sigma / 5), statistic(x[1:], y[1:], cov[1:], 2, sigma / 5)
    assert worst_excess(*weak) > 0.03


def test_heavy_noise_shrinks_class_frequencies_to_the_prior():
    x, y, cov, freq = _cohort(v=2000)
    release = release_site(x, y, reference_freq=freq, noise_multiplier=5.0, rng=np.random.default_rng(0))
    shrunk = release.class_frequencies(freq)
    raw = release.raw_class_frequencies()
    assert np.abs(shrunk - freq).mean() < 0.1 * np.abs(raw - freq).mean()


def test_large_classes_keep_their_own_frequencies():
    """With thousands of patients per class the sampling noise vanishes: the site's own class
    frequencies survive nearly whole (no DP)."""
    x, y, cov, freq = _cohort(n=40_000, v=20)
    release = release_site(
        x, y, reference_freq=freq * 0.8, noise_multiplier=None, rng=np.random.default_rng(0)
    )
    np.testing.assert_allclose(
        release.class_frequencies(freq * 0.8), release.raw_class_frequencies(), atol=0.01
    )


def test_released_case_count_is_noisy_under_dp_and_exact_without():
    y = np.r_[np.ones(40), np.zeros(60)]
    assert release_case_count(y, noise_multiplier=None, rng=np.random.default_rng(0)) == 0.4
    shares = [release_case_count(y, noise_multiplier=4.0, rng=np.random.default_rng(s)) for s in range(200)]
    assert 0.01 < np.std(shares) < 0.06 and abs(np.mean(shares) - 0.4) < 0.01


def test_the_case_count_noise_costs_at_most_a_quarter_of_a_small_generator_budget():
    assert case_count_noise(8.0, 1e-5) == CASE_COUNT_NOISE  # sd 4 patients is cheap enough
    noise = case_count_noise(0.75, 1e-5)
    assert noise > CASE_COUNT_NOISE and epsilon_of([release_step(noise)], 1e-5) <= 0.25 * 0.75 * 1.01
    assert case_count_noise(math.inf, 1e-5) == CASE_COUNT_NOISE
