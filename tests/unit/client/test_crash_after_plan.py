"""A ClientApp that dies in a DP round, on the real message path (`make_client_app`), at a deployed
hospital: what its ledger holds afterwards and what the next attempt does (docs/privacy.md).

The round runs under the ledger's lock: plan (recorded in the ledger's `plans` at a run's first
round), train, charge; the reply is sent only after the charge. So:

- dying before the charge (an exception, or the process killed while training) leaves the plan
  and no charge: nothing was sent, nothing is spent; the retry trains and is charged once, at the
  plan's noise, and the plan alone answers no evaluation;
- dying after the charge, before the reply is sent, leaves the charge (conservative); the same
  request again is the same release, charged once; the round on other inputs is refused; the
  run's next round goes on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from flwr.app import Context, MessageType, RecordDict
from flwr.supercore.task_identity import TaskIdentity
from helpers.round_message import deployed_node_config, round_message

import genofed.client.train_handler as train_handler
from genofed.client.app import make_client_app
from genofed.client.site import load_site_tensors, resolve_site, split_seed
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger

BUDGET = 3.0
#: What the killed child writes once it is training, its plan recorded.
TRAINING = "training.started"


@pytest.fixture(autouse=True)
def _task_identity():
    _identify()


def _identify() -> None:
    TaskIdentity.run_id, TaskIdentity.task_id, TaskIdentity.node_id = 1, 1, 0


@pytest.fixture(scope="module")
def hospital(simulated_cohorts) -> Path:
    """One hospital folder of the session's small cohorts (read only)."""
    federation = simulated_cohorts(11)
    return sorted(p for p in federation.iterdir() if (p / "phenotypes.csv").exists())[0]


def _context(hospital: Path, state: Path) -> Context:
    node_config = deployed_node_config(hospital, state, BUDGET)
    return Context(run_id=1, node_id=7, node_config=node_config, state=RecordDict(), run_config={})


def _round(
    hospital: Path, state: Path, server_round: int = 1, *, kind: str = MessageType.TRAIN, model: int = 0
):
    """The round's message (a logistic model of the site's panel, `model` picks its weights) and context."""
    context = _context(hospital, state)
    site = resolve_site(dict(context.node_config), {})
    config = ModelConfig(
        n_variants=load_site_tensors(site, split_seed(site, 0)).n_variants, architecture="logistic"
    )
    weights = build_model(config, seed=0).state_dict()
    weights["linear.weight"] += 0.01 * model  # another global model (the logistic model starts at zero)
    return round_message(kind, weights, config, BUDGET, {"server-round": server_round}), context


def _ledger(state: Path) -> PrivacyLedger:
    return PrivacyLedger(state / LEDGER_FILE)


def _retried_once(hospital: Path, state: Path) -> None:
    """The plan left by the dead round: the retry trains at its noise and is charged once."""
    (planned,) = _ledger(state).plans.values()
    assert _ledger(state).charges == []  # nothing was sent: nothing is spent
    # the plan alone answers no evaluation of the run (it has not trained in it)
    evaluation = make_client_app({})(*_round(hospital, state, kind=MessageType.EVALUATE))
    assert evaluation.has_error() and "a run it trains in" in evaluation.error.reason
    reply = make_client_app({})(*_round(hospital, state))
    assert not reply.has_error(), reply.error
    ledger = _ledger(state)
    (charge,) = ledger.charges
    assert ledger.plans["p"] == planned and charge.noise_multiplier == planned["noise_multiplier"]
    assert 0 < ledger.epsilon(1e-5) < BUDGET


def test_a_round_that_fails_while_training_leaves_its_plan_and_no_charge(hospital, tmp_path, monkeypatch):
    def fails(*args, **kwargs):
        raise RuntimeError("out of memory")

    state = tmp_path / "state"
    monkeypatch.setattr(train_handler, "train_model", fails)
    reply = make_client_app({})(*_round(hospital, state))
    assert reply.has_error() and "internal error" in reply.error.reason
    monkeypatch.undo()
    _identify()
    _retried_once(hospital, state)


def test_a_client_app_killed_while_training_leaves_its_plan_and_does_not_block_the_retry(hospital, tmp_path):
    """SIGKILL under the ledger's lock: the lock (flock) goes with the process, the ledger file
    holds what was written before (the plan), and the retry neither waits nor pays twice."""
    state = tmp_path / "state"
    tests = str(Path(__file__).parents[2])  # the child imports the shared helpers, as pytest does
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen([sys.executable, __file__, str(hospital), str(state)], env=env)
    try:
        deadline = time.monotonic() + 180  # a loaded CI machine: imports and data take a while
        while not (state.parent / TRAINING).exists():
            assert child.poll() is None, f"the child ended ({child.returncode}) before training"
            assert time.monotonic() < deadline, "the child did not start training in 180 s"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    _retried_once(hospital, state)


def test_a_reply_lost_after_the_charge_is_charged_once_and_the_run_goes_on(hospital, tmp_path):
    """The charge is made before the reply leaves: a reply lost on the way (the process killed
    before sending it) stays charged, which is conservative. The same request again is the same
    release (the same seed from the same inputs): the same weights, charged once."""
    state = tmp_path / "state"
    app = make_client_app({})
    lost = app(*_round(hospital, state))
    assert not lost.has_error()
    charged = _charges(state)
    again = app(*_round(hospital, state))
    assert not again.has_error()
    assert _charges(state) == charged  # replaced by itself (stamped anew), not added
    for key, value in again.content["arrays"].items():
        assert value.numpy().tobytes() == lost.content["arrays"][key].numpy().tobytes()
    # the round on other inputs would reuse its noise: refused, nothing charged
    other = app(*_round(hospital, state, model=1))
    assert other.has_error() and "already trained here and its reply sent" in other.error.reason
    assert _charges(state) == charged
    assert not app(*_round(hospital, state, 2, model=1)).has_error()  # the next round goes on
    assert [c.round for c in _ledger(state).charges] == [1, 2]


def _charges(state: Path) -> list:
    """The ledger's charges without the time each was stamped (a charge replaced by the same
    release a second later carries the later time)."""
    return [replace(c, time="") for c in _ledger(state).charges]


def _train_until_killed(hospital: Path, state: Path) -> None:
    """The child: the first round, whose training says it started and then waits to be killed."""

    def training(*args, **kwargs):
        (state.parent / TRAINING).write_text("")
        time.sleep(120)
        raise SystemExit("not killed")

    _identify()
    train_handler.train_model = training
    make_client_app({})(*_round(hospital, state))


if __name__ == "__main__":
    _train_until_killed(Path(sys.argv[1]), Path(sys.argv[2]))
