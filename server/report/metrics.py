"""The report's test-cohort section: the final model's metrics, each with what it means at the bedside."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genofed.common.reporting.formatting import NOT_MEASURED, fmt_auc, fmt_float, fmt_int, fmt_percent
from genofed.common.reporting.tables import markdown_table
from genofed.server.report.reading import mapping, number

#: The equal-width bins of results.json's `ece` (genofed.common.model.metrics.ECE_BINS, not imported
#: here because that module loads scikit-learn; a unit test keeps the two equal).
ECE_BINS = 10


def _cut_off(metrics: Mapping[str, Any]) -> str:
    """'predicted risk >= 0.5': the cut-off of the recorded accuracy, sensitivity and specificity."""
    threshold = number(metrics.get("threshold"))
    return f"predicted risk >= {threshold:g}" if threshold is not None else "the decision threshold"


def threshold_note(metrics: Mapping[str, Any], results: Mapping[str, Any]) -> str:
    """Which cut-off the table's accuracy, sensitivity and specificity are at, and whether it is the
    run's operating threshold.

    results.json's test metrics are at a fixed 0.5, while "At the bedside" uses the operating
    threshold chosen on the hospitals' validation releases: unnamed, the two would give a reader two
    sensitivities with no reason for the difference.
    """
    threshold = number(metrics.get("threshold"))
    if threshold is None:
        return ""
    operating = number(mapping(results.get("operating_point")).get("threshold"))
    head = f"Accuracy, sensitivity and specificity below call high risk at predicted risk >= {threshold:g}"
    if operating is None:
        return head + ", a fixed cut-off (this run chose no operating threshold)."
    if abs(operating - threshold) < 5e-4:
        return head + ", which is also the run's operating threshold ('At the bedside')."
    return (
        f"{head}, a fixed cut-off, not at the run's operating threshold (risk >= {operating:.3f}) that "
        "'At the bedside' uses: the two give different figures."
    )


def _metric_rows(metrics: Mapping[str, Any]) -> list[list[str]]:
    """Each metric with one sentence a clinician can act on; the threshold is named where it matters."""
    at = _cut_off(metrics)
    n, cases = number(metrics.get("n")), number(metrics.get("cases"))
    share = cases / n if n and cases is not None else None
    brier_ref = (
        f" A model that gave everyone the test cohort's case share ({fmt_percent(share)}) as their risk "
        f"would score {share * (1 - share):.3f}."
        if share is not None
        else ""
    )
    return [
        [
            "AUC",
            fmt_auc(metrics.get("auc")),
            "Chance that a random patient with the disease is ranked above a random one without it "
            "(0.5 = coin toss, 1 = perfect). Independent of any threshold.",
        ],
        [
            "Accuracy",
            fmt_percent(metrics.get("accuracy")),
            f"Share of people classified correctly when {at} counts as high risk. Misleading for rare "
            "diseases: calling everyone healthy is accurate too.",
        ],
        [
            "Sensitivity",
            fmt_percent(metrics.get("sensitivity")),
            f"Share of patients with the disease flagged as high risk ({at}); the rest are missed.",
        ],
        [
            "Specificity",
            fmt_percent(metrics.get("specificity")),
            "Share of people without the disease correctly not flagged at the same cut-off; the rest are "
            "false alarms.",
        ],
        [
            "Brier score",
            fmt_float(metrics.get("brier")),
            "Mean squared error of the predicted risks (0 = perfect; lower is better)." + brier_ref,
        ],
        [
            "Calibration error (ECE)",
            fmt_float(metrics.get("ece")),
            f"Average gap between predicted risk and the observed rate of disease, over {ECE_BINS} "
            "equal-width risk bins (0-0.1, 0.1-0.2, ..., 0.9-1), weighted by the people in each; the "
            "Calibration section's average uses bins of equal size instead, so it differs: "
            + _ece_words(metrics.get("ece")),
        ],
    ]


def _ece_words(ece: Any) -> str:
    """ECE as percentage points, the unit a clinician reads a risk in."""
    value = number(ece)
    if value is None:
        return "0 means a predicted 30% risk comes true for 30% of such patients."
    return (
        f"predicted risks are off from what actually happened by about {100 * value:.1f} "
        "percentage points on average (0 = a predicted 30% risk comes true for 30% of such patients)."
    )


def final_model_section(results: Mapping[str, Any]) -> str:
    """The final model on the held-out test cohort: its size and case share, then the metrics table."""
    metrics = mapping(results.get("test_metrics"))
    if not metrics:
        return "## Final model on the test cohort\n\nTest-cohort metrics were not measured."
    n, cases = number(metrics.get("n")), number(metrics.get("cases"))
    cohort = (
        f"{fmt_int(n)} people, {fmt_int(cases)} with the disease "
        f"({fmt_percent(cases / n) if n and cases is not None else NOT_MEASURED} case share)"
    )
    note = threshold_note(metrics, results)
    return (
        "## Final model on the test cohort\n\n"
        f"Held-out test cohort: {cohort}. Nobody in it was used for training."
        + (f" {note}" if note else "")
        + "\n\n"
        + markdown_table(["Metric", "Value", "What it means"], _metric_rows(metrics))
    )
