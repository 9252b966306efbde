"""Attacks by a curious coordinator on the real ClientApp message path.

The coordinator chooses the model a hospital trains or evaluates. A model with all its weight on
one rare variant that one validation patient carries puts that patient alone in the top risk bin:
any exact number the hospital computes on its patients then reads the patient's label. Each test
runs the attack through `make_client_app` (Flower's mods included: outbound guard, audit) and
checks that what comes back is covered by the hospital's ledger: without privacy (a hospital
whose own budget is inf) the attack reads every targeted label; with it, no better than chance.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict

from genofed.client.app import make_client_app
from genofed.client.site import load_site_tensors, resolve_site, split_seed
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger
from genofed.common.privacy.release import as_histogram

EVALUATIONS = 20  # one run's evaluations, each aimed at another patient (the site's default cap)


@pytest.fixture(scope="module")
def federation(simulated_cohorts) -> Path:
    """The session's small cohorts, seed 11 (read only: each attack keeps its ledgers in tmp_path)."""
    return simulated_cohorts(11)


pytestmark = pytest.mark.usefixtures("flower_task_identity")


def _site_data(federation: Path, seed: int):
    settings = {"data-dir": str(federation), "seed": seed}
    site = resolve_site({"partition-id": 0}, settings)
    return load_site_tensors(site, split_seed(site, seed))


def _targets(val_x: np.ndarray, n_variants: int) -> list[tuple[int, int]]:
    """(validation patient, variant) pairs where the patient is the only validation carrier."""
    carriers = val_x[:, :n_variants] > val_x[:, :n_variants].min(axis=0)  # above the reference dosage
    found, used = [], set()
    for variant in np.flatnonzero(carriers.sum(axis=0) == 1):
        patient = int(np.flatnonzero(carriers[:, variant])[0])
        if patient not in used:
            used.add(patient)
            found.append((patient, int(variant)))
    return found


def _crafted_model(
    config: ModelConfig, variant: int, reference: float, carrier: float
) -> dict[str, torch.Tensor]:
    """All weight on one variant: its carriers get risk ~1, everyone else risk ~0."""
    model = build_model(config, seed=0)
    state = {k: torch.zeros_like(v) for k, v in model.state_dict().items()}
    block, within = divmod(variant, config.block_size)
    scale = 50.0 / (carrier - reference)
    state["blocks.weight"][block, within, 0] = scale
    state["blocks.bias"][block, 0] = -scale * (reference + carrier) / 2  # +1 for a carrier, -1 otherwise
    state["head.0.weight"][0, block] = 3.0
    state["head.2.weight"][0, 0] = 40.0
    return state


def _message(kind: str, state: dict, config: ModelConfig, **settings) -> Message:
    base = {
        "server-round": 1,
        "num-rounds": 1,
        "plan-id": "attack",
        "local-epochs": 1,
        "batch-size": 16,
        "lr": 0.03,
        "clip": 1.0,
        "epsilon": 8.0,
        "delta": 1e-5,
        "model": json.dumps(config.to_dict()),
        "site-evaluations": EVALUATIONS,
    }
    content = RecordDict({"arrays": ArrayRecord(state), "config": ConfigRecord({**base, **settings})})
    return Message(content, message_type=kind, dst_node_id=7)


def _context() -> Context:
    return Context(run_id=1, node_id=7, node_config={"partition-id": 0}, state=RecordDict(), run_config={})


