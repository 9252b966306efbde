"""The site's privacy budget, enforced before any training starts.

A federated run is planned once per site: the noise multiplier is calibrated so that everything
the site has already spent (its ledger, across earlier runs) plus every round of this run stays
within the site's epsilon budget. Each round then re-checks the projection before training, so
a site that has run out refuses without computing, let alone sending, anything.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

# MAX_USEFUL_NOISE: a site whose remaining budget only buys more noise than this refuses, and keeps
# the rest of its budget, instead of spending it on noise
from genofed.common.privacy.accountant import (
    MAX_USEFUL_NOISE,
    SIGMA_MAX,
    BudgetExhausted,
    Step,
    calibrate_noise,
    epsilon_of,
)
from genofed.common.privacy.distributed_bound import distributed_floor
from genofed.common.privacy.ledger import PrivacyLedger
from genofed.common.privacy.release import evaluation_noise, evaluation_steps, release_step


@dataclass(frozen=True)
class RoundPrivacy:
    """A round's noise and what the site will have spent once it is charged.

    Under distributed DP (`noise_share_sites` m > 0) `noise_multiplier` is the noise the
    coordinator faces (the sum of at least m sites' shares) and `coalition_noise_multiplier`
    the site's own share (`distributed_share`: noise_multiplier / sqrt(m) when every site plans the
    same noise, more for a site that needs more): all that is left against the coordinator and
    every other site colluding. With local DP the two are equal.
    """

    noise_multiplier: float
    sample_rate: float
    steps: int
    epsilon_after: float  # the site's cumulative epsilon once this round is charged
    coalition_noise_multiplier: float | None = None  # None: noise_multiplier (local DP)
    coalition_epsilon_after: float | None = None  # None: epsilon_after (local DP)
    noise_share_sites: int = 0  # m; 0: local DP

    @property
    def share(self) -> float:
        """The noise multiplier of what this site adds itself."""
        if self.coalition_noise_multiplier is None:
            return self.noise_multiplier
        return self.coalition_noise_multiplier


class CoalitionCapExceeded(BudgetExhausted):
    """The site's cap on its epsilon against the coordinator and all other sites colluding
    (`max-coalition-epsilon`) cannot pay for the request: a refusal whose limit is the site's own
    cap, never the run's epsilon (`coordinator_request.run_limit_note` is not added to it)."""


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
    evaluations: int = 0,
    model: str = "",
    noise_share_sites: int = 0,
    max_coalition_epsilon: float = math.inf,
    run_epsilon: float = math.inf,
    check: Callable[[RoundPrivacy], None] | None = None,
) -> RoundPrivacy:
    """Noise for this round of plan `plan_id`; raises BudgetExhausted if it would exceed `budget`.

    `check`, when given, sees the round's privacy before a new plan is recorded and may refuse
    the round (a distributed round's clipping range, judged on its noise share): a refused first
    round leaves no plan behind, as one refused here does.

    The plan is calibrated once, at its first round: its `num_rounds` rounds of training plus
    its `evaluations` noisy evaluations (`plan_evaluation`) must fit in what is left of the
    budget. `model` (the digest of the model architecture) is fixed with the plan: a later
    round of the same plan with another architecture is refused.

    Distributed DP (`noise_share_sites` m >= 1, docs/distributed-dp.md): `budget` bounds the
    epsilon against the coordinator, which sees the sum of at least m sites' noise shares
    (noise multiplier sigma); `max_coalition_epsilon` bounds the epsilon against the coordinator
    and all other sites colluding, who see only this site's share (`distributed_share`; the
    other sites' shares are at least the floor of `run_epsilon`, the epsilon the coordinator asked
    every site for, `distributed_floor`). Both are checked every round, because m can change
    between rounds (a smaller federation, a lying coordinator); the coalition cap is the one that
    holds whatever the coordinator says.
    """
    plan = ledger.plan(plan_id)
    record_plan = None  # a new plan is recorded only once its first round passes every check
    floor = 0.0
    if noise_share_sites:
        floor = distributed_floor(run_epsilon, sample_rate, num_rounds * steps_per_round, delta)
    if plan is None:
        sigma, record_plan = _calibrate_plan(
            ledger,
            plan_id=plan_id,
            num_rounds=num_rounds,
            sample_rate=sample_rate,
            steps_per_round=steps_per_round,
            budget=budget,
            delta=delta,
            evaluations=evaluations,
            model=model,
            noise_share_sites=noise_share_sites,
            max_coalition_epsilon=max_coalition_epsilon,
            floor=floor,
        )
    else:
        check_same_model(plan, model)
        sigma = float(plan["noise_multiplier"])
    others = _history(ledger, exclude=(plan_id, "train", server_round))
    projected = epsilon_of([*others, (sigma, sample_rate, steps_per_round)], delta)
    if projected > budget * (1 + 1e-6):
        raise BudgetExhausted(
            f"round {server_round} would bring this site's epsilon to {projected:.2f}, over its budget of "
            f"{budget:g} (delta {delta:g}); already spent {epsilon_of(others, delta):.2f}. Nothing was "
            "trained or sent. Raise the site's budget (a deployed hospital: `genofed hospital check "
            "--epsilon-budget E --change-budget REASON`; a simulation: --epsilon) only if your "
            "data-protection officer agrees."
        )
    # the coalition cap holds for every release, local ones too: a local round's whole noise is
    # all a coalition faces (a coordinator could spend the cap with distributed rounds, then the
    # budget with local ones, in a security audit: coalition epsilon 4.27 against a cap of 3)
    share = distributed_share(sigma, floor, noise_share_sites) if noise_share_sites else sigma
    coalition = None
    if noise_share_sites or not math.isinf(max_coalition_epsilon):
        coalition_others = _coalition_history(ledger, exclude=(plan_id, "train", server_round))
        coalition = epsilon_of([*coalition_others, (share, sample_rate, steps_per_round)], delta)
        if coalition > max_coalition_epsilon * (1 + 1e-6):
            told = (
                f"; the coordinator says {noise_share_sites} sites share the noise"
                if noise_share_sites
                else ""
            )
            raise CoalitionCapExceeded(
                f"round {server_round} would bring this site's epsilon against the coordinator and all "
                f"other sites colluding to {coalition:.2f}, over its cap of {max_coalition_epsilon:g} "
                f"(max-coalition-epsilon{told}). Nothing was trained or sent."
            )
    if not noise_share_sites:
        privacy = RoundPrivacy(sigma, sample_rate, steps_per_round, projected)
    else:
        privacy = RoundPrivacy(
            sigma, sample_rate, steps_per_round, projected, share, coalition, noise_share_sites
        )
    if check is not None:
        check(privacy)
    if record_plan is not None:
        record_plan()
    return privacy


