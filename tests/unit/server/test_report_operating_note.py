"""The report of a run says why it has no operating threshold, and describes only the reference
models it has (audit of `flwr run .`, finding 8).

A run whose hospitals' validation releases held too few cases said "an older run, or no hospital
evaluated the final model: `--site-evaluations 0`", while results.json's `operating_point.note`
held the real reason. A run without reference models (`flwr run`, `genofed simulate
--no-references`) described the 'Alone' columns' comparison and dashed green and orange lines that
its table and plot did not have.
"""

from __future__ import annotations

from pathlib import Path

from helpers.report_run import write_run

from genofed.common.scoring.operating import NO_THRESHOLD
from genofed.server.report import write_report

TOO_FEW = (
    "no operating threshold: 9 cases and 36 controls among the validation patients (noisy counts), fewer "
    "than 10 of a class; risks and percentiles only"
)
REFERENCES = {
    "pooled_auc": 0.81,
    "bayes_auc": 0.9,
    "local_only_auc": {"rostov": 0.7, "maykop": 0.62, "elista": 0.58},
    "local_only_nonprivate_auc": {"rostov": 0.74, "maykop": 0.66, "elista": 0.6},
}


def _section(text: str, title: str) -> str:
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 3)
    return text[start : end if end > 0 else len(text)]


def _report(tmp_path: Path, **changes) -> str:
    run_dir, results = write_run(tmp_path)
    results.update(changes)
    return write_report(run_dir, results).read_text()


def test_no_threshold_gives_the_runs_own_reason(tmp_path: Path) -> None:
    point = {"threshold": None, "rule": None, "note": TOO_FEW}
    bedside = _section(_report(tmp_path, operating_point=point), "At the bedside")
    assert (
        "This run set no operating threshold: 9 cases and 36 controls among the validation patients "
        "(noisy counts), fewer than 10 of a class. Only the top-decile call is shown." in bedside
    )
    assert "--site-evaluations 0" not in bedside and "an older run" not in bedside


def test_no_threshold_without_site_evaluations_says_so(tmp_path: Path) -> None:
    point = {"threshold": None, "rule": None, "note": NO_THRESHOLD}
    bedside = _section(_report(tmp_path / "none", operating_point=point), "At the bedside")
    assert "This run set no operating threshold: no hospital released a validation histogram" in bedside
    assert "risks and percentiles only" not in bedside
    # an older run, which recorded no note, keeps the general reason
    older = _section(_report(tmp_path / "older", operating_point={"threshold": None}), "At the bedside")
    assert "an older run, or no hospital evaluated the final model: `--site-evaluations 0`" in older


def test_a_run_without_reference_models_describes_no_baselines(tmp_path: Path) -> None:
    text = _report(tmp_path)  # results with no pooled_auc, local_only_auc, bayes_auc
    curve = _section(text, "Learning curve")
    assert "Dashed green" not in curve and "Orange" not in curve and "Dotted black" not in curve
    assert "This run trained no reference models" in curve
    assert "'Alone' columns" not in _section(text, "Model card")
    assert "hospital-alone reference models, so what privacy cost here was not measured" in text
    assert "'Alone' columns" not in _section(text, "Privacy")


def test_a_run_with_reference_models_describes_each_line_and_the_alone_columns(tmp_path: Path) -> None:
    text = _report(tmp_path, **REFERENCES)
    curve = _section(text, "Learning curve")
    assert "Dashed green: one model trained on all hospitals' data pooled centrally" in curve
    assert "Orange: models each hospital trained on its own data only, with the same privacy budget" in curve
    assert "Dotted black: the best any model can do" in curve
    assert "no reference models" not in curve
    assert "two 'Alone' columns compare each hospital's own model with and without privacy" in text
    assert "(compare the two 'Alone' columns above)" in _section(text, "Privacy")
