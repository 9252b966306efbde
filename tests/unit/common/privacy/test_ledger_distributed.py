"""Distributed DP in the privacy ledger and the site's plan: two epsilons per site (against the
coordinator, against the coordinator and all other sites colluding), a cap on the second, and
ledgers written before distributed DP still loading."""

from __future__ import annotations

import json
import math

import pytest

from genofed.client.budget import plan_round
from genofed.common.privacy.accountant import BudgetExhausted, epsilon_of
from genofed.common.privacy.ledger import Charge, PrivacyLedger

RATE, STEPS, ROUNDS, DELTA = 1 / 13, 13, 5, 1e-5


def _plan(ledger, round_=1, *, m=2, budget=3.0, cap=math.inf, plan_id="p", run_epsilon=None):
    """A distributed round's plan; the coordinator asked every site for `run_epsilon` (default:
    this site's budget, as for a fresh site taking the run's epsilon)."""
    return plan_round(
        ledger,
        plan_id=plan_id,
        server_round=round_,
        num_rounds=ROUNDS,
        sample_rate=RATE,
        steps_per_round=STEPS,
        budget=budget,
        delta=DELTA,
        noise_share_sites=m,
        max_coalition_epsilon=cap,
        run_epsilon=budget if run_epsilon is None else run_epsilon,
    )


def _charge(ledger, privacy, round_=1, plan_id="p"):
    ledger.charge(
        Charge(
            plan_id=plan_id,
            round=round_,
            noise_multiplier=privacy.noise_multiplier,
            coalition_noise_multiplier=privacy.coalition_noise_multiplier,
            sample_rate=privacy.sample_rate,
            steps=privacy.steps,
            epsilon_after=privacy.epsilon_after,
        )
    )


def _run(ledger, **kwargs):
    for r in range(1, ROUNDS + 1):
        _charge(ledger, _plan(ledger, r, **kwargs), r)


def test_each_charge_records_both_noises_and_the_ledger_both_epsilons(tmp_path):
    ledger = PrivacyLedger(tmp_path / "ledger.json")
    _run(ledger, m=4)
    sigma = ledger.charges[0].noise_multiplier
    assert ledger.charges[0].coalition_noise_multiplier == pytest.approx(sigma / 2)
    assert ledger.epsilon(DELTA) == pytest.approx(3.0, rel=0.02) and ledger.epsilon(DELTA) <= 3.0 * (1 + 1e-6)
    expected = epsilon_of([(sigma / 2, RATE, STEPS)] * ROUNDS, DELTA)
    assert ledger.coalition_epsilon(DELTA) == pytest.approx(expected)
    assert ledger.coalition_epsilon(DELTA) > 2 * ledger.epsilon(DELTA)
    reread = PrivacyLedger(tmp_path / "ledger.json")  # both survive the file
    assert reread.coalition_epsilon(DELTA) == pytest.approx(expected)
    assert reread.plan("p")["distributed"] == {"noise_share_sites": 4}


def test_local_dp_charges_are_stored_as_before_and_count_the_same_against_a_coalition(tmp_path):
    ledger = PrivacyLedger(tmp_path / "ledger.json")
    _run(ledger, m=0)
    stored = json.loads((tmp_path / "ledger.json").read_text())
    assert all("coalition_noise_multiplier" not in c for c in stored["charges"])
    assert "distributed" not in stored["plans"]["p"]
    assert ledger.coalition_epsilon(DELTA) == ledger.epsilon(DELTA)


def test_a_ledger_written_before_distributed_dp_still_loads(tmp_path):
    path = tmp_path / "ledger.json"
    old = {
        "version": 1,
        "plans": {"old": {"noise_multiplier": 1.1, "sample_rate": 0.1, "planned_steps": 20}},
        "charges": [
            {
                "plan_id": "old",
                "round": 1,
                "noise_multiplier": 1.1,
                "sample_rate": 0.1,
                "steps": 20,
                "epsilon_after": 2.0,
                "time": "2024-01-01T00:00:00+00:00",
                "note": "",
                "input_digest": "abc",
                "kind": "train",
            }
        ],
    }
    path.write_text(json.dumps(old))
    ledger = PrivacyLedger(path)
    assert ledger.charges[0].coalition_noise_multiplier is None
    assert ledger.coalition_epsilon(1e-5) == ledger.epsilon(1e-5) > 0
    _charge(ledger, _plan(ledger, plan_id="new", m=2, budget=8.0), plan_id="new")  # composes with it
    assert ledger.epsilon(DELTA) <= 8.0 * (1 + 1e-6)
    assert ledger.coalition_epsilon(DELTA) > ledger.epsilon(DELTA)


def test_the_coalition_cap_raises_the_noise_until_both_epsilons_hold(tmp_path):
    free = PrivacyLedger(tmp_path / "free.json")
    _run(free, m=4)
    capped = PrivacyLedger(tmp_path / "capped.json")
    _run(capped, m=4, cap=5.0)
    assert capped.charges[0].noise_multiplier > free.charges[0].noise_multiplier
    assert capped.coalition_epsilon(DELTA) <= 5.0 * (1 + 1e-6)
    assert capped.coalition_epsilon(DELTA) == pytest.approx(5.0, rel=0.03)  # the cap binds, not more
    assert capped.epsilon(DELTA) < 3.0
    assert capped.plan("p")["distributed"] == {"noise_share_sites": 4, "max_coalition_epsilon": 5.0}


def test_a_coordinator_that_raises_m_mid_run_is_refused_by_the_cap(tmp_path):
    """A larger m means a smaller share per site: the coalition epsilon grows; the cap refuses."""
    ledger = PrivacyLedger(tmp_path / "ledger.json")
    _charge(ledger, _plan(ledger, 1, m=2, cap=6.0), 1)
    with pytest.raises(BudgetExhausted, match="max-coalition-epsilon"):
        _plan(ledger, 2, m=400, cap=6.0)
    assert len(ledger.charges) == 1


def test_a_cap_that_needs_useless_noise_is_refused_and_nothing_is_planned(tmp_path):
    ledger = PrivacyLedger(tmp_path / "ledger.json")
    with pytest.raises(BudgetExhausted, match="noise multiplier"):
        _plan(ledger, m=1000, cap=0.05)
    assert ledger.plan("p") is None