def distributed_share(sigma: float, floor: float, sites: int) -> float:
    """The noise multiplier this site adds itself so that the sum of `sites` (m) shares holds at
    least `sigma`, when each of the other m - 1 sites adds at least floor / sqrt(m):
    sqrt(sigma^2 - (m - 1) floor^2 / m), which is sigma / sqrt(m) when sigma is the floor.

    Why not sigma / sqrt(m) for every site: a site whose plan needs more noise than the others'
    (a smaller budget of its own, more spent before, a tighter coalition cap) would then face a sum
    whose noise is mostly the others' smaller shares: an audit's site with budget 1 beside two at 8
    faced noise 2.40 where its ledger charged 4.05, epsilon 1.77 against an honest coordinator."""
    m = max(int(sites), 1)
    floor = min(float(floor), float(sigma))  # so the share is never below sigma / sqrt(m)
    return math.sqrt(sigma**2 - (m - 1) * floor**2 / m)


def _require_room_for_evaluations(
    earlier: list[Step], reserved: list[Step], *, budget: float, delta: float, coalition: bool = False
) -> None:
    """Refuse, saying so, a plan whose evaluations alone use up what the ledger has left: the
    accountant's own refusal would report the evaluations as spent ("already spent epsilon 8.4"
    where the ledger holds 7.95, and "already spent epsilon 2.17" on a fresh ledger against a
    coalition cap of 0.5, an ML engineer's walkthrough). `coalition`: `earlier` is the coalition
    history and `budget` the site's cap on its epsilon against the coordinator and all other
    sites colluding (`max-coalition-epsilon`)."""
    if not reserved or epsilon_of([*earlier, *reserved], delta) < budget:
        return
    spent = epsilon_of(earlier, delta)
    what = (
        f"{spent:.3g} of its cap of {budget:g} on its epsilon against the coordinator and all other "
        f"sites colluding (max-coalition-epsilon, delta {delta:g})"
        if coalition
        else f"epsilon {spent:.3g} of its budget of {budget:g} (delta {delta:g})"
    )
    refusal = CoalitionCapExceeded if coalition else BudgetExhausted
    head = "this run does not fit this site's coalition cap" if coalition else "privacy budget exhausted"
    raise refusal(
        f"{head}: this site has spent {what}, and this run's "
        f"{reserved[0][2]} evaluation(s) of the shared model alone would take it to "
        f"{epsilon_of([*earlier, *reserved], delta):.3g}. Nothing was trained or sent. A run with fewer "
        "evaluations (its site-evaluations; 0 for none) may fit; otherwise the site raises its "
        f"{'cap' if coalition else 'privacy budget'} (a governance decision) or stops contributing to "
        "this federation."
    )


