"""Distributed DP under SecAgg+ end to end: `simulate` with secagg and privacy distributed on the
small preset, and what a coalition of the coordinator and all other sites sees of one site.

Under SecAgg+ the coalition learns one site's reply exactly (the sum minus its own parts, up to
quantization); the second test measures the noise in that reply, from the real train handler
over several rounds, against the noise share the site's ledger charged for.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_STATE, Stage
from flwr.supercore.task_identity import TaskIdentity
from helpers.secagg import small_run_settings

from genofed.client.distributed_round import DistributedRequest, noisy_gradient_round
from genofed.client.site import resolve_site
from genofed.client.train_handler import train
from genofed.client.training_request import round_request
from genofed.common.data.layout import hospital_folders
from genofed.common.data.panel import VariantPanel
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.privacy.distributed_bound import distributed_floor
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger
from genofed.simulations.local.simulate import simulate

EPSILON = 3.0


@pytest.fixture(scope="module")
def federation(simulated_cohorts) -> Path:
    return simulated_cohorts(5)


def test_a_distributed_run_records_both_epsilons_per_site(federation, tmp_path):
    settings = small_run_settings(
        federation, tmp_path / "run", secagg=True, privacy="distributed", epsilon=EPSILON
    )
    results = simulate(settings, references=False)
    assert [r["round"] for r in results["rounds"]] == [0, 1, 2]
    assert results["refusals"] == {}
    sites = results["sites"]
    assert set(sites) == {"rostov", "astrakhan", "elista"}
    steps = set()
    for name, site in sites.items():
        assert 0.5 * EPSILON < site["epsilon"] <= EPSILON * (1 + 1e-6), name
        assert site["coalition_epsilon"] > site["epsilon"], name
        ledger = PrivacyLedger(Path(settings.ledger_dir) / name / LEDGER_FILE)
        for charge in (c for c in ledger.charges if c.kind == "train"):
            # 3 sites: SecAgg+ unmasks sums of at least 2; each adds what keeps the sum at its sigma
            # beside one other share at the run's floor (a little over sigma / sqrt(2): its sigma also
            # pays for the run's evaluation, the floor for none)
            steps_run = settings.rounds * charge.steps
            floor = distributed_floor(EPSILON, charge.sample_rate, steps_run, settings.delta)
            share, sigma = charge.coalition_noise_multiplier, charge.noise_multiplier
            assert share**2 + floor**2 / 2 == pytest.approx(sigma**2)
            assert sigma / math.sqrt(2) <= share < 1.1 * sigma / math.sqrt(2)
            steps.add((charge.sample_rate, charge.steps))
        assert ledger.coalition_epsilon(settings.delta) == pytest.approx(site["coalition_epsilon"])
    assert len(steps) == 1  # one common rate and number of batches: the shares add up for every site
    report = (Path(settings.out_dir) / "report.md").read_text()
    assert "(coalition " in report
    assert json.loads((Path(settings.out_dir) / "results.json").read_text())["sites"] == sites


def _message(state: dict, model_json: str, server_round: int, lr: float, clip: float) -> Message:
    config = {
        "server-round": server_round,
        "num-rounds": 6,
        "plan-id": "coalition-view",
        "local-epochs": 1,
        "batch-size": 16,
        "lr": lr,
        "clip": clip,
        "epsilon": EPSILON,
        "delta": 1e-5,
        "model": model_json,
        "site-evaluations": 0,
        "privacy": "distributed",
        "noise-share-sites": 2,
        "noise-share-rate": 1.0,  # every patient in the one batch: the clipped sum is deterministic
    }
    content = RecordDict({"arrays": ArrayRecord(state), "config": ConfigRecord(config)})
    return Message(content, message_type=MessageType.TRAIN, dst_node_id=7)


def test_a_coalition_sees_one_sites_reply_with_the_noise_its_ledger_charged(federation, tmp_path):
    """The coalition's best estimate of the site's clean update is off by exactly the site's own
    noise share: std lr * sigma_share * C / n per coordinate (q = 1, one batch, n declared)."""
    torch.set_num_threads(1)
    TaskIdentity.run_id, TaskIdentity.task_id, TaskIdentity.node_id = 1, 1, 0
    folder = hospital_folders(federation)[0]
    node = {
        "genotypes": str(folder.genotypes),
        "phenotypes": str(folder.phenotypes),
        "panel": str(federation / "panel.tsv"),
        "state-dir": str(tmp_path / "state"),
        "epsilon-budget": EPSILON,
        "max-coalition-epsilon": math.inf,  # a deployed site takes part in distributed DP only if it opts in
    }
    site = resolve_site(node, {})
    config = ModelConfig(n_variants=len(VariantPanel.load(federation / "panel.tsv")), architecture="logistic")
    model = build_model(config, seed=0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(3)))
    state, model_json = model.state_dict(), json.dumps(config.to_dict())
    lr, clip = 1.0, 0.5
    noise = []
    for server_round in range(1, 7):
        msg = _message(state, model_json, server_round, lr, clip)
        context = Context(run_id=1, node_id=7, node_config=node, state=RecordDict(), run_config={})
        context.state.config_records[RECORD_KEY_STATE] = ConfigRecord(
            {"current_stage": Stage.SHARE_KEYS, "threshold": 2}
        )
        reply = train(msg, context, site, {}, masked=True)  # as SecAgg+'s masked stage calls it
        request = round_request(msg, site, {})
        rows_x, rows_y = request.data.training_rows()
        clean = noisy_gradient_round(
            request.model,
            rows_x,
            rows_y,
            request.training,
            request=DistributedRequest(2, 1.0, 1),
            noise_share=0.0,
            seed=0,
            weight_rows=request.data.public_train,
        )
        sent = reply["arrays"].to_torch_state_dict()
        trained = [name for name, _ in model.named_parameters()]  # not the fixed column scale
        diffs = [(sent[k].double() - clean.state_dict[k].double()).flatten() for k in trained]
        noise.append(torch.cat(diffs))
        assert torch.equal(sent["scale"], state["scale"])
        assert reply["metrics"]["coalition-epsilon"] > reply["metrics"]["epsilon"]
    ledger = PrivacyLedger(site.state_dir / LEDGER_FILE)
    share = ledger.charges[0].coalition_noise_multiplier
    assert share == pytest.approx(ledger.charges[0].noise_multiplier / math.sqrt(2))
    claimed = lr * share * clip / request.data.public_train
    measured = torch.cat(noise)
    assert float(measured.std()) == pytest.approx(claimed, rel=0.05)
    assert abs(float(measured.mean())) < 5 * claimed / math.sqrt(measured.numel())
    assert ledger.epsilon(1e-5) <= EPSILON * (1 + 1e-6) < ledger.coalition_epsilon(1e-5)
    assert np.isfinite(float(measured.abs().max()))
