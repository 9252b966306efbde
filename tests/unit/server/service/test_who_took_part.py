"""After a completed deployed run, `coordinator start` says which hospitals trained and warns of
each enrolled one that did not in every round, and why. An operator's walkthrough saw only
"finished:completed" for a run in which 1 of 3 hospitals trained."""

from __future__ import annotations

import json

from genofed.server.service.launch import _say_who_took_part

SECAGG_ONLY = "this hospital sends its update only under secure aggregation (node config require-secagg)"
SIZE = "it declares 80 patients but was enrolled with 70"


def test_the_hospitals_that_did_not_train_every_round_are_named_with_why(tmp_path):
    rounds = [{"round": 0, "participants": []}] + [
        {"round": r, "participants": ["elista"], "refused": ["rostov"]} for r in (1, 2, 3)
    ]
    results = {
        "rounds": rounds,
        "refusals": {str(r): {"rostov": SECAGG_ONLY} for r in (1, 2, 3)},
        "turned_away": {"astrakhan": SIZE},
        "not_connected": ["maykop"],
    }
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    said: list[str] = []
    _say_who_took_part(path, said.append)
    assert said[0] == "hospitals that trained (rounds): elista 3 of 3"
    warning = said[1].splitlines()
    assert warning[0] == "warning: not every enrolled hospital trained in every round:"
    assert f"  astrakhan: turned away ({SIZE})" in warning
    assert "  maykop: not connected when the run started" in warning
    assert f"  rostov: left out of 3 of 3 round(s) (rounds 1-3: {SECAGG_ONLY})" in warning


def test_a_hospital_that_trained_in_fewer_rounds_without_a_recorded_reason_is_named(tmp_path):
    rounds = [{"round": 1, "participants": ["elista", "rostov"]}, {"round": 2, "participants": ["elista"]}]
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"rounds": rounds, "refusals": {}, "turned_away": {}, "not_connected": []}))
    said: list[str] = []
    _say_who_took_part(path, said.append)
    assert (
        said[1].splitlines()[1] == "  rostov: trained in 1 of 2 round(s) (no reason recorded for the others)"
    )


def test_a_run_every_hospital_trained_in_says_so_without_a_warning(tmp_path):
    rounds = [{"round": r, "participants": ["elista", "rostov"]} for r in (1, 2)]
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"rounds": rounds, "refusals": {}, "turned_away": {}, "not_connected": []}))
    said: list[str] = []
    _say_who_took_part(path, said.append)
    assert said == ["hospitals that trained (rounds): elista 2 of 2, rostov 2 of 2"]
    _say_who_took_part(tmp_path / "missing.json", said.append)  # no record: nothing said, no error
    assert len(said) == 1


def test_each_reason_is_given_with_the_rounds_it_was_given_for(tmp_path):
    trained = {r: ["elista", "rostov"] if r in (2, 5) else ["elista"] for r in range(1, 7)}
    rounds = [{"round": r, "participants": names} for r, names in trained.items()]
    refusals = {"1": {"rostov": "budget"}, "3": {"rostov": "no reply"}, "4": {"rostov": "no reply"}}
    refusals["6"] = {"rostov": "no reply"}
    results = {"rounds": rounds, "refusals": refusals, "turned_away": {}, "not_connected": []}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    said: list[str] = []
    _say_who_took_part(path, said.append)
    expected = "  rostov: left out of 4 of 6 round(s) (round 1: budget; rounds 3-4, 6: no reply)"
    assert said[1].splitlines()[1] == expected
