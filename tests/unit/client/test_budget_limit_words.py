"""A budget refusal names the limit it hit: a hospital whose own budget is 100, in a run that asks
for epsilon 8 after an earlier run spent 7.96, was told to raise its own budget (an operator's
audit), which would change nothing: the run's epsilon caps what its ledger may reach."""

from __future__ import annotations

from pathlib import Path

import pytest
from flwr.app import Context, RecordDict
from helpers.round_message import deployed_node_config, round_message

from genofed.client.app import make_client_app
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.privacy.accountant import calibrate_noise, epsilon_of
from genofed.common.privacy.ledger import LEDGER_FILE, Charge, PrivacyLedger

pytestmark = pytest.mark.usefixtures("flower_task_identity")


@pytest.fixture(scope="module")
def hospital(simulated_cohorts) -> Path:
    federation = simulated_cohorts(11)
    return sorted(p for p in federation.iterdir() if (p / "phenotypes.csv").exists())[0]


def _refusal(hospital: Path, state: Path, own_budget: float, run_epsilon: float) -> str:
    """The reason a deployed hospital with `own_budget`, 7.96 already spent, gives a run asking
    for `run_epsilon`."""
    sigma = calibrate_noise([], sample_rate=1.0, steps=1, target_epsilon=7.96, delta=1e-5)
    ledger = PrivacyLedger(state / LEDGER_FILE)
    ledger.charge(Charge("earlier-run", 1, sigma, 1.0, 1, epsilon_of([(sigma, 1.0, 1)], 1e-5)))
    node = deployed_node_config(hospital, state, own_budget)
    context = Context(run_id=1, node_id=7, node_config=node, state=RecordDict(), run_config={})
    n_variants = sum(1 for _ in (hospital.parent / "panel.tsv").open()) - 1
    config = ModelConfig(n_variants=n_variants, architecture="logistic")
    weights = {k: v.detach().clone() for k, v in build_model(config, seed=0).state_dict().items()}
    reply = make_client_app({})(round_message("train", weights, config, run_epsilon), context)
    assert reply.has_error()
    return reply.error.reason


def test_the_refusal_names_the_runs_epsilon_when_it_is_the_limit(hospital, tmp_path):
    reason = _refusal(hospital, tmp_path / "state", own_budget=100.0, run_epsilon=8.0)
    # the limit is called the run's epsilon, not "its budget of 8" (a site whose budget was 50 read that
    # in an operator's walkthrough)
    assert "this run's epsilon of 8" in reason and "budget of 8" not in reason
    assert "The limit here is this run's epsilon 8, below this hospital's own budget of 100" in reason
    assert "only the coordinator can set it higher" in reason


def test_a_refusal_at_the_hospitals_own_budget_says_nothing_more(hospital, tmp_path):
    reason = _refusal(hospital, tmp_path / "state", own_budget=8.0, run_epsilon=8.0)
    assert "budget of 8" in reason and "The limit here" not in reason


def test_a_refusal_at_the_coalition_cap_is_not_blamed_on_the_runs_epsilon():
    """A hospital with budget 8 and a coalition cap of 0.5, in a run at epsilon 3: its refusal is
    the cap's, so it is not called an exhausted budget nor sent to the coordinator for a higher
    run epsilon (an operator's walkthrough read "privacy budget exhausted: this site has spent 0
    of its cap of 0.5 ... (The limit here is this run's epsilon 3 ...)")."""
    from types import SimpleNamespace

    from genofed.client.budget import CoalitionCapExceeded, plan_round
    from genofed.client.train_handler import _naming_the_limit
    from genofed.common.privacy.accountant import BudgetExhausted

    request, site = SimpleNamespace(run_epsilon=3.0), SimpleNamespace(epsilon_budget=8.0)
    with pytest.raises(CoalitionCapExceeded) as refused, _naming_the_limit(request, site):
        plan_round(
            PrivacyLedger(Path("/nonexistent/never-written.json")),
            plan_id="new",
            server_round=1,
            sample_rate=0.2,
            steps_per_round=5,
            budget=3.0,
            delta=1e-5,
            noise_share_sites=3,
            max_coalition_epsilon=0.5,
            run_epsilon=3.0,
            num_rounds=1,
            evaluations=1,
        )
    reason = str(refused.value)
    assert reason.startswith("this run does not fit this site's coalition cap: this site has spent 0 of")
    assert "budget exhausted" not in reason and "The limit here" not in reason
    # a refusal at the run's epsilon still names it
    with pytest.raises(BudgetExhausted, match="The limit here is this run's epsilon 3"):
        with _naming_the_limit(request, site):
            raise BudgetExhausted("privacy budget exhausted: its budget of 3 is spent")
