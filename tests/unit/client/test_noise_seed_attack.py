"""A coordinator that reads pure noise out of a training reply and searches for its seed.

An outside audit (2026-12-05) crafted the model so that one block of the network gets exactly zero
gradient from every patient (the head ignores it): in the reply those coordinates are the DP
noise alone, readable exactly. The noise came from a torch generator, which keeps 32 bits of its
seed, so trying every seed found the stream; subtracting it gave the round's exact clipped
gradient sum, and a patient's label from two neighbouring cohorts, at a charged epsilon of 8.
The noise now comes from a stream cipher keyed by the round's whole 256-bit seed
(`common.privacy.secret_noise`). These tests run the audit's message on the real ClientApp path
and check that its search, even handed the round's key, finds no torch stream, while the key's
holder (the hospital) draws the same noise again (a replay must release the same numbers).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from scipy import stats

from genofed.client.app import make_client_app
from genofed.client.site import resolve_site
from genofed.client.training_request import round_request
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.privacy.secret_noise import SecretNoise

SEED = 3


pytestmark = pytest.mark.usefixtures("flower_task_identity")


@pytest.fixture(scope="module")
def federation(simulated_cohorts) -> Path:
    """The session's small cohorts, seed 11 (read only: the ledger goes to tmp_path)."""
    return simulated_cohorts(11)


def _attack_message(config: ModelConfig) -> tuple[Message, dict[str, torch.Tensor]]:
    """The audit's message: block 0 feeds nothing (its weights get zero gradient from everyone),
    one step over every row (batch larger than the site), lr 1, no momentum."""
    state = build_model(config, seed=0).state_dict()
    state["head.0.weight"][:, 0] = 0.0
    settings = {
        "server-round": 1,
        "num-rounds": 1,
        "plan-id": "attack",
        "local-epochs": 1,
        "batch-size": 100_000,
        "lr": 1.0,
        "momentum": 0.0,
        "clip": 1.0,
        "epsilon": 8.0,
        "delta": 1e-5,
        "model": json.dumps(config.to_dict()),
        "site-evaluations": 0,
    }
    content = RecordDict({"arrays": ArrayRecord(state), "config": ConfigRecord(settings)})
    return Message(content, message_type=MessageType.TRAIN, dst_node_id=7), state


def _pure_noise(federation: Path, tmp_path: Path) -> tuple[np.ndarray, float, int]:
    """Run the attack at a site; returns what the coordinator reads at block 0 (noise x 1, in
    gradient-sum units), the noise's sd there, and the round's key (which only the site has)."""
    site_settings = {"data-dir": str(federation), "ledger-dir": str(tmp_path), "seed": SEED}
    site = resolve_site({"partition-id": 0}, site_settings)
    app = make_client_app(site_settings)
    config = ModelConfig(n_variants=len(_panel_ids(federation)))
    msg, sent = _attack_message(config)
    context = Context(run_id=1, node_id=7, node_config={"partition-id": 0}, state=RecordDict(), run_config={})
    reply = app(msg, context)
    assert not reply.has_error(), reply.error
    metrics = dict(next(iter(reply.content.metric_records.values())))
    back = reply.content["arrays"].to_torch_state_dict()
    rows = metrics["num-examples"]  # Opacus divides the noisy sum by the declared rows at rate 1
    observed = ((sent["blocks.weight"][0] - back["blocks.weight"][0]) * rows).flatten().double().numpy()
    key = round_request(msg, site, site_settings).seed
    return observed, float(metrics["noise-multiplier"]), key


def _panel_ids(federation: Path) -> list[str]:
    return [line.split("\t")[0] for line in (federation / "panel.tsv").read_text().splitlines()[1:] if line]


def test_the_crafted_block_is_pure_noise_and_no_torch_stream_of_the_round_key_is_it(federation, tmp_path):
    observed, sigma, key = _pure_noise(federation, tmp_path)
    # the attack's premise holds: these coordinates carry noise of sd sigma x C (C = 1) and nothing else
    assert observed.size >= 16
    assert stats.kstest(observed / sigma, "norm").pvalue > 1e-3
    # ... and the site draws them from its key: the same stream, first parameter first
    shape = tuple(build_model(ModelConfig(n_variants=len(_panel_ids(federation))), 0).blocks.weight.shape)
    draws = sigma * SecretNoise(key, "noise").normal(shape)[0].ravel()  # the first parameter's block 0
    # (the reply is rounded to a grid of at most sigma / 16 here, common/privacy/snapping.py)
    assert np.allclose(observed, draws, atol=sigma / 16)
    assert not np.allclose(
        observed, sigma * SecretNoise(key + 1, "noise").normal(shape)[0].ravel(), atol=sigma / 16
    )
    # the audit's search, handed the round's key (an attacker has not even that): every 32-bit torch
    # seed the code derived from it before, and a window of 4,096 around each, gives other numbers
    g, buffer = torch.Generator(), torch.empty(shape)  # as Opacus drew it: the whole parameter, float32
    target = torch.as_tensor(observed[:16], dtype=torch.float32)
    derived = [int(w) for w in np.random.SeedSequence(key).generate_state(4)] + [key % 2**32]
    for centre in derived:
        for candidate in range(max(0, centre - 2048), centre + 2048):
            g.manual_seed(candidate)
            torch.normal(0.0, sigma, size=shape, generator=g, out=buffer)
            assert not torch.allclose(buffer[0].ravel()[:16], target, atol=1e-3 * sigma), candidate


def test_torch_keeps_32_bits_of_a_seed_which_is_why_the_noise_is_not_drawn_from_it():
    """The fact the audit used (documented in `secret_noise`): seeds 2**32 apart draw the same
    numbers, so 2**32 tries cover every torch stream; the secret stream's keys do not alias."""
    a = torch.normal(0.0, 1.0, size=(8,), generator=torch.Generator().manual_seed(12345))
    b = torch.normal(0.0, 1.0, size=(8,), generator=torch.Generator().manual_seed(12345 + 2**32))
    assert torch.equal(a, b)
    assert not np.array_equal(
        SecretNoise(12345, "noise").normal(8), SecretNoise(12345 + 2**32, "noise").normal(8)
    )
