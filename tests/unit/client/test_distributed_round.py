"""A distributed-DP round: the reply is the global weights minus lr x this site's share of the
noisy clipped gradient sum, with the noise the ledger claims, identical on rerun, and with each
patient's influence bounded by the clip."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genofed.client.distributed_round import (
    DistributedRequest,
    distributed_request,
    momentum_travel,
    noisy_gradient_round,
)
from genofed.client.trainer import TrainSettings
from genofed.common.errors import GenofedError
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.privacy.snapping import grid_for

N, VARIANTS = 40, 300


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, VARIANTS + 2)).astype(np.float32)
    y = (rng.random(N) < 0.5).astype(np.float32)
    return x, y


def _model(architecture: str = "logistic", seed: int = 1) -> torch.nn.Module:
    model = build_model(ModelConfig(n_variants=VARIANTS, architecture=architecture), seed=0)
    with torch.no_grad():  # away from zero, so gradients differ between patients
        gen = torch.Generator().manual_seed(seed)
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
    return model


def _delta(model, result) -> dict[str, torch.Tensor]:
    """What the round changed in each trained parameter (a logistic model's column scale is fixed)."""
    trained = dict(model.named_parameters())
    fixed = {k: v for k, v in model.state_dict().items() if k not in trained}
    assert all(torch.equal(result.state_dict[k], v) for k, v in fixed.items())
    return {k: result.state_dict[k].double() - v.double() for k, v in trained.items()}


def _round(
    model, x, y, *, rate=1.0, epochs=1, share=0.0, seed=7, lr=0.5, clip=1.0, rows=N, step="mean", **training
):
    """One distributed round; `training`: other TrainSettings (momentum 0 unless given)."""
    settings = TrainSettings(
        epochs=epochs, batch_size=16, lr=lr, max_grad_norm=clip, **{"momentum": 0.0, **training}
    )
    per_epoch = round(1 / rate)
    request = DistributedRequest(sites=2, sample_rate=rate, batches=epochs * per_epoch, step=step)
    return noisy_gradient_round(
        model, x, y, settings, request=request, noise_share=share, seed=seed, weight_rows=rows
    )


def _clipped_mean_gradient(model, x, y, clip: float) -> dict[str, torch.Tensor]:
    """mean over patients of each one's gradient clipped to `clip`, by autograd one at a time."""
    total = {name: torch.zeros_like(p, dtype=torch.float64) for name, p in model.named_parameters()}
    for row, label in zip(x, y, strict=True):
        model.zero_grad()
        logit = model(torch.as_tensor(row[None]))
        torch.nn.functional.binary_cross_entropy_with_logits(logit, torch.tensor([label])).backward()
        grads = {name: p.grad.double() for name, p in model.named_parameters()}
        norm = math.sqrt(sum(float((g**2).sum()) for g in grads.values()))
        factor = min(1.0, clip / (norm + 1e-6))
        for name, g in grads.items():
            total[name] += factor * g
    return {name: t / len(x) for name, t in total.items()}


@pytest.mark.parametrize("architecture", ["logistic", "network"])
def test_the_reply_is_the_global_weights_minus_lr_times_the_clipped_gradient_sum(architecture):
    """q = 1 (every patient in every batch) and no noise: w - lr * sum / (n q T) = w - lr x the
    mean clipped gradient, whatever the number of batches."""
    x, y = _data()
    model = _model(architecture)
    expected = _clipped_mean_gradient(model, x, y, clip=0.05)
    result = _round(model, x, y, rate=1.0, epochs=3, clip=0.05, lr=0.5)
    assert result.steps == 3
    for name, delta in _delta(model, result).items():
        assert torch.allclose(delta, -0.5 * expected[name], atol=1e-6), name


def test_the_sum_step_moves_as_far_as_the_rounds_batches_would_one_after_another():
    """Step "sum" (a run from a model's weights): the same batches and noise, T times the step."""
    x, y = _data()
    model = _model()
    mean = _round(model, x, y, rate=0.25, epochs=2, share=1.0)
    summed = _round(model, x, y, rate=0.25, epochs=2, share=1.0, step="sum")
    for name, delta in _delta(model, summed).items():
        assert torch.allclose(delta, 8 * _delta(model, mean)[name], atol=1e-5), name


@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9])
def test_momentum_travel_is_how_far_sgd_with_momentum_moves_along_a_constant_gradient(momentum):
    weight = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([weight], lr=1.0, momentum=momentum)
    for _ in range(16):
        optimizer.zero_grad()
        (-weight).sum().backward()  # gradient -1: each step moves +lr x velocity
        optimizer.step()
    assert momentum_travel(16, momentum) == pytest.approx(float(weight))
    assert momentum_travel(16, 0.0) == 16.0


def test_the_sum_step_with_momentum_moves_as_far_as_the_local_steps_with_momentum():
    """The network's SGD has momentum 0.9: its sum step goes momentum_travel(T, 0.9) / T times
    as far as without; Adam has no heavy-ball momentum, so its sum step stays T batches long."""
    x, y = _data()
    model = _model("network")
    plain = _round(model, x, y, rate=0.25, epochs=2, share=1.0, step="sum")
    with_momentum = _round(model, x, y, rate=0.25, epochs=2, share=1.0, step="sum", momentum=0.9)
    adam = _round(model, x, y, rate=0.25, epochs=2, share=1.0, step="sum", momentum=0.9, optimizer="adam")
    factor = momentum_travel(8, 0.9) / 8
    assert factor > 3  # 3.59: momentum 0.9 has not built up fully in 8 steps
    # each reply is rounded to its share's grid (common/privacy/snapping.py): lr share C / divisor,
    # the divisor n q T / travel (module docstring), so the momentum step's grid is 3.59 times coarser
    grid = grid_for(0.5 * 1.0 * 1.0 / (N * 0.25))
    tolerance = grid_for(factor * 0.5 * 1.0 * 1.0 / (N * 0.25)) / 2 + factor * grid / 2
    for name, delta in _delta(model, with_momentum).items():
        assert torch.allclose(delta, factor * _delta(model, plain)[name], atol=tolerance), name
        assert torch.allclose(_delta(model, adam)[name], _delta(model, plain)[name], atol=1e-6), name


