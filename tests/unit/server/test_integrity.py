"""The coordinator trusts no update: non-finite replies and updates above the DP norm bound are
refused, inflated example counts capped, and robust aggregators run with genofed's bookkeeping.

The bound is checked against the real trainer (client/trainer.py, Opacus DP-SGD) over many
seeds. The whole defence end to end on Flower's simulation engine, with one hospital made
malicious by a client mod on the real message path, is in tests/e2e/test_integrity_federations.py.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict

from genofed.client.trainer import TrainSettings, train_model
from genofed.common.model.network import ModelConfig, build_model, set_trainable
from genofed.server.integrity import (
    MAX_USEFUL_NOISE,
    TRAINER_MOMENTUM,
    LocalTraining,
    expected_batch_size,
    gaussian_norm_tail,
    momentum_weights,
    norm_bound,
    weighted_batch_tail,
)
from genofed.server.noise_weighting import RunNoisePlan
from genofed.server.settings import RunSettings
from genofed.server.strategies import RoundLog, make_strategy
from genofed.server.training_rule import resolve_settings

NODES = {11: "astrakhan", 12: "elista", 13: "rostov"}
DECLARED = {
    11: {"train": 60, "validation": 20},
    12: {"train": 80, "validation": 20},
    13: {"train": 70, "validation": 20},
}


pytestmark = pytest.mark.usefixtures("flower_task_identity")


# --- the bound ------------------------------------------------------------------------------


def test_momentum_weights_are_what_torch_sgd_does():
    """Step s's gradient moves the final weights by -lr a_s: gradient s on its own coordinate."""
    steps, lr = 7, 0.1
    w = torch.zeros(steps, requires_grad=True)
    optimizer = torch.optim.SGD([w], lr=lr, momentum=TRAINER_MOMENTUM)
    for s in range(steps):
        optimizer.zero_grad()
        w.grad = torch.nn.functional.one_hot(torch.tensor(s), steps).float()
        optimizer.step()
    np.testing.assert_allclose(-w.detach().numpy() / lr, momentum_weights(steps, TRAINER_MOMENTUM), rtol=1e-5)


def test_the_client_facts_the_bound_relies_on_still_hold():
    """The server does not import the client; these mirror it and must not drift apart."""
    from genofed.client.budget import MAX_USEFUL_NOISE as client_max_noise
    from genofed.client.trainer import _optimizer

    optimizer = _optimizer(build_model(ModelConfig(n_variants=40), seed=0), TrainSettings())
    assert isinstance(optimizer, torch.optim.SGD)
    assert (
        optimizer.param_groups[0]["momentum"] == TRAINER_MOMENTUM
        and optimizer.param_groups[0]["weight_decay"] == 0
    )
    assert not optimizer.param_groups[0]["nesterov"] and optimizer.param_groups[0]["dampening"] == 0
    assert client_max_noise == MAX_USEFUL_NOISE


@pytest.mark.parametrize(("rows", "batch_size"), [(70, 16), (80, 16), (49, 7), (31, 32), (97, 10), (5, 1)])
def test_expected_batch_size_is_opacus_divisor(rows, batch_size):
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    model = torch.nn.Linear(2, 1)
    loader = DataLoader(TensorDataset(torch.zeros(rows, 2)), batch_size=min(batch_size, rows))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, optimizer, _ = PrivacyEngine(accountant="rdp").make_private(
            module=model,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            data_loader=loader,
            noise_multiplier=1.0,
            max_grad_norm=1.0,
            poisson_sampling=True,
        )
    assert (
        expected_batch_size(rows, batch_size) <= optimizer.expected_batch_size
    )  # equal, or smaller: a looser bound
    assert expected_batch_size(rows, batch_size) >= optimizer.expected_batch_size - 1


def test_tail_bounds_hold_by_monte_carlo():
    """Both tails at p = 1e-2 over 20,000 draws: the share of draws above each bound stays below p."""
    rng = np.random.default_rng(0)
    p, draws = 1e-2, 20_000
    weights, n, rate = momentum_weights(15, TRAINER_MOMENTUM), 70, 1 / 5
    batches = rng.binomial(n, rate, size=(draws, len(weights)))
    assert np.mean(batches @ weights > weighted_batch_tail(weights, n, rate, math.log(1 / p))) < p
    norms = np.linalg.norm(rng.standard_normal((draws, 500)), axis=1)
    assert np.mean(norms > gaussian_norm_tail(500, math.log(1 / p))) < p


