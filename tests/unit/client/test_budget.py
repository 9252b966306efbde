"""A site's round planning on its privacy ledger (client/budget.py): a nearly spent budget that
only buys noise is refused, and nothing is planned or charged."""

from __future__ import annotations

import pytest


def test_a_nearly_spent_budget_that_only_buys_noise_is_refused(tmp_path):
    """RDP composition leaves room for a little more work on a nearly spent budget; when that
    room only allows updates that are noise, the site refuses and keeps the rest."""
    from genofed.client.budget import MAX_USEFUL_NOISE, plan_round
    from genofed.common.privacy.accountant import BudgetExhausted
    from genofed.common.privacy.ledger import Charge, PrivacyLedger

    ledger = PrivacyLedger(tmp_path / "ledger.json")
    ledger.set_plan("old", 1.0, 0.2, 500, 8.0, 1e-5)
    ledger.charge(Charge("old", 1, 1.0, 0.2, 500, 7.99, "2026-01-01T00:00:00", "earlier run"))
    spent = ledger.epsilon(1e-5)
    with pytest.raises(BudgetExhausted, match="has spent epsilon .* in earlier runs of its budget"):
        plan_round(
            ledger,
            plan_id="new",
            server_round=1,
            num_rounds=10,
            sample_rate=0.2,
            steps_per_round=50,
            budget=spent + 0.01,
            delta=1e-5,
        )
    assert ledger.plan("new") is None and len(ledger.charges) == 1  # nothing planned, nothing charged
    ok = plan_round(
        ledger,
        plan_id="new",
        server_round=1,
        num_rounds=1,
        sample_rate=0.2,
        steps_per_round=5,
        budget=spent + 3.0,
        delta=1e-5,
    )
    assert ok.noise_multiplier <= MAX_USEFUL_NOISE and ok.epsilon_after <= spent + 3.0


def test_the_coalition_cap_holds_for_local_rounds_and_evaluations_too(tmp_path):
    """A distributed plan whose small noise shares spent the cap against a coalition: a later
    local round or evaluation adds its whole noise to that epsilon, so it is refused there too
    (before, only distributed rounds checked the cap)."""
    import math

    from genofed.client.budget import plan_evaluation, plan_round
    from genofed.common.privacy.accountant import BudgetExhausted
    from genofed.common.privacy.ledger import Charge, PrivacyLedger

    ledger = PrivacyLedger(tmp_path / "ledger.json")
    ledger.set_plan("fake-m", 8.0, 0.2, 50, 8.0, 1e-5, evaluations=1, evaluation_noise=5.0)
    ledger.charge(Charge("fake-m", 1, 8.0, 0.2, 50, 0.7, coalition_noise_multiplier=1.0))
    assert ledger.epsilon(1e-5) < 1.0 < 3.0 < ledger.coalition_epsilon(1e-5)
    local = {"server_round": 1, "num_rounds": 1, "sample_rate": 0.2, "steps_per_round": 5}
    with pytest.raises(BudgetExhausted, match="colluding .* over its cap of 3"):
        plan_round(ledger, plan_id="local", budget=8.0, delta=1e-5, max_coalition_epsilon=3.0, **local)
    assert ledger.plan("local") is None
    plan_round(ledger, plan_id="local", budget=3.0, delta=1e-5, max_coalition_epsilon=math.inf, **local)
    ledger.charge(Charge("local", 1, ledger.plan("local")["noise_multiplier"], 0.2, 5, 1.0))
    with pytest.raises(BudgetExhausted, match="over its cap of 3"):
        plan_evaluation(
            ledger,
            plan_id="fake-m",
            server_round=2,
            budget=8.0,
            delta=1e-5,
            model="",
            max_coalition_epsilon=3.0,
        )


