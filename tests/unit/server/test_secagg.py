"""Secure aggregation (Flower's SecAgg+) without running a federation: the settings it refuses, its
experiment ids, the protocol parameters, the CLI flag, and the outbound guard inside SecAgg+.
The runs on Flower's real simulation engine are in tests/e2e/test_secagg_federations.py.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.secagg import small_run_settings

from genofed.server import secagg
from genofed.server import settings as settings_module
from genofed.server.settings import RunSettings, SettingsError


@pytest.fixture(scope="module")
def federation(simulated_cohorts) -> Path:
    """The session's small cohorts, seed 5 (read only: runs keep their ledgers in their out dir)."""
    return simulated_cohorts(5)


def test_bad_combinations_are_refused_with_a_clear_message(federation, tmp_path):
    with pytest.raises(SettingsError, match="secagg cannot run strategy fedadam"):
        small_run_settings(federation, tmp_path, secagg=True, strategy="fedadam")
    with pytest.raises(SettingsError, match="min-nodes >= 2"):
        small_run_settings(federation, tmp_path, secagg=True, min_nodes=1)
    assert RunSettings.from_config({"secagg": "true", "strategy": "fedprox"}).secagg


def test_a_strategy_added_later_is_refused_under_secagg(federation, tmp_path, monkeypatch):
    """SecAgg+ runs Flower's legacy FedAvg whatever the strategy: a strategy added to the list (a
    Flower user's walkthrough added FedYogi) ran as FedAvg under secagg while results.json named it.
    The allowed strategies are listed, not the refused ones."""
    monkeypatch.setattr(settings_module, "STRATEGIES", (*settings_module.STRATEGIES, "fedyogi"))
    with pytest.raises(SettingsError, match="secagg cannot run strategy fedyogi: SecAgg[+] runs on"):
        small_run_settings(federation, tmp_path, secagg=True, strategy="fedyogi")
    assert small_run_settings(federation, tmp_path, secagg=False, strategy="fedyogi").strategy == "fedyogi"


def test_secagg_keeps_plain_experiment_ids_and_is_part_of_its_own(tmp_path):
    plain = RunSettings(data_dir="d")
    assert plain.experiment_id() == replace(plain, secagg=False).experiment_id()
    assert replace(plain, secagg=True).experiment_id() != plain.experiment_id()
    assert "secagg" in plain.to_config() and plain.to_config()["secagg"] is False


def test_protocol_parameters_tolerate_a_minority_of_dropouts():
    assert [secagg.threshold_for(n) for n in range(2, 9)] == [2, 2, 3, 3, 4, 4, 5]
    for n in range(3, 9):
        assert n - secagg.threshold_for(n) >= 1  # at least one hospital may drop out
        assert secagg.threshold_for(n) > n / 2  # a majority: no coordinator lie reveals one update
    assert 8 * secagg.QUANTIZATION_RANGE < secagg.MODULUS_RANGE
    assert math.isclose(2 * secagg.CLIPPING_RANGE / secagg.QUANTIZATION_RANGE, 3.814697265625e-06)


def test_clipping_range_covers_the_start_weights_of_a_pretrained_model():
    """A source prior starts from weights over 8 (its rare variants divided by a small column
    scale); the range must hold them plus what training moves, or every hospital refuses."""
    import torch

    scratch = {"linear.weight": torch.zeros(1, 5), "linear.bias": torch.zeros(1), "scale": torch.ones(5)}
    assert secagg.clipping_range_for(scratch) == secagg.CLIPPING_RANGE  # today's runs: unchanged
    assert secagg.clipping_range_for({"w": torch.full((3,), 4.0)}) == secagg.CLIPPING_RANGE
    prior = {"linear.weight": torch.tensor([[0.5, -9.77, 2.0]]), "linear.bias": torch.zeros(1)}
    limit = secagg.clipping_range_for(prior)
    assert limit == 32.0 and limit >= 2 * 9.77
    assert 2 * limit / secagg.QUANTIZATION_RANGE < 1e-4  # quantization still far below the noise
    workflow = secagg.make_secagg_workflow(3, 100, clipping_range=limit)
    assert workflow.clipping_range == limit


def test_simulate_cli_has_secagg(tmp_path):
    from genofed.cli.main import build_parser

    args = build_parser().parse_args(["simulate", "--out", str(tmp_path), "--secagg"])
    assert args.secagg is True


def test_the_outbound_guard_passes_a_fitres_of_model_arrays_and_metrics_only():
    """The guard sits inside SecAgg+: it sees the plaintext FitRes before masking."""
    from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict
    from flwr.common import Code, FitIns, FitRes, Status
    from flwr.compat.common import recorddict_compat as compat
    from flwr.supercore.task_identity import TaskIdentity

    from genofed.client.outbound import OutboundViolation, check_outbound, outbound_guard
    from genofed.common.model.network import ModelConfig, build_model

    TaskIdentity.run_id, TaskIdentity.task_id, TaskIdentity.node_id = 1, 1, 0
    state = build_model(ModelConfig(n_variants=100), seed=0).state_dict()
    parameters = secagg.to_parameters(state)
    sent = Message(
        compat.fitins_to_recorddict(FitIns(parameters, {"server-round": 1}), keep_input=True),
        message_type=MessageType.TRAIN,
        dst_node_id=7,
    )
    sent.content.config_records["secaggplus.configs"] = ConfigRecord({"stage": "collect_masked_vectors"})

    def fitres(params=parameters, metrics=None, message="Success", **extra) -> Message:
        content = compat.fitres_to_recorddict(
            FitRes(Status(Code.OK, message), params, 80, metrics or {"num-examples": 80, "epsilon": 3.0}),
            keep_input=True,
        )
        for name, record in extra.items():
            content[name] = record
        return Message(content, reply_to=sent)

    check_outbound(fitres(), sent)
    wrong_shape = secagg.to_parameters({k: (v[:1] if v.ndim else v) for k, v in state.items()})
    wrong_dtype = secagg.to_parameters({k: v.double() for k, v in state.items()})
    for bad in (
        fitres(metrics={"num-examples": 80, "sample-id": 3.0}),
        fitres(metrics={"num-examples": 80, "who": "ROS0001"}),
        fitres(message="patient ROS0001 failed"),
        fitres(params=wrong_shape),
        fitres(params=wrong_dtype),
        fitres(ids=ConfigRecord({"sample": "ROS0001"})),
    ):
        with pytest.raises(OutboundViolation):
            check_outbound(bad, sent)
        blocked = outbound_guard(sent, Context(1, 7, {}, RecordDict(), {}), lambda m, c, r=bad: r)
        assert blocked.has_error() and "outbound guard" in blocked.error.reason
