"""Finding 2 (deployment audit): under SecAgg+ the unmasked total weight is the divisor, and a
hospital that writes its own weight slot controls it. The coordinator refuses a total weight the
hospitals' public num_examples do not imply, and an aggregate that is not finite: the round is
skipped, as a halted one is, and the global model stays as it was."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from flwr.app import ConfigRecord
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters
from flwr.common.secure_aggregation.ndarrays_arithmetic import (
    factor_combine,
    factor_extract,
    parameters_addition,
    parameters_mod,
    parameters_multiply,
)
from flwr.common.secure_aggregation.quantization import dequantize, quantize
from flwr.server.workflow import SecAggPlusWorkflow
from flwr.server.workflow.secure_aggregation import secaggplus_workflow

from genofed.server import secagg
from genofed.server.round_log import RoundLog

C, Q, M = secagg.CLIPPING_RANGE, secagg.QUANTIZATION_RANGE, secagg.MODULUS_RANGE
SIZES = {1: 80, 2: 48, 3: 64}  # node -> public num_examples
MAX_WEIGHT = 80


def client_vector(params: np.ndarray, num_examples: int) -> list[np.ndarray]:
    """What secaggplus_mod uploads (masks left out: they cancel in the sum)."""
    q_ratio = round(num_examples / MAX_WEIGHT * Q)
    p = parameters_multiply([params], q_ratio / Q)
    return [np.asarray(a, dtype=np.int64) for a in factor_combine(q_ratio, quantize(p, C, Q))]


def fitres(node: int) -> tuple[SimpleNamespace, FitRes]:
    return SimpleNamespace(node_id=node), FitRes(
        Status(Code.OK, ""), ndarrays_to_parameters([]), SIZES[node], {"epsilon": 1.0}
    )


def summed(weight_slot: int | None) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    vectors = [client_vector(rng.normal(0, 0.3, 4), n) for n in SIZES.values()]
    if weight_slot is not None:  # the malicious hospital (node 3) writes its own weight slot
        honest = sum(round(n / MAX_WEIGHT * Q) for n in list(SIZES.values())[:2])
        vectors[2][0] = np.array([(weight_slot - honest) % M], dtype=np.int64)
    total = vectors[0]
    for v in vectors[1:]:
        total = parameters_addition(total, v)
    return parameters_mod(total, M)


def make_strategy() -> secagg.SecAggFedAvg:
    initial = {"w": torch.zeros(4)}
    return secagg.SecAggFedAvg(
        initial=initial,
        train_config=ConfigRecord({}),
        log=RoundLog({1: "a", 2: "b", 3: "c"}),
        round_offset=0,
        seed=0,
        frozen=frozenset(),
        evaluate_fn=lambda *_: None,
        extra={},
    )


def fake_unmask(vector: list[np.ndarray]):
    """Flower's unmask stage from the masks' removal on (secaggplus_workflow.py, unmask_stage)."""

    def unmask_stage(self, grid, context, state) -> bool:
        q_total, recon = secaggplus_workflow.factor_extract(vector)
        inv = Q / q_total
        agg = dequantize(recon, C, Q)
        for vec in agg:
            vec += -(len(state.legacy_results) - 1) * C
            vec *= inv
        params = ndarrays_to_parameters(agg)
        for _, res in state.legacy_results:
            res.parameters = params
        parameters, _ = context.strategy.aggregate_fit(1, state.legacy_results, [])
        context.parameters = parameters
        return True

    return unmask_stage


def run_unmask(monkeypatch, weight_slot: int | None):
    monkeypatch.setattr(SecAggPlusWorkflow, "unmask_stage", fake_unmask(summed(weight_slot)))
    strategy = make_strategy()
    context = SimpleNamespace(strategy=strategy, parameters="unset")
    state = SimpleNamespace(legacy_results=[fitres(n) for n in SIZES])
    workflow = secagg.make_secagg_workflow(3, MAX_WEIGHT)
    assert workflow.unmask_stage(None, context, state)  # type: ignore[arg-type]
    assert secaggplus_workflow.factor_extract is factor_extract  # the hook is removed again
    return strategy, context


def test_the_honest_total_weight_is_what_the_public_num_examples_imply():
    results = [fitres(n) for n in SIZES]
    assert secagg.weight_refusal(factor_extract(summed(None))[0], results, MAX_WEIGHT, Q) is None


@pytest.mark.parametrize("slot", [0, 1, 12345])
def test_a_crafted_total_weight_is_refused(slot):
    results = [fitres(n) for n in SIZES]
    reason = secagg.weight_refusal(factor_extract(summed(slot))[0], results, MAX_WEIGHT, Q)
    assert reason and reason.startswith("secure aggregation: total weight mismatch")


def test_num_examples_whose_weights_wrap_the_modulus_are_refused():
    """A declared 2**40 examples: its quantised ratio wraps modulo 2**32, so no unmasked total matches."""
    proxy, res = fitres(3)
    res.num_examples = 2**40
    expected = secagg.expected_total_weight([(proxy, res)], MAX_WEIGHT, Q)
    assert secagg.weight_refusal(expected % M, [(proxy, res)], MAX_WEIGHT, Q)


def test_the_unmask_stage_uses_an_honest_total(monkeypatch):
    strategy, context = run_unmask(monkeypatch, None)
    assert strategy.refusal is None and strategy.aggregated
    assert context.parameters is not None


@pytest.mark.parametrize("slot", [0, 1])
def test_the_unmask_stage_skips_a_round_with_a_crafted_total(monkeypatch, slot):
    """(c) total 0: -inf/NaN model; (d) total 1: every weight scaled by 2**22. Neither is used."""
    strategy, context = run_unmask(monkeypatch, slot)
    assert context.parameters is None and not strategy.aggregated
    assert strategy.refusal.startswith("secure aggregation: total weight mismatch")


def test_a_non_finite_aggregate_is_refused_and_logged_like_a_halted_round(caplog):
    strategy = make_strategy()
    results = [fitres(n) for n in SIZES]
    bad = ndarrays_to_parameters([np.full(4, -np.inf)])
    for _, res in results:
        res.parameters = bad
    parameters, _ = strategy.aggregate_fit(1, results, [])  # type: ignore[arg-type]
    assert parameters is None and not strategy.aggregated
    assert strategy.refusal.startswith("secure aggregation: non-finite aggregate")
    stats = secagg.SecAggStats()
    with caplog.at_level(logging.ERROR, logger="genofed.server.secagg"):
        observed = SimpleNamespace(errors={}, masked={})  # no error, no masked update noted
        secagg._note_refusals(strategy.log, 1, observed, strategy, 3, stats)  # type: ignore[arg-type]
    assert stats.halted == [1]
    assert 1 not in strategy.log.train
    assert set(strategy.log.refused[1]) == {"a", "b", "c"}
    assert all(r.startswith("secure aggregation: non-finite") for r in strategy.log.refused[1].values())
    assert "secure aggregation: non-finite aggregate" in caplog.text