def _label_attack(federation: Path, ledgers: Path, epsilon: float, seed: int) -> tuple[int, int, Path]:
    """One run of the attack at one site: train once (which plans the run), then spend every
    evaluation of the run on another targeted patient. Returns (correct guesses, targets, ledger)."""
    data = _site_data(federation, seed)
    n_variants = data.n_variants
    config = ModelConfig(n_variants=n_variants)
    app = make_client_app({"data-dir": str(federation), "ledger-dir": str(ledgers), "seed": seed})
    context = _context()
    trained = app(
        _message(MessageType.TRAIN, build_model(config, seed=0).state_dict(), config, epsilon=epsilon),
        context,
    )
    assert not trained.has_error(), trained.error
    targets = _targets(data.val_x, n_variants)[:EVALUATIONS]
    assert len(targets) >= 10, "the small preset should give enough single-carrier validation patients"
    correct = 0
    for server_round, (patient, variant) in enumerate(targets, start=1):
        column = data.val_x[:, variant]
        state = _crafted_model(config, variant, float(column.min()), float(column[patient]))
        reply = app(
            _message(MessageType.EVALUATE, state, config, epsilon=epsilon, **{"server-round": server_round}),
            context,
        )
        assert not reply.has_error(), reply.error
        histogram = as_histogram(next(iter(reply.content.metric_records.values()))["val-histogram"])
        guess = int(histogram[1, -1] > histogram[0, -1])  # which class's top-risk bin holds the patient
        correct += guess == int(data.val_y[patient])
    return correct, len(targets), ledgers / Path(data_site_name(federation)) / LEDGER_FILE


def data_site_name(federation: Path) -> str:
    return resolve_site({"partition-id": 0}, {"data-dir": str(federation)}).name


def test_crafted_models_read_labels_exactly_without_privacy(federation, tmp_path):
    """The attack works: a hospital that chose no privacy (budget inf) answers with exact counts."""
    correct, total, _ = _label_attack(federation, tmp_path / "ledgers", math.inf, seed=3)
    assert correct == total


def test_crafted_models_read_labels_no_better_than_chance_under_dp(federation, tmp_path):
    correct = total = 0
    for seed in range(3, 8):  # five hospitals' worth of runs, each with its own secret noise
        got, asked, ledger_path = _label_attack(federation, tmp_path / f"ledgers-{seed}", 8.0, seed=seed)
        correct, total = correct + got, total + asked
        ledger = PrivacyLedger(ledger_path)
        assert len(ledger.charges_of("attack", "evaluate")) == asked  # every answer is in the ledger
        assert ledger.epsilon(1e-5) <= 8.0 * (1 + 1e-6)
    accuracy = correct / total
    assert accuracy < 0.5 + 3 * math.sqrt(0.25 / total), f"{correct}/{total} labels read"


def test_evaluations_are_capped_pinned_to_the_architecture_and_answered_once(federation, tmp_path):
    data = _site_data(federation, 3)
    config = ModelConfig(n_variants=data.n_variants)
    app = make_client_app({"data-dir": str(federation), "ledger-dir": str(tmp_path / "ledgers"), "seed": 3})
    context = _context()
    state = build_model(config, seed=0).state_dict()
    early = app(_message(MessageType.EVALUATE, state, config), context)
    assert early.has_error() and "trains in" in early.error.reason  # nothing planned: nothing answered
    assert not app(_message(MessageType.TRAIN, state, config, **{"site-evaluations": 2}), context).has_error()

    first = app(_message(MessageType.EVALUATE, state, config), context)
    again = app(_message(MessageType.EVALUATE, state, config), context)  # the same query: the same answer
    histogram = next(iter(first.content.metric_records.values()))["val-histogram"]
    assert histogram == next(iter(again.content.metric_records.values()))["val-histogram"]
    other = {k: v + 0.01 for k, v in state.items()}
    changed = app(_message(MessageType.EVALUATE, other, config), context)  # same round, another model
    assert changed.has_error() and "already evaluated" in changed.error.reason
    assert not app(_message(MessageType.EVALUATE, other, config, **{"server-round": 2}), context).has_error()
    capped = app(_message(MessageType.EVALUATE, state, config, **{"server-round": 3}), context)
    assert capped.has_error() and "used up" in capped.error.reason

    linear = ModelConfig(n_variants=data.n_variants, linear_path=True)
    crafted = app(
        _message(
            MessageType.EVALUATE, build_model(linear, seed=0).state_dict(), linear, **{"server-round": 4}
        ),
        context,
    )
    assert crafted.has_error() and "architecture" in crafted.error.reason
    ledger = PrivacyLedger(tmp_path / "ledgers" / data_site_name(federation) / LEDGER_FILE)
    assert [c.kind for c in ledger.charges] == ["train", "evaluate", "evaluate"]


