"""`genofed predict` passes on the run report's fitness verdict its model file records: a model
judged NOT FIT FOR USE is still scored (a researcher may want the scores), but a `warning:` comes
first on stderr, every row of risks.csv says so in its notes, stdout and risks.csv.json say it; a
file without the verdict scores as before and says "verdict not recorded"."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import numpy as np
from helpers.model_files import model_file, write_people
from helpers.validated_on import adults

from genofed.cli.main import main
from genofed.common.scoring.model_file import save_model_file
from genofed.common.scoring.validation import FITNESS_NOT_RECORDED
from genofed.server.report.assessment import assess
from genofed.server.report.run_files import Predictions
from genofed.server.report.verdict import NOT_FIT, PASSED, fitness_record

FEDERATED = {"source": "federated run RUN", "kind": "federated"}
#: What every row of a model judged NOT FIT FOR USE says first in its notes.
ROW_NOTE = f"run report's verdict on the model: {NOT_FIT}: not for patient care"


class _NoTest:
    """A federation without a test cohort (what `fitness_on_test_cohort` reads)."""

    test = None


def _fitness(threshold: float) -> dict:
    """The verdict the report reaches on `adults()`'s test cohort at `threshold` (0.01 flags everyone)."""
    labels = np.arange(40) % 2
    risks = np.clip(0.3 + 0.4 * labels + np.random.default_rng(0).normal(0.0, 0.1, 40), 0.01, 0.99)
    results = {"operating_point": {"threshold": threshold, "rule": "youden"}}
    return fitness_record(assess(results, Predictions(labels.astype(np.int64), risks), None))


def _predict(tmp_path, validated_on: dict, capsys, name: str = "model.pt"):
    """Run `genofed predict` with a model recording `validated_on`: (stdout, stderr, rows, provenance)."""
    path = tmp_path / name
    save_model_file(path, replace(model_file(), provenance=FEDERATED, validated_on=validated_on))
    genotypes, phenotypes = write_people(tmp_path / "people")
    out = tmp_path / f"{name}.csv"
    args = ["predict", "--model", str(path), "--genotypes", str(genotypes), "--phenotypes", str(phenotypes)]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr()
    provenance = json.loads((tmp_path / f"{name}.csv.json").read_text())
    return printed.out, printed.err, list(csv.DictReader(out.open())), provenance


def test_a_model_judged_not_fit_for_use_is_scored_with_a_warning_and_a_note_on_every_row(tmp_path, capsys):
    fitness = _fitness(0.01)
    assert fitness["verdict"] == NOT_FIT
    out, err, rows, provenance = _predict(tmp_path, {**adults(), "fitness": fitness}, capsys)
    first = err.splitlines()[0]
    assert first.startswith(f"warning: the run's report judged this model {NOT_FIT}: fails 1 of ")
    assert "flags everyone of the test cohort" in first and "not for patient care" in first
    # still scored: risks and calls are written
    assert len(rows) == 60 and all(row["risk"] and row["call"] in {"high", "low"} for row in rows)
    assert all(row["notes"].split("; ")[0] == ROW_NOTE for row in rows)
    assert f"  run report's verdict: {NOT_FIT}: fails 1 of " in out and ROW_NOTE in out
    assert provenance["fitness"]["verdict"] == NOT_FIT and provenance["fitness"]["passed"] is False
    assert provenance["fitness"]["failed"] == fitness["failed"]
    assert provenance["fitness"]["row_note"] == ROW_NOTE
    assert provenance["notes"][0] == first  # the warning, as printed


def test_a_model_that_passed_the_minimum_checks_gets_no_warning(tmp_path, capsys):
    fitness = _fitness(0.5)
    assert fitness["verdict"] == PASSED
    out, err, rows, provenance = _predict(tmp_path, {**adults(), "fitness": fitness}, capsys)
    assert "warning:" not in err and not any(NOT_FIT in row["notes"] for row in rows)
    assert f"  run report's verdict: {PASSED} (" in out
    assert provenance["fitness"]["passed"] is True and provenance["fitness"]["warning"] is None


def test_an_old_model_file_without_the_verdict_still_scores_and_says_verdict_not_recorded(tmp_path, capsys):
    out, err, rows, provenance = _predict(tmp_path, adults(), capsys)
    assert "warning:" not in err and len(rows) == 60
    assert f"  run report's verdict: {FITNESS_NOT_RECORDED}" in out
    assert provenance["fitness"]["recorded"] is False
    assert provenance["fitness"]["said"].startswith("verdict not recorded")
    out, _, _, _ = _predict(tmp_path, {}, capsys, name="older.pt")  # nor who it was validated on
    assert "run report's verdict: verdict not recorded" in out


def test_a_run_without_a_test_cohort_is_warned_as_its_report_warns(tmp_path, capsys):
    """'Cannot be judged': the report says not to use it on patients before it has been tested."""
    from genofed.server.results import fitness_on_test_cohort

    nothing = {"cohort": None, "note": "no test cohort", "fitness": fitness_on_test_cohort(_NoTest(), {})}
    _, err, rows, _ = _predict(tmp_path, nothing, capsys)
    assert err.splitlines()[0].startswith("warning: the run's report could not judge this model (Cannot be")
    assert all(row["notes"].startswith("run report's verdict on the model: Cannot be judged") for row in rows)


def test_an_adaptation_of_a_model_judged_not_fit_for_use_carries_its_verdict(tmp_path, capsys):
    """A walkthrough adapted a NOT FIT FOR USE model on 22 patients and `predict` then wrote clean
    rows (a control at risk 0.999, no note): the adaptation has no verdict of its own, so the shared
    model's is said on every row, first on stderr and in the provenance file."""
    shared = {**adults(), "fitness": _fitness(0.01)}
    adapted = {**adults(), "shared_model": shared}  # what `adapt` records: no fitness of its own
    out, err, rows, provenance = _predict(tmp_path, adapted, capsys)
    first = err.splitlines()[0]
    assert first.startswith(
        "warning: this adapted model has no verdict of its own, and the run's report judged the shared "
        f"model it was adapted from {NOT_FIT}: fails 1 of "
    )
    note = f"run report's verdict on the model: {NOT_FIT} (the shared model it was adapted from)"
    note += ": not for patient care"
    assert all(row["notes"].split("; ")[0] == note for row in rows)
    assert provenance["fitness"]["row_note"] == note and provenance["fitness"]["recorded"] is False
    passed = {**adults(), "shared_model": {**adults(), "fitness": _fitness(0.5)}}
    _, err, rows, _ = _predict(tmp_path, passed, capsys, name="passed.pt")
    assert "warning:" not in err and not any(NOT_FIT in row["notes"] for row in rows)
