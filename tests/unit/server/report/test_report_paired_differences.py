"""The headline's differences carry their paired DeLong 95 % intervals, read from
RUN/test_predictions.csv and RUN/reference_predictions.csv (`server/report/differences.py`); a run
folder without the reference predictions (an older run, `--no-references`) says nothing new.

A biostatistician's review: "federated 0.731 against pooled 0.80" gave each AUC but not whether the
test cohort could tell the two apart.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from helpers.report_run import write_run

from genofed.common.reporting.auc import delong_contrast, paired_delong_difference
from genofed.server.report import write_report
from genofed.server.report.differences import auc_differences, differences_record
from genofed.server.report.run_files import (
    PLAIN_DP_COLUMN,
    REFERENCE_PREDICTIONS,
    read_predictions,
    read_reference_predictions,
    reference_column,
)
from genofed.server.results import write_reference_predictions

PAIRED = "As differences in AUC with 95 % intervals paired on the same test people"


def _references(
    run_dir: Path, hospitals: tuple[str, ...], seed: int = 2, *, plain_dp: bool = False
) -> dict[str, np.ndarray]:
    """Reference risks that share the final model's errors (noise around its risks), written as a
    simulation writes them; returns them by column. `plain_dp`: with a private run's plain DP
    logistic regression federation."""
    predictions = read_predictions(run_dir)
    rng = np.random.default_rng(seed)
    columns = {"pooled": np.clip(predictions.risks + rng.normal(0, 0.05, predictions.n), 0, 1)}
    if plain_dp:
        columns[PLAIN_DP_COLUMN] = np.clip(predictions.risks + rng.normal(0, 0.3, predictions.n), 0, 1)
    for i, name in enumerate(hospitals):
        noisy = predictions.risks + rng.normal(0, 0.1 + 0.1 * i, predictions.n)
        columns[reference_column("local_only", name)] = np.clip(noisy, 0, 1)
    write_reference_predictions(run_dir, list(predictions.sample_ids), columns)
    return columns


def _with_aucs(results: dict, run_dir: Path, columns: dict[str, np.ndarray]) -> dict:
    """results.json's reference AUCs as the simulation records them from the same risks."""
    from sklearn.metrics import roc_auc_score

    predictions = read_predictions(run_dir)
    labels = predictions.labels
    alone = {k.split(":", 1)[1]: roc_auc_score(labels, v) for k, v in columns.items() if ":" in k}
    plain = (
        {"plain_dp_logistic_auc": roc_auc_score(labels, columns[PLAIN_DP_COLUMN])}
        if PLAIN_DP_COLUMN in columns
        else {}
    )
    return {
        **results,
        "test_auc": roc_auc_score(labels, predictions.risks),
        "pooled_auc": roc_auc_score(labels, columns["pooled"]),
        "local_only_auc": alone,
        **plain,
    }


def _headline(text: str) -> str:
    return text.split("\n\n")[1]