def _toy_data(kind: str, rows: int, variants: int) -> tuple[np.ndarray, np.ndarray]:
    """'cohort': sparse dosages, 30 % cases; 'aligned': every patient's gradient points the same
    way and is clipped, so the signal part of the bound is nearly reached."""
    if kind == "aligned":
        return np.full((rows, variants + 2), 5.0, dtype=np.float32), np.ones(rows, dtype=np.float32)
    rng = np.random.default_rng(1)
    x = rng.binomial(2, 0.1, size=(rows, variants + 2)).astype(np.float32) - 0.2
    return x, (rng.random(rows) < 0.3).astype(np.float32)


#: (name, data, rows, batch, epochs, lr, clip, sigma, mu, finetune, noise dominates the bound)
HONEST_CASES = [
    ("typical", "cohort", 70, 16, 3, 0.05, 1.0, 1.0, 0.0, "full", True),
    ("least-noise", "cohort", 70, 16, 3, 0.05, 1.0, 0.3, 0.0, "full", False),
    ("most-noise", "cohort", 80, 16, 2, 0.05, 1.0, MAX_USEFUL_NOISE, 0.0, "full", True),
    ("fedprox", "cohort", 70, 16, 3, 0.05, 1.0, 3.0, 0.5, "full", True),
    ("head-only", "cohort", 45, 16, 2, 0.5, 0.5, 2.0, 0.0, "partial", False),
    ("aligned", "aligned", 70, 70, 5, 1e-4, 0.1, 0.3, 0.0, "full", False),
]


@pytest.mark.parametrize(
    ("name", "data", "rows", "batch", "epochs", "lr", "clip", "sigma", "mu", "finetune", "noisy"),
    HONEST_CASES,
    ids=[c[0] for c in HONEST_CASES],
)
def test_honest_dp_updates_stay_under_the_bound_and_scaled_ones_do_not(
    name, data, rows, batch, epochs, lr, clip, sigma, mu, finetune, noisy
):
    """25 seeds of the real trainer (Opacus DP-SGD, Poisson batches, momentum, FedProx step):
    every honest update is below the bound; the same update x100 is always above it, and x10 too
    where the noise dominates the bound (the realistic case: many coordinates, sigma >= 1)."""
    config = ModelConfig(n_variants=400)
    x, y = _toy_data(data, rows, config.n_variants)
    training = LocalTraining(lr=lr, clip=clip, epochs=epochs, batch_size=batch, private=True)
    ratios = []
    for seed in range(25):
        model = build_model(config, seed=1)
        trained = set_trainable(model, finetune)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        settings = TrainSettings(epochs=epochs, batch_size=batch, lr=lr, max_grad_norm=clip, proximal_mu=mu)
        result = train_model(model, x, y, settings, noise_multiplier=sigma, seed=seed, anchor=before)
        norm = math.sqrt(
            sum(float(((result.state_dict[k].double() - before[k].double()) ** 2).sum()) for k in before)
        )
        ratios.append(norm / norm_bound(training, rows, trained, sigma).total)
    print(f"{name}: honest ||update|| / bound over 25 seeds: max {max(ratios):.3f}, min {min(ratios):.3f}")
    assert max(ratios) < 1
    assert min(ratios) * 100 > 1
    if noisy:
        assert min(ratios) * 10 > 1


def test_no_norm_bound_without_dp_and_a_claimed_noise_is_capped():
    plain = LocalTraining(lr=0.05, clip=1.0, epochs=2, batch_size=16, private=False)
    assert (
        norm_bound(plain, 70, 1000, 0.0) is None
    )  # no clipping without DP: nothing follows from the settings
    private = replace(plain, private=True)
    assert norm_bound(private, 70, 1000, 1e6) == norm_bound(private, 70, 1000, MAX_USEFUL_NOISE)


# --- the screen inside the strategies ------------------------------------------------------


class _Grid:
    """The part of Flower's Grid a strategy's configure_train uses."""

    def get_node_ids(self) -> list[int]:
        return list(NODES)


def _global() -> dict[str, torch.Tensor]:
    return build_model(ModelConfig(n_variants=100), seed=0).state_dict()


