"""A strategy's own state survives a checkpoint: a resumed run aggregates as the uninterrupted one.

A checkpoint once kept only FedAdam's moments, so a strategy with any other state (an ML
engineer's FedAvg with server momentum, Flower's FedAvgM) resumed without it and diverged from
its uninterrupted twin from the first resumed round on, with nothing said. The rounds here are
the coordinator's side only: `Tracked`'s hooks with stand-in replies, the checkpoint a real file.
"""

from __future__ import annotations

import math
import threading
import uuid
from typing import Any

import numpy as np
import pytest
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp.strategy import FedAdam, FedAvg, FedAvgM, Strategy

from genofed.server.checkpoint import Checkpoint, latest_checkpoint, save_checkpoint
from genofed.server.round_log import RoundLog
from genofed.server.settings import STRATEGIES, RunSettings
from genofed.server.strategies import make_strategy
from genofed.server.tracking import Tracked, UnsavedStrategyState

pytestmark = pytest.mark.usefixtures("flower_task_identity")

NODES = {1: "rostov", 2: "astrakhan", 3: "elista", 4: "kazan", 5: "samara"}
START = {"w": torch.zeros(6), "b": torch.zeros(1)}
ROUNDS, CUT = 5, 2


class ServerMomentum(FedAvg):
    """FedAvg whose server step follows a velocity of the mean updates (server momentum), kept in
    an attribute of its own, as a newcomer would write it."""

    def __init__(self, *, beta: float = 0.9, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.beta = beta
        self.velocity: dict[str, np.ndarray] | None = None
        self.sent: dict[str, np.ndarray] = {}

    def configure_train(self, server_round, arrays, config, grid):
        self.sent = {k: a.numpy() for k, a in arrays.items()}
        return super().configure_train(server_round, arrays, config, grid)

    def aggregate_train(self, server_round, replies):
        mean, metrics = super().aggregate_train(server_round, replies)
        if mean is None:
            return mean, metrics
        step = {k: a.numpy() - self.sent[k] for k, a in mean.items()}
        old = self.velocity or {k: np.zeros_like(v) for k, v in step.items()}
        self.velocity = {k: self.beta * old[k] + step[k] for k in step}
        return ArrayRecord({k: Array(self.sent[k] + self.velocity[k]) for k in step}), metrics


class Grid:
    """The nodes as Flower's strategies sample them."""

    def get_node_ids(self) -> list[int]:
        return list(NODES)


def _reply(message: Message, real: int) -> Message:
    """A hospital's update: a step towards its own point, different at each node and round."""
    node = message.metadata.dst_node_id
    sent = next(iter(message.content.array_records.values())).to_torch_state_dict()
    moved = {
        k: v + 1e-3 * (node - 2.5) * (1 + real % 3) + 1e-3 * torch.arange(v.numel()) for k, v in sent.items()
    }
    metrics = {"num-examples": 40 + 10 * node, "epsilon": math.inf, "noise-multiplier": 0.0}
    return Message(
        RecordDict({"arrays": ArrayRecord(moved), "metrics": MetricRecord(metrics)}), reply_to=message
    )


def _log() -> RoundLog:
    sizes = {node: {"train": 80, "validation": 20, "synthetic": 0} for node in NODES}
    return RoundLog(site_of_node=dict(NODES), taking_part=set(NODES), declared_sizes=sizes)


def _rounds(tracked: Tracked, arrays: ArrayRecord, flower_rounds: range) -> ArrayRecord:
    for server_round in flower_rounds:
        messages = list(tracked.configure_train(server_round, arrays, ConfigRecord(), Grid()))  # type: ignore[arg-type]
        for message in messages:
            message.metadata.__dict__["_message_id"] = uuid.uuid4().hex  # as the SuperLink does on a push
        real = server_round + tracked.round_offset
        aggregated, _ = tracked.aggregate_train(server_round, [_reply(m, real) for m in messages])
        assert aggregated is not None
        arrays = aggregated
    return arrays


def _resumed_equals_uninterrupted(build, tmp_path, keep=None) -> dict[str, Any]:
    """Run ROUNDS rounds at once, and CUT rounds, a checkpoint, then the rest on a freshly built
    strategy given the checkpoint's state (`keep`: only those of its keys, as an older checkpoint
    held). The two final models must be identical; returns the checkpoint's strategy state."""
    whole = _rounds(build(0), ArrayRecord(dict(START)), range(1, ROUNDS + 1))

    first = build(0)
    cut = _rounds(first, ArrayRecord(dict(START)), range(1, CUT + 1))
    save_checkpoint(
        tmp_path, Checkpoint(CUT, cut.to_torch_state_dict(), {}, "plan", strategy_state=first.state())
    )
    saved = latest_checkpoint(tmp_path)
    assert saved is not None
    state = {k: v for k, v in saved.strategy_state.items() if keep is None or k in keep}
    second = build(CUT)
    second.load_state(state)
    resumed = _rounds(second, cut, range(1, ROUNDS - CUT + 1))

    for key, expected in whole.to_torch_state_dict().items():
        assert torch.equal(resumed.to_torch_state_dict()[key], expected), key
    return saved.strategy_state


def _wrapped(inner: type[Strategy], **arguments: Any):
    return lambda offset: Tracked(
        inner(fraction_evaluate=0.0, **arguments), _log(), round_offset=offset, seed=3
    )


def test_a_new_strategys_own_state_is_kept_and_its_resumed_run_is_the_uninterrupted_one(tmp_path):
    state = _resumed_equals_uninterrupted(_wrapped(ServerMomentum, beta=0.9), tmp_path)
    assert "velocity" in state


def test_flowers_fedavgm_momentum_is_kept(tmp_path):
    state = _resumed_equals_uninterrupted(_wrapped(FedAvgM, server_momentum=0.9), tmp_path)
    assert "momentum_vector" in state


@pytest.mark.parametrize("name", STRATEGIES)
def test_every_shipped_strategy_resumes_as_it_runs_and_fedavg_keeps_nothing(name, tmp_path):
    settings = RunSettings(
        out_dir=str(tmp_path / "run"),
        rounds=ROUNDS,
        strategy=name,
        epsilon=math.inf,
        lr=0.1,
        clip=1.0,
        local_epochs=1,
        batch_size=16,
        site_evaluations=0,
    )
    state = _resumed_equals_uninterrupted(
        lambda offset: make_strategy(settings, _log(), round_offset=offset), tmp_path / "checkpoints"
    )
    if name != "fedadam":
        assert state == {}


def test_an_older_checkpoint_with_fedadams_moments_only_still_resumes_alike(tmp_path):
    state = _resumed_equals_uninterrupted(_wrapped(FedAdam, eta=0.05), tmp_path, keep=("m_t", "v_t"))
    assert {"m_t", "v_t"} <= set(state)


def test_state_a_checkpoint_cannot_hold_is_refused_naming_it():
    tracked = Tracked(FedAvg(), _log())
    tracked.strategy.lock = threading.Lock()  # type: ignore[attr-defined]
    with pytest.raises(UnsavedStrategyState, match=r"FedAvg\.lock .*Tracked\.state"):
        tracked.state()
