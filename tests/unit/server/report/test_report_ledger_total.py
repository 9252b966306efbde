"""A hospital reports its ledger's total, every run it took part in; results.json `release_costs`
holds what this run's releases cost. A walkthrough's second study read "Epsilon spent 15.99" in the
tables and "composed, 13.62" under What each release cost, with nothing to say which was which:
where a ledger held an earlier run's spend the report gives both, named; where none did, one
column as before."""

from __future__ import annotations

from genofed.server.report.assessment import assess
from genofed.server.report.model_card import model_card_section
from genofed.server.report.privacy import privacy_section, privacy_summary_line
from genofed.server.report.sites import hospitals_section


def _results(earlier: dict[str, float]) -> dict:
    """rostov and volgograd; each ledger's total is this run's cost plus `earlier[name]` (a stand-in:
    the figures need only differ, as a real ledger's composed total does)."""
    costs = {
        "rostov": {"training": 13.32, "evaluation": 2.17, "run": 13.62, "rounds": 6, "evaluations": 1},
        "volgograd": {"training": 13.08, "evaluation": 2.17, "run": 13.39, "rounds": 6, "evaluations": 1},
    }
    totals = {name: cost["run"] + earlier.get(name, 0.0) for name, cost in costs.items()}
    return {
        "epsilon_budget": 16.0,
        "delta": 1e-5,
        # the highest ledger total after the last training round, below the totals: the plot's star
        "rounds": [
            {"round": r, "epsilon_max": e}
            for r, e in enumerate([None, 8.0, 13.0 + max(earlier.values(), default=0)])
        ],
        "epsilon": totals,
        "sites": {
            name: {"train": 176 if name == "rostov" else 104, "validation": 40, "epsilon": totals[name]}
            for name in costs
        },
        "release_costs": costs,
    }


def _tables(results: dict) -> str:
    return model_card_section(results, assess(results, None, None)) + hospitals_section(results)


def test_a_ledger_with_an_earlier_run_is_told_apart_from_this_run() -> None:
    results = _results({"rostov": 2.37, "volgograd": 2.53})
    tables = _tables(results)
    assert "| Epsilon spent, this run | Epsilon spent, ledger total (all runs) |" in tables
    assert tables.count("| 13.62 | 15.99 |") == 2 and tables.count("| 13.39 | 15.92 |") == 2
    assert "| Epsilon spent |" not in tables
    assert "the difference of the two is not what a hospital spent before this run" in tables
    privacy = privacy_section(results, plot_written=True)
    assert (
        "Epsilon actually spent, each hospital's ledger total over every run it took part in: 15.92 to "
        "15.99 across hospitals (budget 16, which caps that total); in this run alone, its releases on "
        "the coordinator's record, 13.39 to 13.62. A ledger's total holds this run's releases and whatever "
        "else it was charged: an earlier run's releases"
    ) in privacy
    assert "composed, 13.62 (privacy losses compose sub-additively). Its ledger's total" in privacy
    assert "is 15.99: every release its ledger holds composed: this run's, and whatever else" in privacy
    assert "the star is the ledger's total after this run, 15.99" in privacy
    assert "the run's total" not in privacy
    line = privacy_summary_line(results)
    assert "max spent (ledger totals, all runs) 15.99" in line and "in this run alone at most 13.62" in line


def test_one_hospital_with_an_earlier_run_is_enough_for_both_columns() -> None:
    tables = _tables(_results({"volgograd": 2.53}))
    assert "| 13.62 | 13.62 |" in tables and "| 13.39 | 15.92 |" in tables


def test_a_first_run_keeps_one_epsilon_column_and_no_extra_words() -> None:
    results = _results({})
    tables = _tables(results)
    assert "| Epsilon spent | Delta |" in tables and "| 13.62 | 1e-05 |" in tables
    assert "ledger total" not in tables and "this run" not in tables.split("## Hospitals")[1]
    privacy = privacy_section(results, plot_written=True)
    assert "Epsilon actually spent: 13.39 to 13.62 across hospitals (budget 16)." in privacy
    assert "ledger" not in privacy.split("**What each release cost**")[1]
    assert "the star is the run's total, 13.62" in privacy
    assert "ledger totals" not in privacy_summary_line(results)


def test_a_run_without_release_costs_reads_as_before() -> None:
    """An older results.json has no release_costs: nothing to tell apart, so nothing changes."""
    results = _results({"rostov": 2.37})
    del results["release_costs"]
    assert "| Epsilon spent | Delta |" in _tables(results)
    assert "ledger total" not in privacy_section(results, plot_written=False)


def test_a_first_run_whose_ledger_holds_a_refused_update_is_not_said_to_have_an_earlier_run() -> None:
    """A ledger's total is above this run's record in a first run too: an update the coordinator refused
    (screened out, or after round-timeout) was charged, and its noise is not on the record. The report
    said the total held "an earlier run's too", and gave "this run alone" with no word of the record."""
    results = _results({"rostov": 1.1})
    results["refusals"] = {"3": {"rostov": "update screened out: its norm is above the round's bound"}}
    privacy = privacy_section(results, plot_written=True)
    assert "an earlier run's too" not in privacy
    assert "in this run alone, its releases on the coordinator's record, 13.39 to 13.62" in privacy
    assert "a release of this run the coordinator has no record of (an update it refused" in privacy
    tables = _tables(results)
    assert "in this run (its releases on the coordinator's record), and its ledger's total" in tables


def test_under_distributed_dp_the_coordinator_words_follow_the_ranges_they_qualify() -> None:
    """The words 'against a coordinator that sees only the sum' followed "...not what a hospital spent
    before this run", as if they qualified that."""
    results = _results({"rostov": 2.37})
    results["config"] = {"privacy": "distributed", "secagg": True}
    results["secagg"] = True
    privacy = privacy_section(results, plot_written=False)
    assert "spent before this run against a coordinator" not in privacy
    assert "13.39 to 13.62 against a coordinator that sees only the sum" in privacy


def test_the_test_cohorts_row_fills_both_epsilon_columns() -> None:
    """Its row had one epsilon cell and the delta's: under two epsilon columns its '-' stood in the
    ledger total's and its Delta cell was missing."""
    results = {**_results({"rostov": 2.37}), "test_metrics": {"n": 600, "auc": 0.7}}
    card = model_card_section(results, assess(results, None, None))
    row = next(line for line in card.splitlines() if line.startswith("| test cohort (coordinator)"))
    header = next(line for line in card.splitlines() if line.startswith("| Source |"))
    assert row.count("|") == header.count("|")
    assert row.endswith("| not private: exact results published | not private: exact results published | - |")
