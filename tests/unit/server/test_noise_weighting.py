"""The coordinator's fresh-site noise is the hospital's own plan on an empty ledger, and a claimed
noise above the slack buys no more pull on the average than an honest one (server/noise_weighting.py)."""

from __future__ import annotations

import math

import pytest

from genofed.client.budget import plan_round
from genofed.common.privacy.accountant import sample_rate, steps_per_epoch
from genofed.common.privacy.ledger import PrivacyLedger
from genofed.server.integrity import LocalTraining, norm_bound
from genofed.server.noise_weighting import NOISE_SLACK, RunNoisePlan


@pytest.mark.parametrize(
    ("epsilon", "rows", "batch", "evaluations"), [(1.0, 40, 32, 1), (3.0, 150, 32, 1), (8.0, 75, 16, 3)]
)
def test_the_fresh_noise_is_what_a_fresh_hospital_plans(tmp_path, epsilon, rows, batch, evaluations):
    """Mirrors client/budget.py: if the hospital's calibration changes, this must follow it."""
    plan = RunNoisePlan(epsilon, 1e-5, rounds=10, epochs=2, batch_size=batch, evaluations=evaluations)
    hospital = plan_round(
        PrivacyLedger(tmp_path / "ledger.json"),
        plan_id="p",
        server_round=1,
        num_rounds=10,
        sample_rate=sample_rate(rows, batch),
        steps_per_round=2 * steps_per_epoch(rows, batch),
        budget=epsilon,
        delta=1e-5,
        evaluations=evaluations,
    )
    assert plan.fresh_noise(rows) == pytest.approx(hospital.noise_multiplier, rel=1e-12)


def test_no_weighting_without_dp_or_before_the_rounds_are_known():
    assert RunNoisePlan(math.inf, 1e-5, 10, 2, 32, 1).weight_factor(100, 20.0) == 1.0
    assert RunNoisePlan(3.0, 1e-5, 0, 2, 32, 1).weight_factor(100, 20.0) == 1.0


def test_a_claimed_noise_buys_at_most_the_slack_in_weight_times_bound():
    """Full weight up to NOISE_SLACK x the fresh noise; above it, weight x norm bound falls as the
    claim grows, so the largest pull on the average any claim gets is the slack's."""
    plan = RunNoisePlan(3.0, 1e-5, rounds=10, epochs=2, batch_size=32, evaluations=1)
    training = LocalTraining(lr=0.05, clip=1.0, epochs=2, batch_size=32, private=True, momentum=0.0)
    rows, parameters = 120, 20_829
    fresh = plan.fresh_noise(rows)
    assert plan.weight_factor(rows, fresh) == 1.0 and plan.weight_factor(rows, NOISE_SLACK * fresh) == 1.0
    honest = norm_bound(training, rows, parameters, fresh).total
    claims = [fresh * k for k in (1.0, 1.25, 1.5, 1.75, 2.0, 3.0, 5.0)] + [20.0]
    pulls = [plan.weight_factor(rows, c) * norm_bound(training, rows, parameters, c).total for c in claims]
    assert max(pulls) <= NOISE_SLACK * honest
    assert pulls[-1] < 0.5 * honest  # sigma 20 against 3.8: about 0.37 of an honest hospital's pull
    assert pulls[3:] == sorted(pulls[3:], reverse=True)
