"""The report's test-cohort section: the final model's metrics, each with what it means at the bedside."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genofed.common.reporting.formatting import NOT_MEASURED, fmt_auc, fmt_float, fmt_int, fmt_percent
from genofed.common.reporting.tables import markdown_table
from genofed.server.report.reading import mapping, number


def _metric_rows(metrics: Mapping[str, Any]) -> list[list[str]]:
    """Each metric with one sentence a clinician can act on; the threshold is named where it matters."""
    threshold = number(metrics.get("threshold"))
    at = f"predicted risk above {threshold:g}" if threshold is not None else "the decision threshold"
    n, cases = number(metrics.get("n")), number(metrics.get("cases"))
    prevalence = cases / n if n and cases is not None else None
    brier_ref = (
        f" A model that gave everyone the test cohort's prevalence would score "
        f"{prevalence * (1 - prevalence):.3f}."
        if prevalence is not None
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
            "Share of people without the disease correctly not flagged; the rest are false alarms.",
        ],
        [
            "Brier score",
            fmt_float(metrics.get("brier")),
            "Mean squared error of the predicted risks (0 = perfect; lower is better)." + brier_ref,
        ],
        [
            "Calibration error (ECE)",
            fmt_float(metrics.get("ece")),
            "Average gap between predicted risk and the observed rate of disease, over 10 risk bins: "
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
    """The final model on the held-out test cohort: its size and prevalence, then the metrics table."""
    metrics = mapping(results.get("test_metrics"))
    if not metrics:
        return "## Final model on the test cohort\n\nTest-cohort metrics were not measured."
    n, cases = number(metrics.get("n")), number(metrics.get("cases"))
    cohort = (
        f"{fmt_int(n)} people, {fmt_int(cases)} with the disease "
        f"({fmt_percent(cases / n) if n and cases is not None else NOT_MEASURED} prevalence)"
    )
    return (
        "## Final model on the test cohort\n\n"
        f"Held-out test cohort: {cohort}. Nobody in it was used for training.\n\n"
        + markdown_table(["Metric", "Value", "What it means"], _metric_rows(metrics))
    )
