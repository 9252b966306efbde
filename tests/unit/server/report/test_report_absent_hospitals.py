"""The report names the hospitals that were asked but did not take part, and why: the model card
and the Hospitals table must not read as if the federation had only the hospitals that trained."""

from __future__ import annotations

from genofed.server.report import render_markdown
from genofed.server.report.reading import absent_sites

REASON = "/data/sevastopol/genotypes.vcf.gz: the gzip-compressed file is truncated"


def _results() -> dict:
    """Two hospitals trained; sevastopol refused both rounds (its data failed their checks); maykop
    refused round 2 only (its budget), so it did take part."""
    return {
        "test_auc": 0.66,
        "epsilon_budget": 8.0,
        "delta": 1e-5,
        "epsilon": {"elista": 7.9, "maykop": 5.1},
        "rounds": [
            {"round": 0, "participants": [], "refused": []},
            {"round": 1, "participants": ["elista", "maykop"], "refused": ["sevastopol"]},
            {"round": 2, "participants": ["elista"], "refused": ["maykop", "sevastopol"]},
        ],
        "refusals": {
            "1": {"sevastopol": "the site's data failed validation"},
            "2": {"maykop": "privacy budget exhausted", "sevastopol": REASON},
        },
        "sites": {
            "elista": {"samples": 60, "train": 48, "validation": 12, "epsilon": 7.9},
            "maykop": {"samples": 80, "train": 64, "validation": 16, "epsilon": 5.1},
        },
    }


def test_absent_hospitals_are_those_that_never_took_part_with_their_last_reason():
    assert absent_sites(_results()) == {"sevastopol": REASON}
    assert absent_sites({"refusals": {"1": {"node-8676823047852620954": "offline"}}}) == {
        "node-8676823047852620954": "offline"
    }
    assert absent_sites({}) == {}


def test_model_card_and_hospitals_table_list_them():
    text = render_markdown(_results(), {})
    lines = f"**Did not take part** (trained in no round):\n- sevastopol: {REASON}\n"
    card = text[text.index("## Model card") : text.index("**Limitations:**")]
    hospitals = text[text.index("## Hospitals") :]
    assert lines in card and lines in hospitals
    assert text.count("**Did not take part**") == 2 and "- maykop:" not in text  # it trained in round 1


def test_a_run_where_every_hospital_took_part_has_no_such_line():
    results = _results()
    results["refusals"] = {"2": {"maykop": "privacy budget exhausted"}}
    for record in results["rounds"]:
        record["refused"] = [site for site in record["refused"] if site != "sevastopol"]
    assert "Did not take part" not in render_markdown(results, {})


def test_a_case_count_column_only_where_the_simulator_knows_it_and_labelled_so():
    """A hospital never releases its exact case count; only the simulation mode writes one."""
    from genofed.server.report.sites import SIMULATED_CASES

    def header(results: dict) -> str:
        return next(
            line for line in render_markdown(results, {}).splitlines() if line.startswith("| Hospital")
        )

    assert "Cases" not in header(_results())
    simulated = _results()
    simulated["sites"]["elista"]["cases"] = 21
    simulated["sites"]["maykop"]["cases"] = 30
    assert SIMULATED_CASES in header(simulated)


def test_the_headline_and_the_cli_s_closing_lines_say_a_hospital_was_left_out():
    """A run without one of the user's hospitals must not read as complete where a reader looks
    first: the report's headline and the lines `genofed simulate` prints at its end."""
    from genofed.server.report.summary import format_summary, headline

    text = headline(_results())
    assert "**1 hospital did not take part (sevastopol)**" in text
    closing = format_summary(_results())
    assert "NOT every hospital took part" in closing and f"  sevastopol: {REASON}" in closing
    results = _results()
    results["refusals"] = {}
    assert "did not take part" not in headline(results) and "NOT every" not in format_summary(results)


def test_an_enrolled_hospital_not_connected_when_the_run_started_is_named():
    """An operator's audit: a hospital offline for a whole deployed run was never asked, so it was
    in no round's refusals, and the report read as if the federation had only the others."""
    results = {**_results(), "not_connected": ["rostov"]}
    reason = "enrolled, but not connected when the run started"  # not "it can join the next run":
    # a deployed federation's folder holds one run
    assert absent_sites(results) == {"sevastopol": REASON, "rostov": reason}
    assert f"- rostov: {reason}" in render_markdown(results, {})


def test_a_hospital_the_coordinator_turned_away_is_named_with_why_not_as_not_connected():
    """An operator's walkthrough: a hospital enrolled with 70 patients that declared 60 was turned
    away at the start (the ServerApp's log alone said so) and the report called it not connected."""
    why = "it declares 60 patients but was enrolled with 70"
    results = {**_results(), "turned_away": {"bataysk": why}}
    expected = f"connected, but turned away by the coordinator at the start: {why}"
    assert absent_sites(results) == {"sevastopol": REASON, "bataysk": expected}
    assert f"- bataysk: {expected}" in render_markdown(results, {})


def test_the_model_card_says_the_runs_epsilon_is_what_it_asked_not_every_hospitals_budget():
    """'each hospital's epsilon budget was 8' where one hospital's own lifetime budget was 2 (an
    operator's walkthrough): the run's epsilon is what it asked; a hospital's own cap may be lower."""
    text = render_markdown(_results(), {})
    assert "the run asked each hospital for at most epsilon 8" in text
    assert "a hospital's own lifetime budget may be lower" in text
    assert "each hospital's epsilon budget was" not in text
