"""The synthetic-utility summary and report where no synthetic batch passed validation: the
"real + synthetic" models are then real-only ones, so the error target is not measured (neither
met nor missed) and the cohort increase is what was actually added, not the configured ratio."""

from __future__ import annotations

import math

from genofed.simulations.experiments.synthetic_utility import report
from genofed.simulations.experiments.synthetic_utility.config import SynthUtilityConfig
from genofed.simulations.experiments.synthetic_utility.summary import summarise

SIZE, RATIO = 40, 0.4


def _rows(passed: bool) -> list[dict]:
    """One seed, one site, no DP: the real arm and the validated and unvalidated arms of one
    reference-generator batch of 16 records, accepted or rejected."""
    base = {"size": SIZE, "seed": 1, "epsilon": "inf", "site": "s", "n_real": 32, "seconds": 1.0}
    real = {**base, "arm": "real", "generator": None, "ratio": 0.0, "auc": 0.6, "accuracy": 0.465}
    real.update(error=0.535, n_synthetic=0)
    verdict = {
        "generated": 16,
        "dropped": 0,
        "passed": passed,
        "failed_checks": [] if passed else ["af_correlation"],
        "spurious_rate_validated": 0.0,
        "n_significant_validated": 0,
        "spurious_rate_unfiltered": 0.1,
        "n_significant_unfiltered": 10,
        "spurious_rate_holdout": None,
        "generator_seconds": 1.0,
        "epsilon_total": None,
    }
    synth = {**base, **verdict, "generator": "reference", "ratio": RATIO}
    validated = {**synth, "arm": "validated", "n_synthetic": 16 if passed else 0}
    validated.update(auc=0.7 if passed else 0.6, error=0.3 if passed else 0.535)
    unvalidated = {**synth, "arm": "unvalidated", "n_synthetic": 16, "auc": 0.62, "error": 0.5}
    return [real, validated, unvalidated]


def _results(passed: bool) -> dict:
    config = SynthUtilityConfig(
        out_dir="unused",
        sizes=(SIZE,),
        seeds=(1,),
        epsilons=(math.inf,),
        generators=("reference",),
        ratios=(RATIO,),
    )
    return summarise(_rows(passed), config)


def test_no_batch_passed_the_error_target_is_not_measured_not_missed():
    results = _results(passed=False)
    (target,) = results["targets"]["error_reduction_at_paper_ratio"]
    assert target["synthetic_used"] == 0 and target["cohort_increase"] == 0
    assert target["met"] is None
    assert results["targets"]["cells_without_synthetic"] == 1
    text = "\n".join(report._targets(results))
    assert "not measured: no synthetic batch passed validation" in text
    assert "MISSED" not in text.split("2. **")[0]  # target 1 neither met nor missed
    assert "relative change +0.0 %" not in text
    assert any("no synthetic batch passed validation" in line for line in report._commentary(results))


def test_no_batch_passed_the_paper_table_shows_no_synthetic_error_and_no_cohort_increase():
    results = _results(passed=False)
    paper = "\n".join(report._paper(results))
    real_synth = next(line for line in paper.splitlines() if "error, real + synthetic" in line)
    cohort = next(line for line in paper.splitlines() if "cohort increase" in line)
    assert "not measured: no synthetic batch passed validation" in real_synth
    assert "53.5 %" not in real_synth and "best:" not in real_synth
    assert "+40%" not in cohort and "+0 %" in cohort and "not measured" in cohort
    assert "not measured (no synthetic used)" in report._reductions(results)


def test_a_passed_batch_is_judged_and_the_cohort_increase_is_the_records_added():
    results = _results(passed=True)
    (target,) = results["targets"]["error_reduction_at_paper_ratio"]
    assert target["synthetic_used"] == 16 and target["cohort_increase"] == 0.5  # 16 of 32, not the ratio 0.4
    assert target["met"] is True
    paper = "\n".join(report._paper(results))
    assert "+50% (reference, ratio 0.4)" in paper
    assert "30.0 % (best: reference, ratio 0.4)" in paper
    assert "**met**" in "\n".join(report._targets(results))
