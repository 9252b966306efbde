"""What the report's reviewer asked of it: a privacy promise that scales with epsilon, a privacy plot
that ends at the total the text states, calibration figures that name their bins and blame no one
but the model, a test cohort that says it is not private, thresholds named wherever a rate is
given, and technical terms explained where they are shown."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from helpers.report_run import rewrite_risks, write_run

from genofed.common.reporting.clinical import threshold_metrics
from genofed.server.report import PRIVACY_PLOT, render_markdown, write_report
from genofed.server.report import plots as plots_module
from genofed.server.report.metrics import ECE_BINS
from genofed.server.report.plots import final_release_point, plot_privacy_per_round
from genofed.server.report.privacy import privacy_section, vacuous_above
from genofed.server.report.run_files import read_predictions


def _section(text: str, title: str) -> str:
    """The text of one '## title' section."""
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 3)
    return text[start : end if end > 0 else len(text)]


def _privacy_results(budget: float = 8.0, spent: float = 7.95) -> dict:
    """Ten training rounds ending at epsilon 7.51, then an evaluation release that brings the
    most-spending hospital to `spent` (as the demo run's results.json has it)."""
    per_round = [0.0, 2.71, 3.54, 4.21, 4.80, 5.33, 5.81, 6.27, 6.70, 7.11, 7.51]
    return {
        "epsilon_budget": budget,
        "delta": 1e-5,
        "rounds": [{"round": r, "epsilon_max": value or None} for r, value in enumerate(per_round)],
        "epsilon": {"rostov": spent, "elista": spent - 0.01},
        "sites": {"rostov": {"samples": 300}, "elista": {"samples": 60}},
    }


def test_privacy_promise_at_large_epsilon_says_the_bound_is_weak_and_names_the_audit() -> None:
    text = privacy_section(_privacy_results(), plot_written=False)
    assert "almost equally likely" not in text
    assert "It protects against membership inference" not in text
    assert "**At epsilon 8 this worst-case guarantee is weak:**" in text
    assert f"wrongly accuses more than {100 * (1 - 1e-5) / math.exp(8):.3g} % of non-participants" in text
    assert "0.0335 %" in text and "docs/privacy-audit.md" in text
    assert vacuous_above(8.0, 1e-5) == pytest.approx(3.35e-4, rel=1e-2)


def test_privacy_promise_at_small_epsilon_keeps_the_strong_wording() -> None:
    text = privacy_section(_privacy_results(budget=1.0, spent=0.99), plot_written=False)
    assert "At epsilon 1 this is a strong guarantee: it protects against membership inference" in text
    assert "weak" not in text and "privacy-audit" not in text


def test_privacy_plot_ends_at_the_total_the_text_states(tmp_path: Path, monkeypatch) -> None:
    results = _privacy_results()
    assert final_release_point(results) == (10, 7.95)
    drawn = []
    monkeypatch.setattr(plots_module, "save_figure", lambda figure, path: drawn.append(figure))
    assert plot_privacy_per_round(tmp_path / PRIVACY_PLOT, results)
    lines = [line for line in drawn[0].axes[0].get_lines() if "Budget" not in str(line.get_label())]
    assert max(max(line.get_ydata()) for line in lines) == pytest.approx(7.95)
    labels = [str(line.get_label()) for line in lines]
    assert "Run total, after the final evaluation release (noisy validation histograms): 7.95" in labels
    caption = privacy_section(results, plot_written=True)
    assert "(7.51 after round 10); the star is the run's total, 7.95" in caption
    assert "Epsilon actually spent: 7.94 to 7.95" in caption


def test_privacy_plot_without_a_later_release_has_no_extra_point() -> None:
    results = _privacy_results(spent=7.51)
    assert final_release_point(results) is None
    assert "ending at the run's total (7.51)" in privacy_section(results, plot_written=True)


def test_ece_bins_match_the_recorded_metric() -> None:
    from genofed.common.model.metrics import ECE_BINS as RECORDED_BINS

    assert ECE_BINS == RECORDED_BINS


def test_two_calibration_figures_name_their_bins(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    results["test_metrics"]["ece"] = 0.112
    text = write_report(run_dir, results).read_text()
    calibration = _section(text, "Calibration")
    assert "on average over these 10 equal-size bins" in calibration
    assert "bins risks by equal width instead" in calibration
    final = _section(text, "Final model on the test cohort")
    assert "over 10 equal-width risk bins (0-0.1, 0.1-0.2, ..., 0.9-1)" in final
    assert "uses bins of equal size instead" in final


def _shift_risks(run_dir: Path) -> None:
    """Every risk pulled up towards 0.3-0.9: the same ranking, risks far above what comes true."""
    rewrite_risks(run_dir, lambda risk: 0.3 + 0.6 * risk)


def test_miscalibrated_risks_are_called_so_and_not_blamed_on_prevalence(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    _shift_risks(run_dir)
    text = write_report(run_dir, results).read_text()
    calibration = _section(text, "Calibration")
    assert "**These predicted risks are not calibrated** on this test cohort" in calibration
    assert (
        "the Hosmer-Lemeshow test (do predicted and observed agree over all bins together?) gives p = "
        in (calibration)
    )
    assert "too high" in calibration and "percentage points (too high: predicted " in calibration
    assert "predicts risks at their case share" not in text
    card = _section(text, "Model card")
    assert "Its predicted risks are not calibrated: on the test cohort they miss" in card
    assert "calibrated (at best) to the training cohorts' case share" not in card


def test_calibrated_risks_are_said_to_hold_only_at_the_cohorts_case_share(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)  # labels drawn from the risks: calibrated by construction
    text = write_report(run_dir, results).read_text()
    assert "the risks are consistent with calibration" in _section(text, "Calibration")
    assert "Its risks matched the observed rates on the test cohort" in _section(text, "Model card")


def test_test_cohort_says_it_has_no_differential_privacy(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    card = _section(write_report(run_dir, results).read_text(), "Model card")
    assert (
        "| test cohort (coordinator) | evaluation only | - | 400 | not private: exact results published | - |"
        in (card)
    )
    assert "**The test cohort has no differential privacy:**" in card
    assert "sample id, label and risk (test_predictions.csv" in card
    assert "not covered by any privacy guarantee" in card and "not released" not in card


def test_verdict_says_what_rule_3_checks_and_bedside_gives_the_share_flagged(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    text = write_report(run_dir, results).read_text()
    verdict = _section(text, "Verdict")
    assert "the operating threshold flags some people but not all" in verdict
    assert "separates" not in verdict
    predictions = read_predictions(run_dir)
    at = threshold_metrics(predictions.labels, predictions.risks, 0.45)
    share = 0.02 * at.sensitivity + 0.98 * (1 - at.specificity)
    bedside = _section(text, "At the bedside")
    assert "Share flagged at the real prevalence 2.0%" in bedside
    row = next(line for line in bedside.splitlines() if line.startswith("| Operating threshold"))
    assert row.endswith(f"| {100 * share:.1f}% |")
    assert "prevalence x sensitivity + (1 - prevalence) x (1 - specificity)" in bedside


def test_verdict_without_a_threshold_does_not_claim_rule_3_passed(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    results["operating_point"]["threshold"] = None
    verdict = _section(write_report(run_dir, results).read_text(), "Verdict")
    assert "there was no operating threshold to check" in verdict and "flags some" not in verdict


def test_final_model_table_names_the_cut_off_of_its_rates(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)  # operating threshold 0.45, test metrics at 0.5
    results["test_metrics"].update(sensitivity=0.7, specificity=0.6, accuracy=0.64)
    final = _section(write_report(run_dir, results).read_text(), "Final model on the test cohort")
    assert "call high risk at predicted risk >= 0.5, a fixed cut-off, not at the run's operating " in final
    assert "(risk >= 0.450)" in final and "above 0.5" not in final
    assert "flagged as high risk (predicted risk >= 0.5)" in final
    results["operating_point"]["threshold"] = 0.5
    final = _section(write_report(run_dir, results).read_text(), "Final model on the test cohort")
    assert "which is also the run's operating threshold" in final


def test_technical_terms_are_explained_where_shown(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    results["local_only_auc"] = {"rostov": 0.61, "maykop": 0.55, "elista": 0.52}
    results["config"].update(
        {"strategy": "fedavg", "malicious-nodes": 1, "trim-beta": 0.2, "prevalence": 0.0, "clip": 1.0}
    )
    text = write_report(run_dir, results).read_text()
    hospitals = _section(text, "Hospitals")
    assert "- **Noise multiplier:** how much random noise" in hospitals
    assert "- **Rounds trained:** how many of the run's 4 training rounds" in hospitals
    assert "with the same privacy budget as the federation" in _section(text, "Learning curve")
    drivers = _section(text, "Which variants drive the model")
    assert "Contribution: how far the variant moves the model's risk score (the log-odds" in drivers
    assert "the size, not the direction, which the column 'More ALT copies (odds per copy)' gives" in drivers
    assert "multiplies the odds by e^" in drivers or "divides the odds by e^" in drivers
    config = _section(text, "Appendix: full configuration")
    assert "| malicious-nodes | 1 (does not apply: only with strategy krum or multikrum) |" in config
    assert "| trim-beta | 0.2 (does not apply: only with strategy fedtrimmedavg) |" in config
    assert "| prevalence | 0 (not set; the report uses 2 %, the simulated disease's population" in config
    assert "| strategy | fedavg |" in config
    facts = _section(text, "Run facts")
    assert "a fresh logistic model: every weight and the bias at zero" in facts
    assert "random weights; a logistic model starts at zero" not in facts


def test_learning_curve_without_privacy_says_the_hospitals_alone_had_none() -> None:
    text = render_markdown(
        {"test_auc": 0.7, "rounds": [{"round": 1, "test_auc": 0.7}], "local_only_auc": {"rostov": 0.6}},
        {"auc_per_round.png": True},
    )
    assert "own data only, without privacy (median line, range shaded)" in _section(text, "Learning curve")


def test_dp_limitation_compares_each_hospital_alone_with_and_without_privacy(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    results["local_only_auc"] = {"rostov": 0.61, "maykop": 0.55, "elista": 0.52}
    results["local_only_nonprivate_auc"] = {"rostov": 0.66, "maykop": 0.60, "elista": 0.50}
    card = _section(write_report(run_dir, results).read_text(), "Model card")
    assert "the median hospital alone reaches test AUC 0.550 with privacy and 0.600 without" in card
    assert "mixes that cost with the effect of federating" in card
    assert "compare the pooled and hospital-alone figures" not in card


def test_a_passing_check_on_fewer_than_100_people_cannot_tell():
    """predict, adapt and inspect-model say a passing Hosmer-Lemeshow test on fewer than 100 people
    cannot tell (it misses even risks far off); the run report said "consistent with calibration"."""
    from genofed.common.reporting.calibration import CalibrationBin, CalibrationCheck
    from genofed.server.report.calibration import _verdict_words

    worst = CalibrationBin(0.4, 0.6, 10, 5, 0.5, 0.45, 0.2, 0.7)
    check = CalibrationCheck(0.05, worst, 0, 3.1, 0.93, 0.5, 0.48)
    assert check.calibrated
    few = _verdict_words(check, 60, "the PPV at the real prevalence")
    assert few.startswith("**This test cohort of 60 people cannot tell whether the risks are calibrated**")
    assert "Do not read a risk figure as a probability" in few and "consistent with" not in few
    assert _verdict_words(check, 100, "the PPV at the real prevalence").startswith(
        "On this test cohort the risks are consistent with calibration"
    )


def test_the_model_card_does_not_call_a_small_cohorts_risks_matched():
    from types import SimpleNamespace

    from genofed.common.reporting.calibration import CalibrationBin
    from genofed.server.report.model_card import _calibration_limit

    # two bins of 30 people whose observed rates sit close to the predicted ones: a passing test
    bins = [
        CalibrationBin(0.0, 0.5, 30, 9, 0.3, 0.3, 0.17, 0.48),
        CalibrationBin(0.5, 1.0, 30, 21, 0.7, 0.7, 0.52, 0.83),
    ]
    words = _calibration_limit(SimpleNamespace(calibration=bins, prevalence=None))  # type: ignore[arg-type]
    assert words.startswith(
        "Whether its risks are calibrated is not known: a test cohort of 60 people cannot tell"
    )
    bigger = [CalibrationBin(b.low, b.high, 60, 2 * b.cases, b.predicted, b.observed, 0.2, 0.8) for b in bins]
    assert _calibration_limit(SimpleNamespace(calibration=bigger, prevalence=None)).startswith(
        "Its risks matched"
    )  # type: ignore[arg-type]
