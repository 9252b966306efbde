"""The coordinator's defence against bad updates end to end on Flower's simulation engine: one
hospital made malicious by a client mod on the real message path (scaled or NaN updates), under
DP fedavg, fedtrimmedavg and, without DP, fedmedian. The bound and the screen inside the
strategies are unit-tested in tests/unit/server/test_integrity.py.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from flwr.app import ArrayRecord, Message, MessageType

from genofed.common.model.network import ModelConfig, build_model
from genofed.server.settings import RunSettings

pytestmark = pytest.mark.usefixtures("flower_task_identity")


# --- end to end, on Flower's simulation engine ----------------------------------------------

Corrupt = Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor]], dict[str, torch.Tensor]]


def _scaled(sent: dict, trained: dict) -> dict:
    return {k: sent[k] + 100 * (trained[k] - sent[k]) for k in sent}


def _with_nan(_sent: dict, trained: dict) -> dict:
    poisoned = {k: v.clone() for k, v in trained.items()}
    weight = next(k for k, v in poisoned.items() if v.dim() == 2)  # the first weight matrix, any model
    poisoned[weight][0, 0] = math.nan
    return poisoned


def _corrupting(corrupt: Corrupt):
    """A Flower client mod that rewrites the first hospital's train replies after genofed's own
    mods (audit, SecAgg+, outbound guard) ran: a site whose agent skips them, or was replaced."""

    def mod(msg: Message, context, call_next) -> Message:
        reply = call_next(msg, context)
        if (
            msg.metadata.message_type != MessageType.TRAIN
            or reply.has_error()
            or int(context.node_config["partition-id"]) != 0
        ):
            return reply
        key = next(iter(reply.content.array_records))
        sent = msg.content["arrays"].to_torch_state_dict()
        reply.content[key] = ArrayRecord(corrupt(sent, reply.content[key].to_torch_state_dict()))
        return reply

    return mod


def _client_app(config: dict, corrupt: Corrupt | None):
    """The real genofed ClientApp inside an outer ClientApp that carries the corrupting mod
    (Flower binds mods when handlers are registered, so they cannot be added to the inner one)."""
    from flwr.clientapp import ClientApp

    from genofed.client.app import make_client_app

    inner = make_client_app(config)
    outer = ClientApp(mods=[] if corrupt is None else [_corrupting(corrupt)])
    for register in (outer.train(), outer.evaluate(), outer.query()):
        register(lambda msg, context: inner(msg, context))
    return outer


def _federate(settings: RunSettings, corrupt: Corrupt | None = None) -> tuple[dict, dict[str, torch.Tensor]]:
    """What `genofed simulate` runs (without its reference models), with a client app of our own."""
    import logging

    from flwr.simulation import run_simulation

    from genofed.server.app import make_server_app

    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    logging.getLogger("flwr").setLevel(logging.ERROR)
    config = settings.to_config()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_simulation(
            server_app=make_server_app(config),
            client_app=_client_app(config, corrupt),
            num_supernodes=3,
            backend_config={
                "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                "init_args": {
                    "num_cpus": max(1, os.cpu_count() or 1),
                    "include_dashboard": False,
                    "logging_level": "WARNING",
                },
            },
        )
    out = Path(settings.out_dir)
    results = json.loads((out / "results.json").read_text())
    return results, torch.load(out / "model.pt", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def federation(simulated_cohorts) -> Path:
    """The session's small cohorts, seed 5 (read only: runs keep their ledgers in their out dir)."""
    return simulated_cohorts(5)


def _e2e_settings(federation: Path, out: Path, **overrides) -> RunSettings:
    base = dict(rounds=3, local_epochs=3, epsilon=8.0, batch_size=16, seed=5, quiet=True)
    settings = RunSettings(
        data_dir=str(federation), out_dir=str(out), ledger_dir=str(out / "ledgers"), **{**base, **overrides}
    )
    # the plan id (and so every batch and noise draw) from the settings without the federation's
    # temporary path: with it, each CI run drew other batches and the no-DP FedMedian margin
    # (AUC > 0.7) failed once in a clean clone (0.685) and passed beside it (0.745)
    return replace(settings, plan_id=replace(settings, data_dir="").experiment_id())


@pytest.fixture(scope="module")
def honest_dp(federation, tmp_path_factory) -> tuple[dict, dict[str, torch.Tensor]]:
    results, weights = _federate(_e2e_settings(federation, tmp_path_factory.mktemp("honest") / "run"))
    assert not results["refusals"]  # no honest DP update is refused
    return results, weights


def _first_hospital(federation: Path) -> str:
    from genofed.common.data.layout import hospital_folders

    return hospital_folders(federation)[0].name


