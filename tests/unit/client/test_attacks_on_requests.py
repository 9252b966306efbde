"""Attacks by a malicious coordinator through the settings and models it sends, on the real
ClientApp message path (`make_client_app`, Flower's mods included), against a deployed hospital
(its own node config, budget 3). Each was found by a security audit and read patients' data:

- the same train message sent again in a run whose run config changed a setting the message left
  out (the clip) passed as a free rerun with the same noise draw: two replies cancel the noise;
- a model whose risks are NaN for the carriers of two chosen variants (a huge column scale)
  made the evaluation fail on exactly those patients, before anything was planned or charged:
  one free bit per message (the training round failed the same way, after its charge);
- a refused first round left its privacy plan behind, and the site then answered that run's
  evaluations without training in it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from flwr.app import Context, Message, MessageType, RecordDict
from helpers.round_message import deployed_node_config, round_message

from genofed.client.app import make_client_app
from genofed.client.kept_replies import KEPT_REPLIES
from genofed.client.site import load_site_tensors, resolve_site, split_seed
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.privacy.accountant import BudgetExhausted
from genofed.common.privacy.ledger import LEDGER_FILE, NOISE_SOURCE, Charge, PrivacyLedger

BUDGET = 3.0


pytestmark = pytest.mark.usefixtures("flower_task_identity")


@pytest.fixture(scope="module")
def hospital(simulated_cohorts) -> Path:
    """One hospital folder of the session's small cohorts (read only)."""
    federation = simulated_cohorts(11)
    return sorted(p for p in federation.iterdir() if (p / "phenotypes.csv").exists())[0]


def _node_config(hospital: Path, state: Path) -> dict[str, str]:
    return deployed_node_config(hospital, state, BUDGET)


def _context(hospital: Path, state: Path, run_config: dict | None = None, run_id: int = 1) -> Context:
    return Context(
        run_id=run_id,
        node_id=7,
        node_config=_node_config(hospital, state),
        state=RecordDict(),
        run_config=dict(run_config or {}),
    )


def _message(kind: str, state: dict, config: ModelConfig, **settings) -> Message:
    return round_message(kind, state, config, BUDGET, {"site-evaluations": 2, **settings})


def _data(context: Context):
    site = resolve_site(dict(context.node_config), {})
    return load_site_tensors(site, split_seed(site, 0))


def test_a_setting_the_run_config_supplies_is_an_input_of_the_round(hospital, tmp_path):
    """The message leaves out the clip; the run config gives 500, then 1000. The second is a
    different release, not a rerun: refused, and the ledger holds the one charge it paid for."""
    app = make_client_app({})
    state = tmp_path / "state"
    data = _data(_context(hospital, state))
    config = ModelConfig(n_variants=data.n_variants, architecture="logistic")
    start = build_model(config, seed=0).state_dict()
    asked = {"clip": None, "batch-size": 1_000_000, "lr": 1.0, "momentum": 0.0, "num-rounds": 1}
    first = app(
        _message(MessageType.TRAIN, start, config, **asked), _context(hospital, state, {"clip": 500.0})
    )
    assert not first.has_error(), first.error
    # the very same request again (a coordinator restarted): the same release, answered, not charged again
    again = app(
        _message(MessageType.TRAIN, start, config, **asked), _context(hospital, state, {"clip": 500.0}, 2)
    )
    assert not again.has_error(), again.error
    ours = next(iter(first.content.array_records.values()))
    for key, value in next(iter(again.content.array_records.values())).items():
        np.testing.assert_array_equal(value.numpy(), ours[key].numpy())
    other = app(
        _message(MessageType.TRAIN, start, config, **asked), _context(hospital, state, {"clip": 1000.0}, 3)
    )
    assert other.has_error() and "already trained here and its reply sent" in other.error.reason
    assert len(PrivacyLedger(state / LEDGER_FILE).charges) == 1