def test_the_noise_per_coordinate_is_the_share_times_the_clip_over_the_expected_batch():
    """Same seed, so the same batches: the difference with and without noise is the noise alone.
    Per batch it is N(0, (share C)^2) on the sum, i.e. share C / B on the batch's average
    (B = n q, the expected batch); the mean of T such averages has std share C / (B sqrt(T))."""
    x, y = _data()
    model = _model()
    share, clip, lr, rate, epochs = 1.7, 0.8, 1.0, 0.25, 1
    noisy = _round(model, x, y, rate=rate, epochs=epochs, share=share, clip=clip, lr=lr)
    clean = _round(model, x, y, rate=rate, epochs=epochs, share=0.0, clip=clip, lr=lr)
    noise = torch.cat(
        [
            (noisy.state_dict[k].double() - clean.state_dict[k].double()).flatten()
            for k, _ in model.named_parameters()
        ]
    )
    batches = epochs * round(1 / rate)
    claimed = lr * share * clip / (N * rate) / math.sqrt(batches)
    assert float(noise.mean()) == pytest.approx(0.0, abs=4 * claimed / math.sqrt(noise.numel()))
    assert float(noise.std()) == pytest.approx(claimed, rel=0.08)  # 303 coordinates: ~4 % sampling error


def test_a_rerun_with_the_same_seed_is_identical_and_another_seed_is_not():
    x, y = _data()
    model = _model()
    first = _round(model, x, y, rate=0.25, share=1.0, seed=11)
    again = _round(model, x, y, rate=0.25, share=1.0, seed=11)
    other = _round(model, x, y, rate=0.25, share=1.0, seed=12)
    assert all(torch.equal(first.state_dict[k], again.state_dict[k]) for k in first.state_dict)
    assert not torch.equal(first.state_dict["linear.weight"], other.state_dict["linear.weight"])


def test_clipping_bounds_each_patients_influence():
    """One patient made extreme (features x 1000, label flipped): without noise and with every
    patient in every batch, the reply moves by at most 2 lr C / n (the clipped gradient of the
    old and of the new patient), whatever the outlier."""
    x, y = _data()
    model = _model()
    clip, lr = 0.5, 1.0
    base = _round(model, x, y, clip=clip, lr=lr)
    x2, y2 = x.copy(), y.copy()
    x2[3] *= 1000.0
    y2[3] = 1.0 - y2[3]
    moved = _round(model, x2, y2, clip=clip, lr=lr)
    change = math.sqrt(
        sum(
            float(((moved.state_dict[k].double() - base.state_dict[k].double()) ** 2).sum())
            for k in base.state_dict
        )
    )
    assert 0 < change <= 2 * lr * clip / N * (1 + 1e-4)


def test_frozen_parameters_and_the_model_itself_are_left_as_they_came():
    x, y = _data()
    model = _model("network")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for name, p in model.named_parameters():
        if name.startswith("blocks"):
            p.requires_grad_(False)
    result = _round(model, x, y, rate=0.5, share=1.0)
    assert all(torch.equal(model.state_dict()[k], before[k]) for k in before)
    assert torch.equal(result.state_dict["blocks.weight"], before["blocks.weight"])
    assert not torch.equal(result.state_dict["head.0.weight"], before["head.0.weight"])


SETTINGS = TrainSettings(epochs=2, batch_size=16)


def test_a_distributed_request_reads_m_and_the_common_rate():
    config = {"privacy": "distributed", "noise-share-sites": 3, "noise-share-rate": 1 / 13}
    assert distributed_request(config, SETTINGS, secagg_threshold=3) == DistributedRequest(3, 1 / 13, 26)
    summed = distributed_request({**config, "distributed-step": "sum"}, SETTINGS, secagg_threshold=3)
    assert summed == DistributedRequest(3, 1 / 13, 26, "sum")
    assert distributed_request({"epsilon": 3.0}, SETTINGS, secagg_threshold=None) is None


@pytest.mark.parametrize(
    ("config", "threshold", "words"),
    [
        ({"noise-share-sites": 2, "noise-share-rate": 0.25}, None, "outside a secure-aggregation round"),
        ({"noise-share-sites": 0, "noise-share-rate": 0.25}, 2, "between 1 and"),
        ({"noise-share-sites": 5000, "noise-share-rate": 0.25}, 2, "between 1 and"),
        ({"noise-share-sites": 3, "noise-share-rate": 0.25}, 2, "reveals sums of 2 sites"),
        ({"noise-share-sites": 2.5, "noise-share-rate": 0.25}, 3, "not a whole number"),
        ({"noise-share-sites": 2}, 3, "noise-share-rate"),
        ({"noise-share-sites": 2, "noise-share-rate": 0.3}, 3, "1 / a whole number"),
        ({"noise-share-sites": 2, "noise-share-rate": 0.0}, 3, "1 / a whole number"),
        (
            {"noise-share-sites": 2, "noise-share-rate": 0.25, "distributed-step": "max"},
            3,
            "knows mean and sum",
        ),
    ],
)
def test_a_distributed_request_is_refused_when_it_cannot_keep_its_promise(config, threshold, words):
    with pytest.raises(GenofedError, match=words):
        distributed_request({"privacy": "distributed", **config}, SETTINGS, secagg_threshold=threshold)