def _honest(
    state: dict[str, torch.Tensor], node: int, scale: float = 1e-3, frozen: frozenset[str] = frozenset()
) -> dict:
    """A small update, in float32 like every site's model whatever dtype it was sent."""
    generator = torch.Generator().manual_seed(node)
    return {
        k: (v if k in frozen else v + scale * torch.randn(v.shape, generator=generator)).float()
        for k, v in state.items()
    }


def _reply(sent: Message, state: dict, **metrics) -> Message:
    values = {
        "num-examples": DECLARED[sent.metadata.dst_node_id]["train"],
        "epsilon": 1.0,
        "noise-multiplier": 1.0,
        **metrics,
    }
    return Message(RecordDict({"arrays": ArrayRecord(state), "metrics": MetricRecord(values)}), reply_to=sent)


def _strategy(strategy: str = "fedavg", *, offset: int = 0, frozen: frozenset[str] = frozenset(), **settings):
    log = RoundLog(
        site_of_node=dict(NODES),
        taking_part=set(NODES),
        declared_sizes={k: dict(v) for k, v in DECLARED.items()},
    )
    run = RunSettings(
        strategy=strategy, min_nodes=2, local_epochs=2, batch_size=16, model="network", **settings
    )
    run = resolve_settings(run, None)  # the network's rule: lr 0.05, clip 1, momentum 0.9
    return make_strategy(run, log, round_offset=offset, frozen=frozen), log


def _run_round(
    strategy, state: dict, replies: Callable[[Message], Message], server_round: int = 1
) -> tuple[ArrayRecord | None, MetricRecord | None, list[Message]]:
    """One training round of `strategy` on the global model `state`, each node answering with `replies`."""
    sent = list(strategy.configure_train(server_round, ArrayRecord(state), ConfigRecord({}), _Grid()))
    return (*strategy.aggregate_train(server_round, [replies(m) for m in sent]), sent)


def _mean(states: list[dict], weights: list[float]) -> dict[str, np.ndarray]:
    total = sum(weights)
    return {
        k: sum(w / total * s[k].double().numpy() for s, w in zip(states, weights, strict=False))
        for k in states[0]
    }


