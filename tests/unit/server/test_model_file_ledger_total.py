"""A federated model file's privacy line tells a hospital's ledger total from this run's spend.

Why: a walkthrough's second study's `inspect-model` said "epsilon spent at most 15.99 of the budget
16 per hospital" where the run's releases had cost 13.62: a hospital reports its ledger's total,
every run it took part in. The file now records this run's spend beside it, and the line names
the total as such where a ledger held more; a first run's line is as before."""

from __future__ import annotations

from types import SimpleNamespace

from helpers.model_files import model_file

from genofed.cli.inspect_model import describe_lines
from genofed.server.results import final_model_file
from genofed.server.round_log import RoundLog
from genofed.server.settings import RunSettings

SIZES = {"rostov": {"train": 176, "validation": 44}, "volgograd": {"train": 104, "validation": 26}}
THIS_RUN = {"rostov": 13.62, "volgograd": 13.39}


def _written(totals: dict[str, float], sizes: dict = SIZES, log: RoundLog | None = None):
    model = model_file()
    fed = SimpleNamespace(
        test=None,
        model_config=model.model_config,
        state_dict=model.state_dict,
        settings=RunSettings(epsilon=16.0),
        log=log or RoundLog({}),
        plan_id="plan",
        rounds=[{"round": 0}, {"round": 1, "participants": list(sizes)}],
        sites=sizes,
        test_metrics=None,
        pretrained=None,
        panel=model.panel,
        ended_early=None,
    )
    results = {
        "epsilon": totals,
        "release_costs": {name: {"training": run - 0.3, "run": run} for name, run in THIS_RUN.items()},
    }
    return final_model_file(fed, fed.panel, results)


def _privacy_line(written) -> str:
    return next(line for line in describe_lines(written, parameters=32) if line.startswith("privacy:"))


def test_a_ledger_that_held_an_earlier_run_is_named_as_a_total_beside_this_runs_spend():
    written = _written({"rostov": 15.99, "volgograd": 15.92})
    assert written.provenance["epsilon_this_run"] == THIS_RUN
    line = _privacy_line(written)
    assert line.startswith(
        "privacy: epsilon spent at most 15.99 of the budget 16 per hospital, delta 1e-05 (2 hospitals), "
        "as ledger totals over every run a hospital took part in; in this run alone (its releases on the "
        "coordinator's record) at most 13.62"
    )
    assert "the difference is not what a hospital spent before" in line


def test_a_first_runs_line_is_as_before():
    line = _privacy_line(_written(dict(THIS_RUN)))
    assert (
        line
        == "privacy: epsilon spent at most 13.62 of the budget 16 per hospital, delta 1e-05 (2 hospitals)"
    )


def test_an_older_file_without_this_runs_spend_reads_as_before():
    written = _written({"rostov": 15.99, "volgograd": 15.92})
    older = {key: value for key, value in written.provenance.items() if key != "epsilon_this_run"}
    line = _privacy_line(SimpleNamespace(**{**written.__dict__, "provenance": older}))
    assert line.endswith("per hospital, delta 1e-05 (2 hospitals)") and "ledger" not in line


def test_a_hospital_with_synthetic_records_leaves_this_runs_spend_unrecorded():
    """Its generator's release is in its ledger but not on the coordinator's record."""
    sizes = {**SIZES, "volgograd": {**SIZES["volgograd"], "synthetic": 50}}
    written = _written({"rostov": 15.99, "volgograd": 15.92}, sizes)
    assert written.provenance["epsilon_this_run"] is None
    assert "ledger" not in _privacy_line(written)


def test_a_hospital_whose_update_the_coordinator_refused_leaves_this_runs_spend_unrecorded():
    """It was charged for that round, whose noise is not on the coordinator's record (release_costs
    counts the rounds it took): the record's figure would be called "this run alone" below what the
    hospital spent in this run, and its ledger total (a first run's) said to hold every run."""
    log = RoundLog({})
    log.refused_epsilon[2] = {"volgograd": 14.9}
    written = _written({"rostov": 13.62, "volgograd": 15.92}, log=log)
    assert written.provenance["epsilon_this_run"] is None
    assert "ledger" not in _privacy_line(written)