def test_the_headline_states_each_difference_with_its_paired_interval(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    columns = _references(run_dir, ("rostov", "maykop", "elista"))
    results = _with_aucs(results, run_dir, columns)
    headline = _headline(write_report(run_dir, results).read_text())
    predictions = read_predictions(run_dir)
    labels, fed = predictions.labels, predictions.risks
    pooled = paired_delong_difference(labels, fed, columns["pooled"])
    assert PAIRED in headline
    assert (
        f"federated minus pooled {pooled.difference:+.3f} (95 % CI {pooled.low:.3f} to {pooled.high:.3f})"
        in headline
    )
    # the median of three hospitals alone is the middle one by its AUC
    middle = sorted(results["local_only_auc"], key=results["local_only_auc"].get)[1]
    alone = paired_delong_difference(labels, fed, columns[reference_column("local_only", middle)])
    assert (
        f"federated minus the median hospital alone with the same privacy budget ({middle}) "
        f"{alone.difference:+.3f} (95 % CI {alone.low:.3f} to {alone.high:.3f})" in headline
    )
    # the gap the headline states in words is the paired difference's
    assert f"{abs(pooled.difference):.3f} {'above' if pooled.difference > 0 else 'below'}" in headline


def test_a_private_run_states_the_plain_dp_logistic_regression_and_its_paired_interval(
    tmp_path: Path,
) -> None:
    """The design a private federation must beat (a plain DP logistic regression federation at the
    same epsilon) is in the headline's words and its paired intervals, and in results.json's record,
    which the report reads back alone for a run of real exports."""
    from genofed.server.report.differences import from_record

    run_dir, results = write_run(tmp_path)
    columns = _references(run_dir, ("rostov", "maykop", "elista"), plain_dp=True)
    results = _with_aucs(results, run_dir, columns)
    headline = _headline(write_report(run_dir, results).read_text())
    predictions = read_predictions(run_dir)
    plain = paired_delong_difference(predictions.labels, predictions.risks, columns[PLAIN_DP_COLUMN])
    stated = results["plain_dp_logistic_auc"]
    gap = results["test_auc"] - stated
    assert (
        f"{abs(gap):.3f} {'above' if gap > 0 else 'below'} a plain DP logistic regression federation at "
        f"the same epsilon per hospital ({stated:.3f}" in headline
    )
    assert (
        f"federated minus the plain DP logistic regression {plain.difference:+.3f} "
        f"(95 % CI {plain.low:.3f} to {plain.high:.3f})" in headline
    )
    differences = auc_differences(predictions, read_reference_predictions(run_dir, predictions))
    record = differences_record(differences)
    assert record[PLAIN_DP_COLUMN]["difference"] == plain.difference
    assert differences_record(from_record(record)) == record
    (run_dir / REFERENCE_PREDICTIONS).unlink()  # as a run of real exports: from the record alone
    again = _headline(write_report(run_dir, {**results, "auc_differences": record}).read_text())
    assert again == headline
    # an interval of another figure than the headline states is left out
    other = _headline(write_report(run_dir, {**results, "plain_dp_logistic_auc": 0.51}).read_text())
    assert "federated minus the plain DP logistic regression" not in other
    assert "0.510: each hospital's own noise" in other


def test_the_words_say_whether_the_test_cohort_tells_the_two_apart(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    predictions = read_predictions(run_dir)
    rng = np.random.default_rng(4)
    columns = {
        "pooled": np.clip(predictions.risks + rng.normal(0, 0.01, predictions.n), 0, 1),  # the same model
        reference_column("local_only", "rostov"): rng.random(predictions.n),  # a coin toss
    }
    write_reference_predictions(run_dir, list(predictions.sample_ids), columns)
    headline = _headline(write_report(run_dir, _with_aucs(results, run_dir, columns)).read_text())
    assert "which holds 0: this test cohort cannot tell the two apart" in headline
    assert "clear of 0: the federated model ranks these people better" in headline


def test_the_median_of_an_even_number_of_hospitals_is_the_mean_of_the_middle_two(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    columns = _references(run_dir, ("rostov", "maykop", "elista", "astrakhan"))
    predictions = read_predictions(run_dir)
    differences = auc_differences(predictions, read_reference_predictions(run_dir, predictions))
    aucs = _with_aucs(results, run_dir, columns)["local_only_auc"]
    low, high = sorted(aucs, key=aucs.get)[1:3]
    expected = delong_contrast(
        predictions.labels,
        [predictions.risks, columns[f"local_only:{low}"], columns[f"local_only:{high}"]],
        [1.0, -0.5, -0.5],
    )
    assert differences.median_alone.words == f"the mean of {low} and {high}"
    assert differences.median_alone.difference == expected
    record = differences_record(differences)
    assert set(record) == {"pooled", PLAIN_DP_COLUMN, "local_only_median", "local_only"}
    assert record[PLAIN_DP_COLUMN] is None  # a run without DP trains no plain DP reference
    assert record["local_only_median"]["difference"] == expected.difference


def test_without_reference_predictions_the_headline_says_nothing_new(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    results = {**results, "pooled_auc": 0.8, "local_only_auc": {"rostov": 0.6, "maykop": 0.62}}
    headline = _headline(write_report(run_dir, results).read_text())
    assert "0.060 below training on all hospitals' data pooled" in headline
    assert PAIRED not in headline and "95 % CI" not in headline


def test_reference_predictions_of_other_people_are_not_used(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    columns = _references(run_dir, ("rostov",))
    predictions = read_predictions(run_dir)
    ids = [f"X{i}" for i in range(predictions.n)]  # another cohort's people
    write_reference_predictions(run_dir, ids, columns)
    assert read_reference_predictions(run_dir, predictions) is None
    headline = _headline(write_report(run_dir, _with_aucs(results, run_dir, columns)).read_text())
    assert PAIRED not in headline


def test_an_interval_of_other_figures_than_the_headline_states_is_left_out(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    columns = _references(run_dir, ("rostov",))
    stated = _with_aucs(results, run_dir, columns)
    headline = _headline(write_report(run_dir, {**stated, "pooled_auc": 0.9}).read_text())
    assert "federated minus pooled" not in headline  # results.json's pooled AUC is not the file's
    assert "federated minus the median hospital alone" in headline


def test_a_malformed_file_is_read_as_absent(tmp_path: Path) -> None:
    run_dir, _ = write_run(tmp_path)
    predictions = read_predictions(run_dir)
    (run_dir / REFERENCE_PREDICTIONS).write_text("sample_id,pooled\nT0000,not-a-number\n")
    assert read_reference_predictions(run_dir, predictions) is None
    (run_dir / REFERENCE_PREDICTIONS).write_text("id,pooled\n")
    assert read_reference_predictions(run_dir, predictions) is None


def test_the_file_holds_one_row_per_person_in_the_predictions_order(tmp_path: Path) -> None:
    run_dir, _ = write_run(tmp_path)
    columns = _references(run_dir, ("rostov",))
    rows = list(csv.reader((run_dir / REFERENCE_PREDICTIONS).open()))
    assert rows[0] == ["sample_id", "pooled", "local_only:rostov"]
    predictions = read_predictions(run_dir)
    assert [r[0] for r in rows[1:]] == list(predictions.sample_ids)
    read = read_reference_predictions(run_dir, predictions)
    assert all(np.array_equal(read.columns[k], v) for k, v in columns.items())  # repr: exact round trip


def test_without_the_file_the_report_shows_what_results_json_recorded(tmp_path: Path) -> None:
    """A run of real exports keeps no reference_predictions.csv; its results.json records the
    intervals, and the report (and one rendered without its run folder) shows them from there."""
    from genofed.server.report.differences import from_record
    from genofed.server.report.writer import render_markdown

    run_dir, results = write_run(tmp_path)
    columns = _references(run_dir, ("rostov", "maykop"))
    results = _with_aucs(results, run_dir, columns)
    predictions = read_predictions(run_dir)
    differences = auc_differences(predictions, read_reference_predictions(run_dir, predictions))
    from_files = _headline(write_report(run_dir, results).read_text())
    (run_dir / REFERENCE_PREDICTIONS).unlink()
    recorded = {**results, "auc_differences": differences_record(differences)}
    assert differences_record(from_record(recorded["auc_differences"])) == recorded["auc_differences"]
    assert _headline(write_report(run_dir, recorded).read_text()) == from_files
    assert PAIRED in _headline(render_markdown(recorded, {}))  # no run folder at all
    assert from_record({"pooled": {"difference": "x"}}) is None  # a damaged record: nothing shown


def test_the_hospitals_table_gives_each_alone_auc_its_paired_difference(tmp_path: Path) -> None:
    """A hospital asks whether joining beats working alone: beside its alone AUC, federated minus
    it with the paired interval that results.json records; none beside an AUC the record is not of."""
    from genofed.server.report.sites import hospitals_section

    run_dir, results = write_run(tmp_path)
    columns = _references(run_dir, ("rostov", "maykop"))
    results = _with_aucs(results, run_dir, columns)
    predictions = read_predictions(run_dir)
    differences = auc_differences(predictions, read_reference_predictions(run_dir, predictions))
    recorded = {**results, "auc_differences": differences_record(differences)}
    section = hospitals_section(recorded)
    assert "Beside each AUC of a hospital alone: federated minus it" in section
    for site in ("rostov", "maykop"):
        found = differences.alone["local_only"][site].difference
        assert f"(federated {found.difference:+.3f}, {found.low:.3f} to {found.high:.3f})" in section
    moved = {**recorded, "local_only_auc": {**recorded["local_only_auc"], "rostov": 0.5}}
    section = hospitals_section(moved)
    rostov = next(line for line in section.splitlines() if line.startswith("| rostov"))
    assert "federated" not in rostov  # the record is of another AUC than the cell shows
    assert "federated minus it" not in hospitals_section(results)  # no record: as before
