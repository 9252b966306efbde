"""The verdict's wording after the clinical audit: rule 2 names the test cohort's case share, the
pass state is "Minimum checks passed; not validated for clinical use", and calibration, the Brier
score at the real prevalence and the call's likelihood ratios are stated beside the rules; the
Hospitals table says when no hospital's validation figure carries information; the model card tells
the clinician what privacy means for the patients they score; the appendix holds the threshold's
recorded rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from helpers.report_run import write_run

from genofed.server.report import write_report
from genofed.server.report.run_files import read_predictions


def _section(text: str, title: str) -> str:
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 3)
    return text[start : end if end > 0 else len(text)]


def test_the_verdict_names_the_case_share_and_states_what_the_rules_do_not_check(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    verdict = _section(write_report(run_dir, results).read_text(), "Verdict")
    predictions = read_predictions(run_dir)
    share = 100 * predictions.cases / predictions.n
    assert "**Minimum checks passed; not validated for clinical use.**" in verdict
    assert f"the Brier score beats giving everyone the test cohort's {share:.1f}% case share" in verdict
    assert "prevalence at the test cohort" not in verdict
    # truth.json's prevalence_target: 2 %; the test cohort reweighted to it
    y, r = predictions.labels.astype(bool), predictions.risks
    brier = 0.02 * np.mean((1 - r[y]) ** 2) + 0.98 * np.mean(r[~y] ** 2)
    assert (
        "**At the real prevalence of 2.0%** (the test cohort's cases and controls reweighted to it), "
        in verdict
    )
    assert f"the Brier score is {brier:.3f} against {0.02 * 0.98:.3f} for giving everyone 2.0%" in verdict
    assert "**Calibration:**" in verdict and "Hosmer-Lemeshow" in verdict
    assert "**The operating threshold's call** (risk >= 0.450) has LR+ " in verdict


def test_hospitals_table_says_when_no_validation_figure_tells_anything(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    informative = _section(write_report(run_dir, results).read_text(), "Hospitals")
    assert "which can reveal a hospital whose patients the shared model serves less well" in informative
    for record in results["sites"].values():
        record["federated_local_auc_noise_sd"] = 1.5  # the audited run's noise level
    hospitals = _section(write_report(run_dir, results).read_text(), "Hospitals")
    rostov = next(line for line in hospitals.splitlines() if line.startswith("| rostov"))
    assert "| uninformative at this privacy level |" in rostov and "0.00-1.00" not in rostov
    assert "no hospital's figure there says anything" in hospitals
    assert "which can reveal" not in hospitals
    assert "released noisy counts" in hospitals


def test_model_card_tells_the_clinician_what_privacy_means_for_scored_patients(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    card = _section(write_report(run_dir, results).read_text(), "Model card")
    paragraph = card[card.index("**For the clinician scoring patients:**") :]
    assert "`model.pt` may be passed to other hospitals" in paragraph
    # a deployment walkthrough: a model told, beside a labelled cohort, whether that cohort trained it
    assert "not about a whole hospital" in paragraph and "whether that cohort took part" in paragraph
    assert "`genofed predict` runs on your own machine and sends nothing" in paragraph
    assert "risks.csv" in paragraph and "covered by no privacy guarantee" in paragraph
    assert "`genofed adapt`" in paragraph and "must stay inside the hospital" in paragraph
    results.update(epsilon_budget=None)
    card = _section(write_report(run_dir, results).read_text(), "Model card")
    assert "WITHOUT differential privacy and can reveal its training patients" in card


def test_plain_words_in_the_clinicians_sections(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    text = write_report(run_dir, results).read_text()
    bedside = _section(text, "At the bedside")
    assert "cut-off read from the test cohort itself" in bedside and "in-sample" in bedside
    assert "LR+ / LR- (95 % CI)" in bedside
    assert "**Operating threshold rule** (risk >= 0.450), as the run recorded it: maximise" in text
    final = _section(text, "Final model on the test cohort")
    assert "case share)" in final and "prevalence" not in final


def test_a_call_that_flags_no_one_is_said_as_such(tmp_path: Path) -> None:
    """A walkthrough's verdict read "has LR+ unbounded (no false alarm in the test cohort) ... it
    would flag 0.0% of people, of whom not measured have the disease" for a call that flagged none of
    the 200 people."""
    run_dir, results = write_run(tmp_path)
    predictions = read_predictions(run_dir)
    above_everyone = float(np.max(predictions.risks)) + 1e-3
    results["operating_point"] = {**results["operating_point"], "threshold": above_everyone}
    verdict = _section(write_report(run_dir, results).read_text(), "Verdict")
    call = next(line for line in verdict.splitlines() if "**The operating threshold's call**" in line)
    assert "has LR+ not defined (no one flagged)" in call
    assert f"it flags no one of the {predictions.n:,} people of the test cohort, so it finds no case" in call
    assert "unbounded" not in call and "not measured have the disease" not in call
