"""results.json `operating_point`: read from the last evaluation's pooled noisy histograms, or
no threshold (and why) when no hospital evaluated the model."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from genofed.common.scoring.operating import NO_THRESHOLD, operating_point
from genofed.server.results import results_operating_point


def _fed(evaluate: dict, site_evaluations: int = 1, private: bool = True) -> SimpleNamespace:
    """What the operating point reads from a run: its log's releases, its rounds, how many
    evaluations it planned and whether it was private."""
    return SimpleNamespace(
        log=SimpleNamespace(evaluate=evaluate),
        rounds=[{"round": r} for r in range(4)],
        settings=SimpleNamespace(site_evaluations=site_evaluations, private=private),
        ended_early=None,
    )


def test_the_threshold_pools_the_last_evaluations_histograms():
    a = np.array([[0, 2, 6, 10, 12, 3, 2, 0, 0, 0], [0, 0, 1, 2, 3, 10, 8, 5, 1, 0]], dtype=float)
    b = np.array([[1, 1, 3, 4, 2, 1, 0, 0, 0, 0], [0, 0, 0, 1, 1, 4, 3, 2, 0, 0]], dtype=float)
    early = {"rostov": {"val-histogram": list(np.flip(a, axis=1).ravel()), "val-noise": 2.0}}
    last = {
        "rostov": {"val-histogram": list(a.ravel()), "val-noise": 2.0},
        "maykop": {"val-histogram": list(b.ravel()), "val-noise": 2.0},
        "elista": {"epsilon": 1.0},  # refused to evaluate: no histogram
    }
    point = results_operating_point(_fed({1: early, 3: last}))
    assert point["round"] == 3 and point["final_round"] == 3
    assert point["threshold"] == pytest.approx(0.5)
    pooled = a + b
    assert point["sensitivity"] == pytest.approx(pooled[1, 5:].sum() / pooled[1].sum())
    # the noise sd of what it reads, from the two hospitals' noise on each pooled count (2^2 + 2^2)
    direct = operating_point(pooled, round_=3, noise_per_count=np.sqrt(8.0))
    assert point["sensitivity_noise_sd"] == pytest.approx(direct["sensitivity_noise_sd"])
    assert point["specificity_noise_sd"] == pytest.approx(direct["specificity_noise_sd"])
    assert min(point["sensitivity_noise_sd"], point["specificity_noise_sd"]) > 0
    assert "no privacy cost" in point["note"]
    assert "not the final round" in results_operating_point(_fed({2: last}))["note"]


def test_without_an_evaluation_there_is_no_threshold_and_the_result_says_why():
    point = results_operating_point(_fed({}, site_evaluations=0))
    assert point == {"threshold": None, "rule": None, "note": NO_THRESHOLD}
    # planned but none recorded: an operator's coordinator stopped during the last round, the
    # hospitals answered and paid, and the report said "site evaluations 0"
    point = results_operating_point(_fed({}, site_evaluations=1))
    assert point["threshold"] is None and "site evaluations 0" not in point["note"]
    assert "planned 1 evaluation(s)" in point["note"] and "paid for its release" in point["note"]
    no_cases = np.zeros((2, 10))
    no_cases[0, 3] = 12
    point = results_operating_point(_fed({3: {"rostov": {"val-histogram": list(no_cases.ravel())}}}))
    assert point["threshold"] is None and "0 cases and 12 controls" in point["note"]
    few_cases = no_cases.copy()
    few_cases[1, 8] = 6  # a case class under the report's "too few to judge" minimum
    point = results_operating_point(_fed({3: {"rostov": {"val-histogram": list(few_cases.ravel())}}}))
    assert point["threshold"] is None and "6 cases and 12 controls" in point["note"]


def test_a_run_that_planned_evaluations_and_recorded_none_says_its_spending_is_a_floor(tmp_path, capsys):
    """An operator stopped the coordinator during the last round; its hospitals answered the
    evaluation after it exited (and paid, epsilon 23.8 in their ledgers) while `coordinator status`
    said "at most 23.67" and the report "site evaluations 0"."""
    from helpers.report_run import write_run

    from genofed.server.report import write_report
    from genofed.server.service.status import unrecorded_evaluations

    run_dir, results = write_run(tmp_path)
    assert unrecorded_evaluations(results) == 0  # it recorded its evaluation
    results["site_evaluation"] = None
    results["config"]["site-evaluations"] = 2
    assert unrecorded_evaluations(results) == 2
    privacy = write_report(run_dir, results).read_text().split("## Privacy", 1)[1]
    assert "The run planned 2 evaluation(s) of the final model and recorded none" in privacy
    assert "it may have spent more than shown here" in privacy
    results["config"]["site-evaluations"] = 0  # none planned: nothing missing
    assert unrecorded_evaluations(results) == 0


def test_a_run_without_dp_notes_exact_histograms():
    """A run without DP released exact counts; its note called them "DP validation histograms"."""
    a = np.array([[0, 2, 6, 10, 12, 3, 2, 0, 0, 0], [0, 0, 1, 2, 3, 10, 8, 5, 1, 0]], dtype=float)
    release = {3: {"rostov": {"val-histogram": list(a.ravel()), "val-noise": 0.0}}}
    point = results_operating_point(_fed(release, private=False))
    assert point["note"].startswith("read from the hospitals' exact validation histograms (a run without DP")
    assert "DP validation" not in point["note"] and "sensitivity_noise_sd" not in point