def test_evaluations_that_use_up_the_rest_are_not_reported_as_spent(tmp_path):
    """A ledger at 7.95 of 8 whose run's evaluations take it past 8: the refusal says what the
    ledger holds and what the evaluations would add (it said "already spent epsilon 8.4")."""
    from genofed.client.budget import plan_round
    from genofed.common.privacy.accountant import BudgetExhausted
    from genofed.common.privacy.ledger import Charge, PrivacyLedger

    ledger = PrivacyLedger(tmp_path / "ledger.json")
    ledger.set_plan("old", 1.0, 0.2, 500, 8.0, 1e-5)
    ledger.charge(Charge("old", 1, 1.0, 0.2, 500, 7.99, "2026-01-01T00:00:00", "earlier run"))
    spent = ledger.epsilon(1e-5)
    with pytest.raises(
        BudgetExhausted, match=rf"has spent epsilon {spent:.3g} .* 3 evaluation\(s\)"
    ) as refused:
        plan_round(
            ledger,
            plan_id="new",
            server_round=1,
            num_rounds=4,
            sample_rate=0.2,
            steps_per_round=5,
            budget=spent + 0.05,
            delta=1e-5,
            evaluations=3,
        )
    assert "already spent" not in str(refused.value)
    assert ledger.plan("new") is None and len(ledger.charges) == 1


def _refused_under_a_coalition_cap(tmp_path, cap: float, **plan) -> tuple[str, object]:
    """The refusal of a fresh ledger's first distributed round (3 sites, budget 8) under `cap`."""
    from genofed.client.budget import plan_round
    from genofed.common.privacy.accountant import BudgetExhausted
    from genofed.common.privacy.ledger import PrivacyLedger

    ledger = PrivacyLedger(tmp_path / "ledger.json")
    with pytest.raises(BudgetExhausted) as refused:
        plan_round(
            ledger,
            plan_id="new",
            server_round=1,
            sample_rate=0.2,
            steps_per_round=5,
            budget=8.0,
            delta=1e-5,
            noise_share_sites=3,
            max_coalition_epsilon=cap,
            run_epsilon=8.0,
            **plan,
        )
    return str(refused.value), ledger


def test_evaluations_over_the_coalition_cap_are_not_reported_as_spent(tmp_path):
    """A fresh ledger, a distributed run with one evaluation, a coalition cap of 0.5 that the
    evaluation alone passes: the refusal said "already spent epsilon 2.17; the budget is epsilon
    0.5" on a ledger holding nothing (an ML engineer's walkthrough). It names the cap, what the
    evaluation would add, and fewer evaluations as a way out."""
    said, ledger = _refused_under_a_coalition_cap(tmp_path, 0.5, num_rounds=1, evaluations=1)
    assert "already spent" not in said and "spent 0 of its cap of 0.5 on its epsilon against" in said
    assert "1 evaluation(s) of the shared model alone would take it to" in said
    assert "site-evaluations; 0 for none" in said
    assert ledger.plan("new") is None and ledger.charges == []


def test_training_over_the_coalition_cap_is_refused_naming_the_cap_not_the_budget(tmp_path):
    """The evaluations fit the cap of 0.05 but 10,000 rounds do not even at the largest noise: the
    accountant's words called the cap "the budget" and advised raising it (a review)."""
    said, ledger = _refused_under_a_coalition_cap(tmp_path, 0.05, num_rounds=10_000)
    assert "would exceed its cap of 0.05 (max-coalition-epsilon" in said and "Fewer rounds" in said
    assert "raises its privacy budget" not in said and ledger.plan("new") is None


def test_too_many_rounds_are_refused_with_what_is_spent_and_reserved_and_fewer_rounds(tmp_path):
    """A fresh site asked for 100,000 rounds: the refusal said it 'has spent' what its evaluations
    would reserve, and never named the rounds."""
    from genofed.client.budget import plan_round
    from genofed.common.privacy.accountant import BudgetExhausted
    from genofed.common.privacy.ledger import PrivacyLedger

    ledger = PrivacyLedger(tmp_path / "ledger.json")
    with pytest.raises(BudgetExhausted) as refused:
        plan_round(
            ledger,
            plan_id="big",
            server_round=1,
            num_rounds=100_000,
            sample_rate=0.2,
            steps_per_round=10,
            budget=8.0,
            delta=1e-5,
            evaluations=1,
            model="logistic",
        )
    words = str(refused.value)
    assert "has spent epsilon 0.00 in earlier runs and reserves" in words and "1 evaluation(s)" in words
    assert "100000 rounds" in words and "--rounds" in words
    # a walkthrough read "--epsilon / epsilon-budget": the coordinator's option beside a node config key
    assert "`genofed hospital check --epsilon-budget E --change-budget REASON`" in words