def _distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], config: ModelConfig) -> float:
    """The L2 distance between two models' trained parameters (of a model built from `config`).
    Buffers are left out: the logistic model's column `scale` is set by the coordinator, not
    trained, and a freshly built model holds ones there, which would swamp how far the weights
    moved."""
    trained = [name for name, _ in build_model(config, seed=0).named_parameters()]
    return math.sqrt(sum(float(((a[k].double() - b[k].double()) ** 2).sum()) for k in trained))


def _config(results: dict) -> ModelConfig:
    """The model configuration a run's results.json records."""
    return ModelConfig.from_dict({k: v for k, v in results["model"].items() if k != "parameters"})


def _travelled(results: dict, weights: dict[str, torch.Tensor]) -> float:
    """How far a run moved the model's trained parameters from its (seeded) starting point."""
    config = _config(results)
    return _distance(weights, build_model(config, seed=results["config"]["seed"]).state_dict(), config)


def test_e2e_fedavg_refuses_a_scaled_update_and_ends_near_the_honest_run(federation, honest_dp, tmp_path):
    """DP fedavg, the first hospital sends 100 x its real update every round: refused by the norm
    bound each round; the model stays near the all-honest run's (the same two other hospitals'
    updates go in; DP noise differs from round 2 on, since the global models differ)."""
    honest, honest_weights = honest_dp
    results, weights = _federate(_e2e_settings(federation, tmp_path / "scaled"), _scaled)
    bad = _first_hospital(federation)
    for round_ in ("1", "2", "3"):
        assert "exceeds" in results["refusals"][round_][bad]
    assert all(bad not in r["participants"] and len(r["participants"]) == 2 for r in results["rounds"][1:])
    print(
        f"test AUC honest {honest['test_auc']:.3f}, one scaled site refused {results['test_auc']:.3f}; "
        f"||w - w_honest|| {_distance(weights, honest_weights, _config(honest)):.3f}, "
        f"honest run moved {_travelled(honest, honest_weights):.3f}"
    )
    assert abs(results["test_auc"] - honest["test_auc"]) < 0.1
    # Two DP runs differ by their noise (about sqrt(2) x how far either moved, where noise dominates);
    # the x100 update in FedAvg's mean would have moved the model some 30 x that distance in round 1 alone
    assert _distance(weights, honest_weights, _config(honest)) < 2.5 * _travelled(honest, honest_weights)
    assert all(torch.isfinite(v).all() for v in weights.values())


def test_e2e_fedtrimmedavg_refuses_a_nan_update(federation, honest_dp, tmp_path):
    honest, honest_weights = honest_dp
    settings = _e2e_settings(federation, tmp_path / "nan", strategy="fedtrimmedavg", trim_beta=0.34)
    results, weights = _federate(settings, _with_nan)
    bad = _first_hospital(federation)
    for round_ in ("1", "2", "3"):
        assert "non-finite update" in results["refusals"][round_][bad]
    print(
        f"test AUC honest {honest['test_auc']:.3f}, "
        f"NaN site refused (fedtrimmedavg) {results['test_auc']:.3f}; "
        f"||w - w_honest|| {_distance(weights, honest_weights, _config(honest)):.3f}, "
        f"honest run moved {_travelled(honest, honest_weights):.3f}"
    )
    assert all(torch.isfinite(v).all() for v in weights.values())
    assert abs(results["test_auc"] - honest["test_auc"]) < 0.1
    # DP noise, as above
    assert _distance(weights, honest_weights, _config(honest)) < 2.5 * _travelled(honest, honest_weights)


def test_e2e_fedmedian_without_dp_outvotes_a_scaled_update(federation, tmp_path):
    """Without DP there is no norm bound (no clipping): the x100 update is aggregated, and the
    coordinate-wise median keeps the model where the honest run goes."""
    plain = dict(epsilon=math.inf, lr=0.3, strategy="fedmedian")
    honest, honest_weights = _federate(_e2e_settings(federation, tmp_path / "honest", **plain))
    assert not honest["refusals"]
    results, weights = _federate(_e2e_settings(federation, tmp_path / "scaled", **plain), _scaled)
    assert not results["refusals"] and all(len(r["participants"]) == 3 for r in results["rounds"][1:])
    print(
        f"no DP, fedmedian: test AUC honest {honest['test_auc']:.3f}, "
        f"one site x100 {results['test_auc']:.3f}; "
        f"||w - w_honest|| {_distance(weights, honest_weights, _config(honest)):.3f}, "
        f"honest run moved {_travelled(honest, honest_weights):.3f}"
    )
    assert abs(results["test_auc"] - honest["test_auc"]) < 0.1 and results["test_auc"] > 0.7
    # per coordinate the median becomes the honest value on the attacker's side (up to half the
    # honest spread off); FedAvg's mean would have taken a third of the x100 update itself
    assert _distance(weights, honest_weights, _config(honest)) < 2 * _travelled(honest, honest_weights)
