"""The model card: what the final model is for, what it was trained on, what privacy it spent, and
what it cannot do (after Mitchell et al., "Model Cards for Model Reporting", 2019)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genofed.common.reporting.formatting import NOT_MEASURED, fmt_delta, fmt_epsilon, fmt_int
from genofed.common.reporting.tables import markdown_table
from genofed.server.report.assessment import Assessment
from genofed.server.report.reading import cohort_size, dp_on, mapping, number, site_epsilon, site_names
from genofed.server.report.sites import absent_line


def _data_rows(results: Mapping[str, Any]) -> list[list[str]]:
    """One row per hospital (declared sizes; with DP, epsilon spent and delta), then the test cohort."""
    dp = dp_on(results)
    rows = []
    for site in site_names(results):
        record = mapping(mapping(results.get("sites")).get(site))
        row = [site, "training", fmt_int(record.get("train")), fmt_int(record.get("validation"))]
        rows.append(
            row + ([fmt_epsilon(site_epsilon(results, site)), fmt_delta(results.get("delta"))] if dp else [])
        )
    n, _cases = cohort_size(results)
    if n is not None:
        rows.append(
            ["test cohort (coordinator)", "evaluation only", "-", fmt_int(n)]
            + (["not released", "-"] if dp else [])
        )
    return rows


def _limitations(results: Mapping[str, Any], assessment: Assessment) -> list[str]:
    items = [
        "Trained on the federation's hospitals only: it may not transfer to other ancestries, genotyping "
        "platforms or referral patterns; validate it on the population it is meant for first.",
        "Its risks are calibrated (at best) to the training cohorts' case share, not to the population's "
        "prevalence: use the calibration plot and the PPV at the real prevalence, not the raw risk figure.",
        "Genotype only, plus sex and age: no family history, no clinical findings.",
        "Variant contributions say what the model relies on, not what causes the disease.",
    ]
    if dp_on(results):
        items.append(
            "Differential privacy adds noise to training: the model is less accurate than one trained "
            "without it on the same data (compare the pooled and hospital-alone figures above)."
        )
    else:
        items.append("This run was NOT private: do not train on real patients with these settings.")
    if assessment.predictions is None:
        items.append("No test cohort scored by the final model: its clinical figures are not measured.")
    return items


def model_card_section(results: Mapping[str, Any], assessment: Assessment) -> str:
    """Intended use, data sources and sizes, privacy spent per hospital (and the hospitals asked that
    did not take part: the model was not trained on their patients), limitations."""
    budget = number(results.get("epsilon_budget"))
    privacy = (
        f"each hospital's epsilon budget was {budget:g} at delta {fmt_delta(results.get('delta'))}, "
        "and the table gives what each spent"
        if budget is not None
        else "none, this run was NOT differentially private"
    )
    limitations = "".join(f"\n- {text}" for text in _limitations(results, assessment))
    model = mapping(results.get("model"))
    kind = str(model.get("architecture", "network")) if model else NOT_MEASURED
    return (
        "## Model card\n\n"
        "**Intended use:** ranking people by genetic risk of the disease the hospitals' labels record, to "
        "prioritise them for confirmatory testing or closer follow-up, by clinicians who also weigh the "
        "clinical picture. Not for diagnosis, not for ruling the disease out, and not for use on patients "
        "before a local validation.\n\n"
        f"**Model:** {kind}, trained by federated learning across the hospitals below; no genotype or "
        "phenotype left a hospital.\n\n"
        f"**Data sources and sizes**, as each hospital declared them. Privacy: {privacy}.\n\n"
        + markdown_table(
            ["Source", "Role", "Training patients", "Validation / test patients"]
            + (["Epsilon spent", "Delta"] if dp_on(results) else []),
            _data_rows(results),
        )
        + (f"\n\n{absent}" if (absent := absent_line(results)) else "")
        + "\n\n**Limitations:**"
        + limitations
    )