def test_a_round_an_earlier_genofed_charged_is_not_released_again_with_other_noise(hospital, tmp_path):
    """An upgrade audit: a round charged and sent by a genofed that drew its noise another way
    (before stop 46, from torch's generator), then resumed after the upgrade, was trained again on
    the same inputs (the same digest) and sent with other noise, while the ledger kept its one
    charge. A round this genofed did not keep the reply of is no free rerun: refused."""
    app = make_client_app({})
    state = tmp_path / "state"
    data = _data(_context(hospital, state))
    config = ModelConfig(n_variants=data.n_variants, architecture="logistic")
    start = build_model(config, seed=0).state_dict()
    asked = {"batch-size": 1_000_000, "lr": 1.0, "momentum": 0.0, "num-rounds": 1}
    first = app(_message(MessageType.TRAIN, start, config, **asked), _context(hospital, state))
    assert not first.has_error(), first.error
    ledger = state / LEDGER_FILE
    recorded = json.loads(ledger.read_text())
    assert [c["noise_source"] for c in recorded["charges"]] == [NOISE_SOURCE]
    for charge in recorded["charges"]:  # as the earlier genofed wrote it
        del charge["noise_source"]
    ledger.write_text(json.dumps(recorded))
    shutil.rmtree(state / KEPT_REPLIES)  # an earlier genofed kept no reply
    again = app(_message(MessageType.TRAIN, start, config, **asked), _context(hospital, state, run_id=2))
    assert again.has_error() and "an earlier genofed sent it" in again.error.reason
    assert len(PrivacyLedger(ledger).charges) == 1 and PrivacyLedger(ledger).charges[0].noise_source is None


def _overflowing_model(start: dict, variants: tuple[int, int]) -> dict:
    """A logistic model whose logit is inf - inf = NaN exactly for carriers of both variants: a
    finite but huge column scale (a buffer the coordinator sends) and weights +10 / -10."""
    state = {k: v.clone() for k, v in start.items()}
    v, u = variants
    state["scale"][v] = state["scale"][u] = 3.4e38
    state["linear.weight"][0, v], state["linear.weight"][0, u] = 10.0, -10.0
    return state


def test_a_model_that_overflows_for_chosen_carriers_is_refused_before_anyone_is_scored(hospital, tmp_path):
    """Before, the evaluation failed on exactly the patients carrying both variants (one free bit
    per message); now the model is refused for its size, the same way whoever carries what, for
    training and evaluation alike, and nothing is charged."""
    app = make_client_app({})
    state = tmp_path / "state"
    context = _context(hospital, state)
    data = _data(context)
    n = data.n_variants
    config = ModelConfig(n_variants=n, architecture="logistic")
    start = build_model(config, seed=0).state_dict()
    carriers = data.val_x[:, :n] > data.val_x[:, :n].min(axis=0) + 1e-6
    patient = int(np.argmax(carriers.sum(axis=1)))  # a validation patient carrying several variants
    pair = tuple(int(v) for v in np.flatnonzero(carriers[patient])[:2])
    absent = tuple(int(v) for v in np.flatnonzero(~carriers.any(axis=0))[:2])  # carried by no one
    assert len(pair) == 2 and len(absent) == 2

    assert not app(_message(MessageType.TRAIN, start, config), context).has_error()  # the run is planned
    charged = len(PrivacyLedger(state / LEDGER_FILE).charges)
    for kind, server_round in ((MessageType.EVALUATE, 2), (MessageType.TRAIN, 2)):
        replies = [
            app(
                _message(kind, _overflowing_model(start, p), config, **{"server-round": server_round}),
                context,
            )
            for p in (pair, absent)
        ]
        assert all(r.has_error() for r in replies)
        assert replies[0].error.reason == replies[1].error.reason
        assert "above 1,000,000 in size" in replies[0].error.reason
    assert len(PrivacyLedger(state / LEDGER_FILE).charges) == charged


def test_a_refused_first_round_leaves_no_plan_to_answer_evaluations_from(hospital, tmp_path):
    app = make_client_app({})
    state = tmp_path / "state"
    context = _context(hospital, state)
    config = ModelConfig(n_variants=_data(context).n_variants, architecture="logistic")
    start = build_model(config, seed=0).state_dict()
    refused = app(
        _message(MessageType.TRAIN, start, config, **{"num-rounds": 0, "site-evaluations": 20}), context
    )
    assert refused.has_error()
    ledger = PrivacyLedger(state / LEDGER_FILE)
    assert ledger.plans == {} and ledger.charges == []
    for server_round in (1, 2):
        reply = app(_message(MessageType.EVALUATE, start, config, **{"server-round": server_round}), context)
        assert reply.has_error() and "a run it trains in" in reply.error.reason
    assert PrivacyLedger(state / LEDGER_FILE).charges == []


def test_the_ledger_refuses_a_second_release_under_a_charged_rounds_key(tmp_path):
    """The last guard: replacing a round's charge is only for the same release again."""
    ledger = PrivacyLedger(tmp_path / LEDGER_FILE)
    ledger.charge(Charge("run", 1, 1.5, 0.2, 10, 1.0))
    ledger.charge(Charge("run", 1, 1.5, 0.2, 10, 1.0))  # the same release again: fine
    with pytest.raises(BudgetExhausted, match="second, uncharged release"):
        ledger.charge(Charge("run", 1, 0.7, 0.2, 10, 1.0))
    assert [c.noise_multiplier for c in PrivacyLedger(tmp_path / LEDGER_FILE).charges] == [1.5]