def _assert_close(arrays: ArrayRecord, expected: dict[str, np.ndarray]) -> None:
    got = arrays.to_torch_state_dict()
    for key, value in expected.items():
        np.testing.assert_allclose(got[key].double().numpy(), value, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_update_is_refused_and_never_aggregated(bad):
    state = _global()
    strategy, log = _strategy()
    updates = {node: _honest(state, node) for node in NODES}
    updates[12]["head.0.weight"] = updates[12]["head.0.weight"].clone()
    updates[12]["head.0.weight"][0, 0] = bad
    arrays, metrics, _ = _run_round(strategy, state, lambda m: _reply(m, updates[m.metadata.dst_node_id]))
    assert "non-finite update" in log.refused[1]["elista"]
    assert set(log.train[1]) == {"astrakhan", "rostov"}
    _assert_close(arrays, _mean([updates[11], updates[13]], [60, 70]))
    assert metrics["num-examples"] == 130


def test_an_update_above_the_dp_bound_is_refused_with_its_norm():
    state = _global()
    strategy, log = _strategy(epsilon=8.0)
    updates = {node: _honest(state, node) for node in NODES}
    updates[13] = {
        k: state[k] + 100 * (v - state[k]) + 0.5 for k, v in updates[13].items()
    }  # scaled and shifted
    arrays, _metrics, _ = _run_round(strategy, state, lambda m: _reply(m, updates[m.metadata.dst_node_id]))
    assert "exceeds" in log.refused[1]["rostov"] and "noise multiplier 1" in log.refused[1]["rostov"]
    assert log.update_norms[1]["rostov"]["norm"] > log.update_norms[1]["rostov"]["bound"]
    assert log.update_norms[1]["astrakhan"]["norm"] < 0.1 * log.update_norms[1]["astrakhan"]["bound"]
    _assert_close(arrays, _mean([updates[11], updates[12]], [60, 80]))


def test_without_dp_a_large_update_passes_the_screen_but_not_a_robust_aggregator():
    """No clipping without DP, so no bound: the x100 update reaches the aggregator. FedAvg takes
    it in; the coordinate-wise median and Krum do not."""
    state = _global()
    updates = {node: _honest(state, node) for node in NODES}
    updates[11] = {k: state[k] + 100 * (v - state[k]) for k, v in updates[11].items()}
    honest = _mean([updates[12], updates[13]], [1, 1])

    def distance(strategy: str) -> float:
        strategy_, _log = _strategy(strategy, epsilon=math.inf)
        arrays, *_ = _run_round(strategy_, state, lambda m: _reply(m, updates[m.metadata.dst_node_id]))
        got = arrays.to_torch_state_dict()
        return math.sqrt(sum(float(((got[k].double().numpy() - honest[k]) ** 2).sum()) for k in honest))

    attack = math.sqrt(sum(float(((updates[11][k] - state[k]).double() ** 2).sum()) for k in state))
    assert distance("fedavg") > 0.2 * attack
    for robust in ("fedmedian", "krum", "multikrum"):
        assert distance(robust) < 0.02 * attack, robust


def test_an_inflated_example_count_is_capped_at_the_declared_training_set():
    state = _global()
    strategy, log = _strategy()
    updates = {node: _honest(state, node, scale=1e-2) for node in NODES}
    claims = {11: 1_000_000, 12: 80, 13: 70}
    arrays, metrics, _ = _run_round(
        strategy,
        state,
        lambda m: _reply(
            m, updates[m.metadata.dst_node_id], **{"num-examples": claims[m.metadata.dst_node_id]}
        ),
    )
    assert log.capped[1] == {
        "astrakhan": "claimed 1e+06 training examples, declared 60 at the start: weighted as 60"
    }
    assert log.train[1]["astrakhan"]["num-examples"] == 60 and not log.refused
    _assert_close(arrays, _mean([updates[11], updates[12], updates[13]], [60, 80, 70]))
    assert metrics["num-examples"] == 210


def test_a_reply_claiming_more_noise_than_the_plan_is_weighed_less():
    """A site that reports noise multiplier 20 may send an update ~5x an honest one within its
    bound; its weight falls with the square of the claim above the plan's slack, so its pull on the
    average is smaller than an honest site's (server/noise_weighting.py). Honest replies keep theirs."""
    state = _global()
    strategy, log = _strategy(epsilon=8.0)
    updates = {node: _honest(state, node, scale=1e-2) for node in NODES}
    updates[11] = {k: state[k] + 5 * (v - state[k]) for k, v in updates[11].items()}
    sigmas = {11: 20.0, 12: 1.0, 13: 1.0}
    arrays, _metrics, _ = _run_round(
        strategy,
        state,
        lambda m: _reply(
            m, updates[m.metadata.dst_node_id], **{"noise-multiplier": sigmas[m.metadata.dst_node_id]}
        ),
    )
    plan = RunNoisePlan.from_settings(
        resolve_settings(
            RunSettings(min_nodes=2, local_epochs=2, batch_size=16, model="network", epsilon=8.0), None
        )
    )
    factor = plan.weight_factor(DECLARED[11]["train"], 20.0)
    assert 0 < factor < 0.1 and plan.weight_factor(DECLARED[12]["train"], 1.0) == 1.0
    assert not log.refused and set(log.capped[1]) == {"astrakhan"}
    assert "reported noise multiplier 20" in log.capped[1]["astrakhan"]
    assert log.train[1]["astrakhan"]["num-examples"] == pytest.approx(60 * factor)
    assert log.train[1]["elista"]["num-examples"] == 80
    _assert_close(arrays, _mean([updates[11], updates[12], updates[13]], [60 * factor, 80, 70]))


@pytest.mark.parametrize("claim", [0, -500, math.nan])
def test_a_non_positive_example_count_is_refused(claim):
    """A negative weight would turn the mean into an extrapolation away from the others."""
    state = _global()
    strategy, log = _strategy()
    _run_round(
        strategy,
        state,
        lambda m: _reply(
            m,
            _honest(state, m.metadata.dst_node_id),
            **({"num-examples": claim} if m.metadata.dst_node_id == 12 else {}),
        ),
    )
    assert "is not a positive number" in log.refused[1]["elista"] and set(log.train[1]) == {
        "astrakhan",
        "rostov",
    }


@pytest.mark.parametrize("damage", ["missing", "shape", "dtype", "extra-record"])
def test_a_malformed_reply_is_refused_without_stopping_the_round(damage):
    """Flower would skip the whole round on one inconsistent reply (or fail inside numpy)."""
    state = _global()
    strategy, log = _strategy()

    def reply(m: Message) -> Message:
        update = _honest(state, m.metadata.dst_node_id)
        if m.metadata.dst_node_id != 11:
            return _reply(m, update)
        if damage == "missing":
            update.pop("head.2.bias")
        elif damage == "shape":
            update["head.2.bias"] = torch.zeros(2)
        elif damage == "dtype":
            update["head.2.bias"] = update["head.2.bias"].to(torch.int64)
        message = _reply(m, update)
        if damage == "extra-record":
            message.content["more"] = ArrayRecord(update)
        return message

    arrays, _metrics, _ = _run_round(strategy, state, reply)
    assert "refused by the coordinator" in log.refused[1]["astrakhan"]
    assert arrays is not None and set(log.train[1]) == {"elista", "rostov"}


def test_a_node_that_declared_no_cohort_is_refused():
    state = _global()
    strategy, log = _strategy()
    del log.declared_sizes[13]
    _run_round(strategy, state, lambda m: _reply(m, _honest(state, m.metadata.dst_node_id)))
    assert "declared no training-set size" in log.refused[1]["rostov"]


@pytest.mark.parametrize(
    "name", ["fedavg", "fedprox", "fedadam", "fedmedian", "fedtrimmedavg", "krum", "multikrum"]
)
def test_every_strategy_runs_with_tracking(name):
    """Round offset (a resumed run), frozen parameters kept bit-identical, replies logged per site
    under the real round, and the worst epsilon reported (max_epsilon_metrics)."""
    state = _global()
    frozen = frozenset({"blocks.weight", "blocks.bias"})
    strategy, log = _strategy(name, offset=4, frozen=frozen, trim_beta=0.34, malicious_nodes=1)
    assert f"{type(strategy).__name__}{type(strategy.strategy).__name__}".lower() == f"tracked{name}"
    start = state
    # round 2 starts from what the strategy made of round 1
    for server_round in (1, 2):
        updates = {node: _honest(state, node, frozen=frozen) for node in NODES}
        arrays, metrics, sent = _run_round(
            strategy,
            state,
            lambda m, updates=updates: _reply(
                m, updates[m.metadata.dst_node_id], epsilon=float(m.metadata.dst_node_id)
            ),
            server_round,
        )
        state = arrays.to_torch_state_dict()
    assert {int(m.content["config"]["server-round"]) for m in sent} == {6}
    assert set(log.train) == {5, 6} and set(log.train[6]) == set(NODES.values()) and not log.refused
    got = arrays.to_torch_state_dict()
    for key in frozen:
        assert torch.equal(got[key], start[key])
    assert all(torch.isfinite(v).all() for v in got.values())
    # in the model's own number types: a hospital refuses any other (FedAdam's float64 was refused
    # by every hospital from round 2 on, an ML engineer's walkthrough)
    assert {key: v.dtype for key, v in got.items()} == {key: v.dtype for key, v in start.items()}
    # Krum and Multi-Krum aggregate only the metrics of the updates they select; the per-site
    # epsilons the report uses come from the round log, which has every site's
    assert metrics["epsilon"] == 13.0 or name in ("krum", "multikrum")
    assert {m["epsilon"] for m in log.train[6].values()} == {11.0, 12.0, 13.0}


def test_fedtrimmedavg_cuts_the_extremes_per_coordinate():
    state = _global()
    updates = {node: _honest(state, node) for node in NODES}
    updates[11] = {k: v + 50.0 for k, v in updates[11].items()}
    arrays, *_ = _run_round(
        _strategy("fedtrimmedavg", epsilon=math.inf, trim_beta=0.34)[0],
        state,
        lambda m: _reply(m, updates[m.metadata.dst_node_id]),
    )
    got = arrays.to_torch_state_dict()
    stacked = {k: np.stack([updates[n][k].numpy() for n in NODES]) for k in state}
    for (
        key,
        values,
    ) in stacked.items():  # with 3 hospitals and beta 0.34: one cut at each end, i.e. the median
        np.testing.assert_allclose(got[key].numpy(), np.median(values, axis=0), rtol=1e-6)