#: What a site refused for a run's plan can be offered: fewer rounds, or (its governance) more budget.
_FEWER_ROUNDS = (
    "Nothing was trained or sent. Fewer rounds (the run's --rounds) may fit; raise the site's budget "
    "(a deployed hospital: `genofed hospital check --epsilon-budget E --change-budget REASON`; a "
    "simulation: --epsilon) only if your data-protection officer agrees."
)


def _spent_and_reserved(earlier: list[Step], reserved: list[Step], evaluations: int, delta: float) -> str:
    """What a site has spent before this run, and what this run's evaluations reserve, in words."""
    spent = epsilon_of(earlier, delta)
    said = f"this site has spent epsilon {spent:.2f} in earlier runs"
    if not evaluations:
        return said
    reserving = epsilon_of([*earlier, *reserved], delta) - spent
    return f"{said} and reserves {reserving:.2f} for this run's {evaluations} evaluation(s)"


def _calibrate_plan(
    ledger: PrivacyLedger,
    *,
    plan_id: str,
    num_rounds: int,
    sample_rate: float,
    steps_per_round: int,
    budget: float,
    delta: float,
    evaluations: int,
    model: str,
    noise_share_sites: int = 0,
    max_coalition_epsilon: float = math.inf,
    floor: float = 0.0,
) -> tuple[float, Callable[[], None]]:
    """A new plan's training noise: what the site spent in earlier plans, the plan's evaluations
    and all its rounds of training must fit in `budget`, and under distributed DP
    (`noise_share_sites` m) the same at the site's own share (`distributed_share`) in
    `max_coalition_epsilon`: sigma = max(the budget's, sqrt(the cap's share^2 + (m - 1) floor^2 / m)),
    the other m - 1 sites adding at least `floor` / sqrt(m) each. Refused when that
    needs more noise than `MAX_USEFUL_NOISE`. Returns sigma and what records the plan in the
    ledger, which `plan_round` calls only once the first round passes its checks: a plan left
    by a refused round would let the site answer that run's evaluations without training in it."""
    earlier = _history(ledger, exclude_plan=plan_id)
    eval_sigma = evaluation_noise(budget, evaluations)
    reserved = evaluation_steps(budget, evaluations)
    steps = num_rounds * steps_per_round
    _require_room_for_evaluations(earlier, reserved, budget=budget, delta=delta)
    try:
        sigma = calibrate_noise(
            [*earlier, *reserved], sample_rate=sample_rate, steps=steps, target_epsilon=budget, delta=delta
        )
    except BudgetExhausted:
        # the accountant's words would call the reserved evaluations "spent": say what is what
        raise BudgetExhausted(
            f"{_spent_and_reserved(earlier, reserved, evaluations, delta)}; its {num_rounds} rounds of "
            f"{steps_per_round} steps at sample rate {sample_rate:.3g} would exceed the budget of {budget:g} "
            f"(delta {delta:g}) even with noise multiplier {SIGMA_MAX:g}. {_FEWER_ROUNDS}"
        ) from None
    distributed = None
    if noise_share_sites:
        distributed = {"noise_share_sites": int(noise_share_sites)}
        if not math.isinf(max_coalition_epsilon):
            coalition_earlier = _coalition_history(ledger, exclude_plan=plan_id)
            _require_room_for_evaluations(
                coalition_earlier, reserved, budget=max_coalition_epsilon, delta=delta, coalition=True
            )
            try:
                coalition_share = calibrate_noise(
                    [*coalition_earlier, *reserved],
                    sample_rate=sample_rate,
                    steps=steps,
                    target_epsilon=max_coalition_epsilon,
                    delta=delta,
                )
            except BudgetExhausted:  # the accountant's words would name the cap "the budget"
                raise CoalitionCapExceeded(
                    f"this site's epsilon against the coordinator and all other sites colluding: "
                    f"{_spent_and_reserved(coalition_earlier, reserved, evaluations, delta)}; its "
                    f"{num_rounds} rounds of {steps_per_round} steps at sample rate {sample_rate:.3g} "
                    f"would exceed its cap of {max_coalition_epsilon:g} (max-coalition-epsilon, delta "
                    f"{delta:g}) even with noise multiplier {SIGMA_MAX:g}. Nothing was trained or sent. "
                    "Fewer rounds (the run's --rounds) may fit; raise the cap only if your "
                    "data-protection officer agrees."
                ) from None
            # the share that holds the cap, beside the others' shares of at least the floor
            m = noise_share_sites
            sigma = max(sigma, math.sqrt(coalition_share**2 + (m - 1) * min(floor, sigma) ** 2 / m))
            distributed["max_coalition_epsilon"] = float(max_coalition_epsilon)
    if sigma > MAX_USEFUL_NOISE:
        raise BudgetExhausted(
            f"{_spent_and_reserved(earlier, reserved, evaluations, delta)} of its budget of {budget:g} "
            f"(delta {delta:g}); what is left would need noise multiplier {sigma:.0f} for this run's "
            f"{num_rounds} rounds of {steps_per_round} steps, which makes the updates noise. {_FEWER_ROUNDS}"
        )
    record = functools.partial(
        ledger.set_plan,
        plan_id,
        sigma,
        sample_rate,
        steps,
        budget,
        delta,
        evaluations=evaluations,
        evaluation_noise=eval_sigma,
        model=model,
        distributed=distributed,
    )
    return sigma, record