def test_an_integer_array_cannot_slip_past_the_size_bound(hospital, tmp_path):
    """An int64 column scale of 9.2e18 was cast into the float scale on loading, unchecked: the
    per-patient norm then overflowed to NaN for a case only (a security audit read 24 of 24
    labels, one per charged round). Every array must have the site model's own number type."""
    app = make_client_app({})
    state = tmp_path / "state"
    context = _context(hospital, state)
    config = ModelConfig(n_variants=_data(context).n_variants, architecture="logistic")
    crafted = build_model(config, seed=0).state_dict()
    crafted["scale"] = torch.full_like(crafted["scale"], 9_200_000_000_000_000_000, dtype=torch.int64)
    reply = app(_message(MessageType.TRAIN, crafted, config), context)
    assert reply.has_error() and "scale as another number type" in reply.error.reason
    assert not (state / LEDGER_FILE).exists()


@pytest.mark.parametrize(
    ("rounds", "said"),
    [
        ({"num-rounds": 0}, "round 1 of 0"),
        ({"num-rounds": -5}, "round 1 of -5"),
        ({"num-rounds": "many"}, "num-rounds='many', not a whole number"),
        ({"num-rounds": 2.5}, "num-rounds=2.5, not a whole number"),
        ({"num-rounds": 3, "server-round": 4}, "round 4 of 3"),
    ],
)
def test_a_run_of_no_rounds_is_refused_before_anything_is_planned(hospital, tmp_path, rounds, said):
    """The privacy plan spreads the budget over num-rounds: 0 or less planned the least noise the
    plan allows (a privacy review: the budget held, but the coordinator chose how fast it went).
    Refused in words that quote only what the coordinator sent; nothing planned or charged."""
    app = make_client_app({})
    state = tmp_path / "state"
    data = _data(_context(hospital, state))
    config = ModelConfig(n_variants=data.n_variants, architecture="logistic")
    start = build_model(config, seed=0).state_dict()
    message = _message(MessageType.TRAIN, start, config, **rounds)
    reply = app(message, _context(hospital, state))
    assert reply.has_error() and said in reply.error.reason and "refused" in reply.error.reason
    ledger = PrivacyLedger(state / LEDGER_FILE)
    assert ledger.charges == []


def test_a_model_of_two_outputs_is_refused_before_any_plan(hospital, tmp_path):
    """A red-team audit (stop 54): a train request whose model had two outputs recorded the run's
    privacy plan, then failed in the loss ("internal error"), against privacy.md's "a first round
    that is refused leaves no privacy plan". Now refused in words, before anything is planned."""
    state = tmp_path / "state"
    data = _data(_context(hospital, state))
    config = ModelConfig(n_variants=data.n_variants, architecture="logistic", n_outputs=2)
    start = build_model(config, seed=0).state_dict()
    reply = make_client_app({})(_message(MessageType.TRAIN, start, config), _context(hospital, state))
    assert reply.has_error() and "a hospital trains and evaluates one disease label" in reply.error.reason
    assert not (state / LEDGER_FILE).exists() or not PrivacyLedger(state / LEDGER_FILE).plans


@pytest.mark.parametrize(
    ("kind", "asked", "said"),
    [
        (MessageType.EVALUATE, {"server-round": 2.9}, "server-round=2.9, not a whole number"),
        (MessageType.EVALUATE, {"server-round": "two"}, "server-round='two', not a whole number"),
        (MessageType.TRAIN, {"site-evaluations": 2.9}, "site-evaluations=2.9, not a whole number"),
        (MessageType.TRAIN, {"site-evaluations": -5}, "plan -5 evaluations"),
    ],
)
def test_an_evaluation_round_or_count_that_is_no_whole_number_is_refused(
    hospital, tmp_path, kind, asked, said
):
    """A red-team audit (stop 64): the evaluate handler read `server-round` with int(), so round 2.9
    was answered and charged as round 2 (train refused it), and a site-evaluations of -5 planned
    "-5 evaluations". Refused in words now, nothing charged."""
    app = make_client_app({})
    state = tmp_path / "state"
    data = _data(_context(hospital, state))
    config = ModelConfig(n_variants=data.n_variants, architecture="logistic")
    start = build_model(config, seed=0).state_dict()
    reply = app(_message(kind, start, config, **asked), _context(hospital, state))
    assert reply.has_error() and said in reply.error.reason and "refused" in reply.error.reason
    assert not (state / LEDGER_FILE).exists() or PrivacyLedger(state / LEDGER_FILE).charges == []
