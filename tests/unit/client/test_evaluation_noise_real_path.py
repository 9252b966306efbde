"""The evaluation release's noise on the real ClientApp path: the sigma the hospital reports,
charges and planned is the documented rule, and the histogram it sends really carries that noise.

`test_attacks.py`'s label attack under DP would still pass with a few times less noise (its bound is
chance + 3 standard errors), and `test_dp_release.py` checks `noisy_histogram` only on its own. Here
the hospital plans 20 evaluations at epsilon 3 (docs/private-evaluation.md: sigma = 12 x sqrt(20) / 3
= 17.89 per count) and answers all 20 through `make_client_app` (Flower's mods included); the
released counts minus the exact ones, over 20 x 20 cells, must have that standard deviation.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict

from genofed.client.app import make_client_app
from genofed.client.site import load_site_tensors, resolve_site, split_seed
from genofed.common.model.network import ModelConfig, build_model, predict_proba
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger
from genofed.common.privacy.release import as_histogram, score_histogram

EPSILON = 3.0
EVALUATIONS = 20  # the site's default max-evaluations
SEED = 3
#: The documented rule (docs/private-evaluation.md, "Noise from public facts"), written out here so
#: that a change to the code's rule fails this test rather than moving with it.
PROMISED_SIGMA = max(2.0, 12.0 * math.sqrt(EVALUATIONS) / EPSILON)


@pytest.fixture(scope="module")
def federation(simulated_cohorts) -> Path:
    """The session's small cohorts, seed 11 (read only: the ledgers go to tmp_path)."""
    return simulated_cohorts(11)


pytestmark = pytest.mark.usefixtures("flower_task_identity")


def _message(kind: str, state: dict, config: ModelConfig, server_round: int) -> Message:
    settings = {
        "server-round": server_round,
        "num-rounds": 1,
        "plan-id": "noise",
        "local-epochs": 1,
        "batch-size": 16,
        "lr": 0.03,
        "clip": 1.0,
        "epsilon": EPSILON,
        "delta": 1e-5,
        "model": json.dumps(config.to_dict()),
        "site-evaluations": EVALUATIONS,
    }
    content = RecordDict({"arrays": ArrayRecord(state), "config": ConfigRecord(settings)})
    return Message(content, message_type=kind, dst_node_id=7)


def test_released_histograms_carry_the_charged_noise(federation, tmp_path):
    settings = {"data-dir": str(federation), "seed": SEED}
    site = resolve_site({"partition-id": 0}, settings)
    data = load_site_tensors(site, split_seed(site, SEED))
    config = ModelConfig(n_variants=data.n_variants)
    ledgers = tmp_path / "ledgers"
    app = make_client_app({**settings, "ledger-dir": str(ledgers)})
    context = Context(run_id=1, node_id=7, node_config={"partition-id": 0}, state=RecordDict(), run_config={})

    trained = app(_message(MessageType.TRAIN, build_model(config, seed=0).state_dict(), config, 1), context)
    assert not trained.has_error(), trained.error  # the first round plans the run's evaluations

    residuals, reported = [], []
    for server_round in range(1, EVALUATIONS + 1):
        model = build_model(config, seed=server_round)  # another model each time: fresh noise
        exact = score_histogram(data.val_y, predict_proba(model, data.val_x))
        reply = app(_message(MessageType.EVALUATE, model.state_dict(), config, server_round), context)
        assert not reply.has_error(), reply.error
        metrics = next(iter(reply.content.metric_records.values()))
        residuals.append(as_histogram(metrics["val-histogram"]) - exact)
        reported.append(float(metrics["val-noise"]))

    ledger = PrivacyLedger(ledgers / site.name / LEDGER_FILE)
    charged = [c.noise_multiplier for c in ledger.charges_of("noise", "evaluate")]
    assert len(charged) == EVALUATIONS  # every answer is in the ledger
    planned = float(ledger.plan("noise")["evaluation_noise"])
    assert planned == pytest.approx(PROMISED_SIGMA, rel=1e-9)
    assert reported == pytest.approx([planned] * EVALUATIONS, rel=1e-9)
    assert charged == pytest.approx([planned] * EVALUATIONS, rel=1e-9)
    assert ledger.epsilon(1e-5) <= EPSILON * (1 + 1e-6)
    # every charge, the training round's and the evaluations', records the coordinator's delta
    assert [c.delta for c in ledger.charges] == [1e-5] * (EVALUATIONS + 1)

    # The noise is N(0, sigma^2) per cell, independent across cells and evaluations, so over n cells
    # the sample sd is sigma x (1 + Z / sqrt(2 n)) and the mean is sigma x Z / sqrt(n), Z standard
    # normal. With n = 400 one standard error is 3.5 % of sigma; 5 of them (17.7 %) keep a correct
    # release's failure rate below 1e-6, and still catch far smaller cuts than the 3.4x (sigma 2
    # instead of 17.89) that the label attack's test would let through.
    noise = np.concatenate([r.ravel() for r in residuals])
    n = noise.size
    assert n == EVALUATIONS * 20
    assert abs(noise.std(ddof=1) / planned - 1) < 5 / math.sqrt(2 * n), noise.std(ddof=1)
    assert abs(noise.mean()) < 5 * planned / math.sqrt(n), noise.mean()