def plan_evaluation(
    ledger: PrivacyLedger,
    *,
    plan_id: str,
    server_round: int,
    budget: float,
    delta: float,
    model: str,
    max_coalition_epsilon: float = math.inf,
    max_evaluations: int | None = None,
) -> RoundPrivacy:
    """Noise for an evaluation release in plan `plan_id`; raises BudgetExhausted when refused.

    A site answers evaluations only for a plan it has calibrated (it trained in the run), only
    as many as the plan paid for (the query cap per plan id, which the coordinator chooses) and
    as its own cap allows now (`max_evaluations`, the node config's: a hospital that lowered it
    and restarted is held to the lower cap, also in a run planned before), with the plan's model
    architecture, and only within its budget.
    """
    plan = ledger.plan(plan_id)
    if plan is None or not ledger.charges_of(plan_id, "train"):
        raise BudgetExhausted(
            "this site evaluates only the models of a run it trains in (after its first round): "
            "every evaluation is a privacy release, paid for when the run's privacy is planned"
        )
    check_same_model(plan, model)
    done = {c.round for c in ledger.charges_of(plan_id, "evaluate")} - {server_round}
    allowed = int(plan.get("evaluations", 0))
    if max_evaluations is not None and max_evaluations < allowed:
        allowed = max_evaluations
        if len(done) >= allowed:
            raise BudgetExhausted(
                f"this site now answers at most {allowed} evaluation(s) per run (its node config's "
                f"max-evaluations, lowered since this run was planned) and has answered {len(done)}: "
                "each is a privacy release; the coordinator evaluates on its own test cohort instead"
            )
    if not allowed:
        raise BudgetExhausted(
            "this run planned no evaluations at this site (site-evaluations 0): each one is a privacy "
            "release, paid for only when planned; the coordinator evaluates on its own test cohort"
        )
    if len(done) >= allowed:
        raise BudgetExhausted(
            f"this run's evaluations at this site are used up ({allowed} planned and answered): "
            "each one is a privacy release; the coordinator evaluates on its own test cohort instead"
        )
    sigma = float(plan.get("evaluation_noise", 0.0))
    others = _history(ledger, exclude=(plan_id, "evaluate", server_round))
    projected = epsilon_of([*others, release_step(sigma)], delta)
    if projected > budget * (1 + 1e-6):
        raise BudgetExhausted(
            f"an evaluation would bring this site's epsilon to {projected:.2f}, over its budget of "
            f"{budget:g} (delta {delta:g}); nothing was evaluated or sent"
        )
    # an evaluation is a local-DP release (not aggregated): against a coalition it costs the same
    cap = min(
        float(plan.get("distributed", {}).get("max_coalition_epsilon", math.inf)), max_coalition_epsilon
    )
    coalition_others = _coalition_history(ledger, exclude=(plan_id, "evaluate", server_round))
    coalition = epsilon_of([*coalition_others, release_step(sigma)], delta)
    if coalition > cap * (1 + 1e-6):
        raise BudgetExhausted(
            f"an evaluation would bring this site's epsilon against the coordinator and all other sites "
            f"colluding to {coalition:.2f}, over its cap of {cap:g}; nothing was evaluated or sent"
        )
    return RoundPrivacy(sigma, 1.0, 1, projected)


def check_same_model(plan: dict, model: str) -> None:
    """A plan trains and evaluates one architecture, the one it was calibrated for."""
    pinned = str(plan.get("model", ""))
    if pinned and model != pinned:
        raise BudgetExhausted(
            "the coordinator sent a model of another architecture than the one this run started "
            "with; refused: a run's architecture is fixed when its privacy is planned"
        )


def _history(
    ledger: PrivacyLedger, *, exclude_plan: str | None = None, exclude: tuple[str, str, int] | None = None
) -> list[Step]:
    return [c.step for c in ledger.charges if c.plan_id != exclude_plan and c.key != exclude]


def _coalition_history(
    ledger: PrivacyLedger, *, exclude_plan: str | None = None, exclude: tuple[str, str, int] | None = None
) -> list[Step]:
    """`_history` as the coordinator and all other sites colluding face it (each release's own share)."""
    return [c.coalition_step for c in ledger.charges if c.plan_id != exclude_plan and c.key != exclude]
