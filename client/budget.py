"""The site's privacy budget, enforced before any training starts.

A federated run is planned once per site: the noise multiplier is calibrated so that everything
the site has already spent (its ledger, across earlier runs) plus every round of this run stays
within the site's epsilon budget. Each round then re-checks the projection before training, so
a site that has run out refuses without computing, let alone sending, anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from genofed.common.privacy import BudgetExhausted, PrivacyLedger, Step, calibrate_noise, epsilon_of

#: Above this noise multiplier an update is almost pure noise (for a batch of 32 the noise per
#: coordinate of the averaged gradient would be ~0.6 x the clipping norm): a site whose remaining
#: budget only allows that refuses, and keeps the rest of its budget, instead of spending it on
#: noise.
MAX_USEFUL_NOISE = 20.0


@dataclass(frozen=True)
class RoundPrivacy:
    noise_multiplier: float
    sample_rate: float
    steps: int
    epsilon_after: float  # the site's cumulative epsilon once this round is charged


def plan_round(
    ledger: PrivacyLedger,
    *,
    plan_id: str,
    server_round: int,
    num_rounds: int,
    sample_rate: float,
    steps_per_round: int,
    budget: float,
    delta: float,
) -> RoundPrivacy:
    """Noise for this round of plan `plan_id`; raises BudgetExhausted if it would exceed `budget`."""
    plan = ledger.plan(plan_id)
    if plan is None:
        earlier = _history(ledger, exclude_plan=plan_id)
        sigma = calibrate_noise(
            earlier, sample_rate=sample_rate, steps=num_rounds * steps_per_round, target_epsilon=budget, delta=delta
        )
        if sigma > MAX_USEFUL_NOISE:
            spent = epsilon_of(earlier, delta)
            raise BudgetExhausted(
                f"this site has already spent epsilon {spent:.2f} of its budget of {budget:g} (delta {delta:g}); "
                f"what is left would need noise multiplier {sigma:.0f} for this run, which makes the updates "
                "noise. Nothing was trained or sent. Raise the site's budget (--epsilon / epsilon-budget) only "
                "if your data-protection officer agrees."
            )
        ledger.set_plan(plan_id, sigma, sample_rate, num_rounds * steps_per_round, budget, delta)
    else:
        sigma = float(plan["noise_multiplier"])
    others = _history(ledger, exclude=(plan_id, server_round))
    projected = epsilon_of([*others, (sigma, sample_rate, steps_per_round)], delta)
    if projected > budget * (1 + 1e-6):
        raise BudgetExhausted(
            f"round {server_round} would bring this site's epsilon to {projected:.2f}, over its budget of "
            f"{budget:g} (delta {delta:g}); already spent {epsilon_of(others, delta):.2f}. Nothing was trained or "
            "sent. Raise the site's budget (--epsilon / epsilon-budget) only if your data-protection officer agrees."
        )
    return RoundPrivacy(sigma, sample_rate, steps_per_round, projected)


def _history(ledger: PrivacyLedger, *, exclude_plan: str | None = None, exclude: tuple[str, int] | None = None) -> list[Step]:
    return [
        (c.noise_multiplier, c.sample_rate, c.steps)
        for c in ledger.charges
        if c.plan_id != exclude_plan and (c.plan_id, c.round) != exclude
    ]
