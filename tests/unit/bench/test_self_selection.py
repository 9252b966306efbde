"""bench/self_selection.py: the release's weights are where a fully clipped stage 2 from zeros ends,
the top k ranks only variants, and stage 2 pays for the release with more noise, never more epsilon."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
from helpers import load_bench_script
from helpers.bench import BENCH

sys.path.insert(0, str(BENCH))  # bench/self_selection.py imports other bench scripts
self_selection = load_bench_script("self_selection")

B = self_selection.LOGISTIC_BATCH_SIZE


def _hospitals(rng: np.random.Generator, v: int = 30) -> list[SimpleNamespace]:
    """Hospitals whose rows (v variants, 2 covariates) are long enough that every patient's
    gradient is clipped to C = 1 near zeros; sizes are multiples of the batch."""
    sites = []
    for n in (2 * B, 3 * B):
        x = rng.normal(0.0, 10.0, (n, v + 2))
        labels = (x[:, 0] + rng.normal(0.0, 10.0, n) > 0).astype(np.float64)
        sites.append(SimpleNamespace(train_x=x, train_y=labels, public_train=n))
    return sites


def test_the_start_is_where_a_fully_clipped_noise_free_stage_2_from_zeros_ends():
    sites = _hospitals(np.random.default_rng(0))
    v = sites[0].train_x.shape[1] - 2
    scale = np.ones(v + 2)
    weights = self_selection.size_weights(sites)
    grads = self_selection.gradients_at_zero(sites, scale)
    release = self_selection.noisy_release(grads, weights, 0.0, np.random.default_rng(1))
    lr, row_norm = 1e-3, 10.0
    sub = self_selection.SubPanel(tuple(range(v)), [*range(v), v, v + 1], scale, lr, row_norm)
    start = self_selection.start_weights(release, sub, row_norm, 1.0)

    # the rule's stage 2 without noise, every patient in every step (rate 1): the same movement
    steps = self_selection.LOGISTIC_LOCAL_EPOCHS
    rows = [
        self_selection.site_rows(d.train_x, d.train_y, d.public_train, 1.0, steps * d.public_train // B, 0.0)
        for d in sites
    ]
    trained = self_selection.fedavg(
        rows, np.zeros(v + 3), lr, np.random.default_rng(2), self_selection.LOGISTIC_ROUNDS
    )
    np.testing.assert_allclose(start, trained, rtol=1e-9, atol=1e-12)


def test_the_start_maps_the_release_to_the_sub_panel_and_its_covariates_to_their_scale():
    release = np.arange(1.0, 9.0)  # 5 variants, sex, age, bias
    sub = self_selection.SubPanel((1, 3), [1, 3, 5, 6], np.ones(4), 0.5, 2.0)
    start = self_selection.start_weights(release, sub, 4.0, 2.0)
    factor = -0.5 * self_selection.STEPS_OVER_BATCH * (4.0 / 2.0)
    np.testing.assert_allclose(start, factor * np.array([2.0, 4.0, 6.0 / 2, 7.0 / 2, 8.0]))


def test_top_k_ranks_variants_only_by_absolute_score_in_panel_order():
    score = np.array([0.1, -3.0, 2.0, 0.5, -0.2, 99.0, 99.0, 99.0])  # 5 variants, sex, age, bias
    assert self_selection.top_k(score, 5, 2) == (1, 2)
    assert self_selection.top_k(score, 5, 3) == (1, 2, 3)


def test_stage_2_after_a_release_takes_more_noise_and_the_same_epsilon():
    alone = self_selection.stage2_sigma(100, 3.0, None)
    after_small = self_selection.stage2_sigma(100, 3.0, self_selection.full_batch_sigma(0.6, 1))
    after_large = self_selection.stage2_sigma(100, 3.0, self_selection.full_batch_sigma(1.5, 1))
    assert alone < after_small < after_large  # each calibrated to a total of 3 (asserted inside)
