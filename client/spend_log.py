"""One line in the hospital's own log after each charge to its privacy ledger: what the release
spent, the ledger's total and what is left of the hospital's budget, and a warning when less than
one more such charge is left.

Why: a hospital whose own budget was 4 joined a run asking for epsilon 8; one 5-round run spent
it to within 0.013, and the agent's clientapp.log showed only `train task completed` (a new-user
walkthrough). Its next run was refused in every round, and the hospital learnt why only from the
coordinator's report. The line goes to `SPEND_LOGGER`, which the hospital agent's ClientApp
worker writes to clientapp.log with the ClientApp's other lines (`genofed.client.agent.worker`).
Public numbers only: the epsilons the hospital sends the coordinator with each reply anyway, and
its own budget.
"""

from __future__ import annotations

import logging

from genofed.client.site import SiteConfig
from genofed.common.privacy.accountant import epsilon_of
from genofed.common.privacy.ledger import Charge, PrivacyLedger

#: The logger of the spend lines; the ClientApp worker gives `genofed.client` a handler (clientapp.log).
SPEND_LOGGER = "genofed.client.spend"

logger = logging.getLogger(SPEND_LOGGER)


def _amount(value: float) -> str:
    """An epsilon to 2 decimals, or to 2 significant digits below 0.1 (0.013, not 0.01)."""
    return f"{value:.2f}" if value == 0 or abs(value) >= 0.1 else f"{value:.2g}"


def charge_and_log(
    ledger: PrivacyLedger, charge: Charge, *, label: str, delta: float, site: SiteConfig, limit: float
) -> float:
    """Charge `charge` to `ledger` and log its line (`spend_line`); returns the ledger's epsilon
    after it. One more charge like it is what the warning weighs what is left against: epsilons
    compose, they do not add, so a round spends less than the one before it, and the first round
    of a run spends the most."""
    before = ledger.epsilon(delta)
    ledger.charge(charge)
    history = ledger.history()
    after = epsilon_of(history, delta)
    spend_line(
        label,
        before=before,
        after=after,
        again=epsilon_of([*history, charge.step], delta),
        site=site,
        limit=limit,
    )
    return after


def spend_line(
    label: str, *, before: float, after: float, again: float, site: SiteConfig, limit: float
) -> str:
    """Log (and return) the line of one charge: `label` ('round 3', 'round 5 evaluation'), what it
    spent (the ledger's epsilon `after` less `before`), the ledger's total against the hospital's
    own budget (`site.epsilon_budget`; a simulated site without one: `limit`) and what is left of
    it; when this run's epsilon (`limit`) is below that budget, how far this run may take the
    ledger. A warning follows when what is left of the budget is less than one more such charge
    would spend (`again`: the ledger's epsilon after it): the hospital's next round or run that
    needs as much is refused. Not for a simulated hospital, whose ledger is its run's own (a
    simulation spends its budget to the end by plan, every run)."""
    spent = after - before
    budget = site.epsilon_budget if site.epsilon_budget is not None else limit
    left = max(budget - after, 0.0)
    line = (
        f"{label}: spent {_amount(spent)} (ledger {_amount(after)} of budget {_amount(budget)}; "
        f"{_amount(left)} left)"
    )
    if limit < budget:
        line += f"; this run's epsilon takes the ledger to {_amount(limit)} at most"
    logger.info(line)
    if left < again - after and not site.simulated:
        logger.warning(
            "%s: less than one more round's charge is left of this hospital's privacy budget: %s of %s "
            "(one more like this one would spend %s). A later round or run that needs as much is refused, "
            "nothing trained or sent; raising the budget is a governance decision (`genofed hospital check "
            "SITE ... --epsilon-budget E --change-budget REASON`); `genofed hospital ledger SITE` lists the "
            "releases",
            label,
            _amount(left),
            _amount(budget),
            _amount(again - after),
        )
    return line