def test_no_exact_number_leaves_with_an_update_and_pure_queries_are_refused(federation, tmp_path):
    data = _site_data(federation, 3)
    config = ModelConfig(n_variants=data.n_variants)
    app = make_client_app({"data-dir": str(federation), "ledger-dir": str(tmp_path / "ledgers"), "seed": 3})
    context = _context()
    patient, variant = _targets(data.val_x, data.n_variants)[0]
    column = data.val_x[:, variant]
    state = _crafted_model(config, variant, float(column.min()), float(column[patient]))
    for settings in (
        {"lr": 0.0},
        {"lr": float("nan")},
        {"lr": "fast"},
        {"lr": 1.0, "proximal-mu": 1.0},
        {"clip": 0.0},
        {"clip": 1e-30},  # a subnormal clip factor let a gradient through at 3.8 C (TRAINING_LIMITS)
        {"local-epochs": 0},
    ):
        reply = app(_message(MessageType.TRAIN, state, config, **settings), context)
        assert reply.has_error() and "refused" in reply.error.reason, settings
    reply = app(_message(MessageType.TRAIN, state, config), context)
    metrics = next(iter(reply.content.metric_records.values()))
    assert set(metrics) == {"num-examples", "synthetic-examples", "epsilon", "noise-multiplier"}
    poisoned = {k: torch.full_like(v, float("nan")) for k, v in state.items()}
    refused = app(_message(MessageType.TRAIN, poisoned, config, **{"server-round": 2}), context)
    assert refused.has_error() and "non-finite" in refused.error.reason


def test_a_hospital_refuses_an_architecture_it_did_not_agree_to(federation, tmp_path):
    import hashlib

    data = _site_data(federation, 3)
    agreed = ModelConfig(n_variants=data.n_variants)
    digest = hashlib.sha256(json.dumps(agreed.to_dict(), sort_keys=True).encode()).hexdigest()
    app = make_client_app({"data-dir": str(federation), "ledger-dir": str(tmp_path / "ledgers"), "seed": 3})
    context = Context(
        run_id=1,
        node_id=7,
        node_config={"partition-id": 0, "model-digest": digest},
        state=RecordDict(),
        run_config={},
    )
    other = ModelConfig(n_variants=data.n_variants, linear_path=True)
    reply = app(
        _message(MessageType.TRAIN, build_model(other, seed=0).state_dict(), other, **{"plan-id": "new"}),
        context,
    )
    assert reply.has_error() and "did not agree" in reply.error.reason


def test_a_lowered_evaluation_cap_holds_for_a_run_planned_before(federation, tmp_path):
    """A hospital that lowers its node config's max-evaluations and restarts is held to the new cap
    in a run planned under the old one (an audit found the plan's count was the only cap read)."""
    data = _site_data(federation, 3)
    config = ModelConfig(n_variants=data.n_variants)
    settings = {"data-dir": str(federation), "ledger-dir": str(tmp_path / "ledgers"), "seed": 3}
    state = build_model(config, seed=0).state_dict()

    def context(cap: int) -> Context:
        node = {"partition-id": 0, "max-evaluations": cap}
        return Context(run_id=1, node_id=7, node_config=node, state=RecordDict(), run_config={})

    trained = make_client_app(settings)(_message(MessageType.TRAIN, state, config), context(20))
    assert not trained.has_error(), trained.error
    app, lowered = make_client_app(settings), context(1)  # restarted with max-evaluations 1
    assert not app(_message(MessageType.EVALUATE, state, config), lowered).has_error()
    second = app(_message(MessageType.EVALUATE, state, config, **{"server-round": 2}), lowered)
    assert second.has_error() and "at most 1 evaluation" in second.error.reason
    none = app(_message(MessageType.EVALUATE, state, config, **{"server-round": 3}), context(0))
    assert none.has_error() and "at most 0 evaluation" in none.error.reason
    ledger = PrivacyLedger(tmp_path / "ledgers" / data_site_name(federation) / LEDGER_FILE)
    assert [c.kind for c in ledger.charges] == ["train", "evaluate"]
