"""The public bound on a distributed-DP reply (`reply_bound`) and the clipping range the
coordinator picks from it (`server.secagg.distributed_clipping_range`): the range holds the bound
of the smallest hospital at the run's floor, so an honest run is never refused, and a run from
scratch keeps Flower's default range."""

from __future__ import annotations

import math

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord

from genofed.common.privacy.distributed_bound import (
    distributed_floor,
    momentum_travel,
    reply_bound,
    rows_ceiling,
)
from genofed.server.secagg import CLIPPING_RANGE, distributed_clipping_range


def _weights(largest: float) -> ArrayRecord:
    return ArrayRecord({"w": Array(np.array([0.0, -largest, 0.1], dtype=np.float32))})


def _bound(config: dict, share: dict, n: int, largest: float, noise_share: float) -> float:
    q = share["noise-share-rate"]
    steps = config["local-epochs"] * round(1 / q)
    sum_step = config.get("distributed-step") == "sum"
    return reply_bound(
        start=largest,
        lr=config["lr"],
        clip=config["clip"],
        noise_share=noise_share,
        weight_rows=n,
        sample_rate=q,
        steps=steps,
        travel=momentum_travel(steps, config.get("momentum", 0.9)) if sum_step else 1.0,
    )


def test_the_bound_grows_with_lr_the_step_and_the_noise_and_shrinks_with_the_cohort():
    base = dict(start=0.5, lr=0.1, clip=1.0, noise_share=1.0, sample_rate=0.125, steps=16, travel=1.0)
    small = reply_bound(weight_rows=32, **base)
    large = reply_bound(weight_rows=240, **base)
    assert base["start"] + base["lr"] < large < small  # the draws' tail weighs most in a small cohort
    assert reply_bound(weight_rows=32, **{**base, "travel": 16.0}) > 15 * (small - 0.5)
    assert reply_bound(weight_rows=32, **{**base, "noise_share": 3.0}) > small


def test_the_draws_are_counted_from_a_ceiling_of_the_declared_size_not_the_exact_rows():
    """The bound a refusal quotes is a function of public values: its draws come from at most
    twice the declared training size plus ten rows (the default declaration, the count rounded to
    10, is at most 5 short), whatever the site holds (a privacy review: counted from the exact rows,
    the quoted bound told the coordinator the number of training patients)."""
    assert rows_ceiling(32) == 74 and rows_ceiling(0) == 12
    base = dict(start=0.5, lr=0.1, clip=1.0, noise_share=1.0, sample_rate=0.125, steps=16, travel=1.0)
    draws = 74 * 16 * 0.125
    tail = draws + 10 * math.sqrt(draws) + 40
    expected = 0.5 + 0.1 * (tail + 10 * math.sqrt(16)) / (32 * 0.125 * 16)
    assert reply_bound(weight_rows=32, **base) == pytest.approx(expected)


def test_the_network_sum_step_gets_a_range_its_smallest_hospital_fits_and_scratch_keeps_eight():
    """The default federation's network under distributed DP (lr 0.05, momentum 0.9, "sum", q 1/8,
    2 epochs, smallest declared hospital 32): its bound passes Flower's 8, so the range grows to
    hold twice it; a logistic run from scratch ("mean", lr x C about 0.05) keeps 8."""
    share = {"noise-share-rate": 0.125, "noise-share-sites": 5}
    network = {
        "lr": 0.05,
        "clip": 1.0,
        "local-epochs": 2,
        "distributed-step": "sum",
        "epsilon": 3.0,
        "delta": 1e-5,
        "num-rounds": 10,
    }
    floor = distributed_floor(3.0, 0.125, 10 * 16, 1e-5)
    bound = _bound(network, share, 32, 0.3, floor / math.sqrt(5))
    assert bound > CLIPPING_RANGE
    chosen = distributed_clipping_range(CLIPPING_RANGE, _weights(0.3), network, share, 32)
    assert chosen >= 2 * bound and math.log2(chosen).is_integer()
    assert 23 < bound < 25 and chosen == 64  # docs/distributed-dp.md's figures
    # a hospital whose own plan needs twice the floor's share still fits
    assert _bound(network, share, 32, 0.3, 2 * floor / math.sqrt(5)) <= chosen
    logistic = {**network, "lr": 0.05, "distributed-step": "mean", "momentum": 0.0}
    assert distributed_clipping_range(CLIPPING_RANGE, _weights(0.3), logistic, share, 32) == CLIPPING_RANGE


@pytest.mark.parametrize("epsilon", [math.inf, 1e-9])
def test_no_floor_where_the_run_asks_for_none_or_none_can_be_met(epsilon):
    assert distributed_floor(epsilon, 0.125, 160, 1e-5) == 0.0
