"""A delta not below 1 / (the smallest hospital's size) voids the guarantee: publishing one of n
patients' records outright is (0, 1/n)-DP. An audit's run at --delta 0.5 got one line calling the
guarantee "weak" while the model card called model.pt a DP release to share."""

from __future__ import annotations

from genofed.server.report.model_card import clinician_scoring
from genofed.server.report.privacy import void_delta


def _results(delta: float) -> dict:
    sites = {"rostov": {"samples": 80}, "elista": {"samples": 40}}
    return {"delta": delta, "epsilon_budget": 8.0, "sites": sites, "epsilon": {"rostov": 7.9, "elista": 7.9}}


def test_a_delta_at_or_above_one_over_the_smallest_hospital_voids_the_model_cards_promise():
    assert void_delta(_results(0.5)) == (0.5, 40) and void_delta(_results(1 / 40)) == (1 / 40, 40)
    assert void_delta(_results(1e-5)) is None
    assert "privacy guarantee is void" in clinician_scoring(_results(0.5))
    assert "may be passed to other hospitals" not in clinician_scoring(_results(0.5))
    assert "may be passed to other hospitals" in clinician_scoring(_results(1e-5))


def test_a_simulation_of_real_exports_does_not_call_its_model_free_to_share():
    """No hospital's ledger holds a simulation's spending: its model.pt travels only as the data's
    owners agree, and several runs' models add their epsilons (a walkthrough ran five)."""
    real = clinician_scoring({**_results(1e-5), "simulated_patients": False})
    assert "may be passed to other hospitals" not in real
    assert "in no hospital's privacy ledger" in real and "sum of their epsilons" in real
    assert "may be passed to other hospitals" in clinician_scoring(
        {**_results(1e-5), "simulated_patients": True}
    )


def test_the_smallest_hospital_is_one_that_trained():
    """A hospital that trained in no round released nothing (a deployed walkthrough's refused every
    round, its budget spent): the smallest of the others is the bound, not its size."""
    results = {**_results(1 / 60), "rounds": [{"round": 1, "participants": ["rostov"]}]}
    assert void_delta(results) == (1 / 60, 80)
    assert void_delta({**results, "rounds": [{"round": 1, "participants": ["rostov", "elista"]}]}) is None
