"""The model card: what the final model is for, what it was trained on, what privacy it spent, and
what it cannot do (after Mitchell et al., "Model Cards for Model Reporting", 2019)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genofed.common.reporting.formatting import NOT_MEASURED, fmt_delta, fmt_int
from genofed.common.reporting.tables import markdown_table
from genofed.common.scoring.validation import MIN_CALIBRATION_PEOPLE
from genofed.server.report.assessment import Assessment, ppv_advice
from genofed.server.report.calibration import check_calibration
from genofed.server.report.privacy import void_delta
from genofed.server.report.reading import (
    SPENT_BEFORE_WORDS,
    any_spent_before,
    cohort_size,
    dp_on,
    mapping,
    md_text,
    median,
    number,
    site_names,
    site_values,
)
from genofed.server.report.sites import absent_line, epsilon_cells, epsilon_headers
from genofed.server.report.subgroups import concerning_groups


def _data_rows(results: Mapping[str, Any]) -> list[list[str]]:
    """One row per hospital (declared sizes; with DP, epsilon spent and delta), then the test cohort."""
    dp = dp_on(results)
    rows = []
    for site in site_names(results):
        record = mapping(mapping(results.get("sites")).get(site))
        row = [md_text(site), "training", fmt_int(record.get("train")), fmt_int(record.get("validation"))]
        rows.append(row + ([*epsilon_cells(results, site), fmt_delta(results.get("delta"))] if dp else []))
    n, _cases = cohort_size(results)
    if n is not None:
        rows.append(
            ["test cohort (coordinator)", "evaluation only", "-", fmt_int(n)]
            # one cell under each epsilon column (two where a ledger held more than this run), then delta
            + (["not private: exact results published"] * len(epsilon_headers(results)) + ["-"] if dp else [])
        )
    return rows


def _test_cohort_privacy(results: Mapping[str, Any], assessment: Assessment) -> str:
    """Say that the test cohort is outside the privacy guarantee; "" without a test cohort.

    Its people are scored by the coordinator, and their exact results are published with the report,
    so a reader of the epsilon column must not think it covers them too.
    """
    if cohort_size(results)[0] is None:
        return ""
    published = (
        "its exact per-bin counts (Calibration, in this report) and every person's sample id, label "
        "and risk (test_predictions.csv, beside this report in the run folder)"
        if assessment.predictions is not None
        else "its exact test metrics (Final model on the test cohort)"
    )
    return (
        "\n\n**The test cohort has no differential privacy:** the coordinator scores it directly, and "
        f"{published} are published. Its people are not covered by any privacy guarantee in "
        "this report."
    )


def _calibration_limit(assessment: Assessment) -> str:
    """What the risk figures may be read as, from the calibration this run measured.

    A miscalibration measured on the test cohort is the model's own: attributing it to the training
    cohorts' case share would suggest that a prevalence correction makes the risks trustworthy.
    """
    check = check_calibration(assessment.calibration)
    advice = ppv_advice(assessment)
    if check is None:
        return (
            "Its calibration was not measured (no test predictions): do not read its risks as "
            f"probabilities; use the ranking and {advice}."
        )
    if not check.calibrated:
        worst = check.worst
        return (
            "Its predicted risks are not calibrated: on the test cohort they miss the observed rate by up "
            f"to {100 * abs(worst.predicted - worst.observed):.0f} percentage points (see Calibration). Do "
            f"not read them as probabilities; use the ranking, the threshold call and {advice}."
        )
    people = sum(b.people for b in assessment.calibration)
    if people < MIN_CALIBRATION_PEOPLE:  # a passing test on so few cannot tell (see Calibration)
        return (
            f"Whether its risks are calibrated is not known: a test cohort of {people} people cannot tell "
            "(see Calibration). Do not read them as probabilities; use the ranking, the threshold call and "
            f"{advice}."
        )
    return (
        "Its risks matched the observed rates on the test cohort (see Calibration), but at that cohort's "
        f"case share ({100 * check.case_share:.0f} %), not at the population's prevalence: use {advice}, "
        "not the raw risk figure."
    )


def _privacy_limit(results: Mapping[str, Any]) -> str:
    """The accuracy cost of DP, compared like with like: each hospital alone with and without it.

    The pooled model differs from the federated one by both federation and privacy, so it cannot
    show what privacy alone costs; the hospitals-alone pairs differ only by privacy.
    """
    private = median(site_values(results.get("local_only_auc")))
    plain = median(site_values(results.get("local_only_nonprivate_auc")))
    if private is None and plain is None:  # no reference models (`flwr run`, `--no-references`)
        return (
            "Differential privacy adds noise to training, which usually costs accuracy; this run trained "
            "no hospital-alone reference models, so what privacy cost here was not measured."
        )
    measured = (
        f" (here the median hospital alone reaches test AUC {private:.3f} with privacy and {plain:.3f} "
        "without)"
        if private is not None and plain is not None
        else ""
    )
    return (
        "Differential privacy adds noise to training, which usually costs accuracy: the Hospitals table's "
        f"two 'Alone' columns compare each hospital's own model with and without privacy{measured}. The "
        "gap to the pooled model mixes that cost with the effect of federating, so it does not measure "
        "privacy's cost alone."
    )


def _group_limit(assessment: Assessment) -> list[str]:
    """The test cohort's groups the model may serve less well (`subgroups`), as one limitation."""
    at = assessment.at_threshold or assessment.top_decile
    if at is None:
        return []
    groups = concerning_groups(assessment.predictions, assessment.groupings, at.threshold)
    if not groups:
        return []
    return [
        "Even within the federation's own population it may serve some patients less well: on the test "
        f"cohort, {', '.join(groups)} (see 'By group of the test cohort' under At the bedside)."
    ]


def _limitations(results: Mapping[str, Any], assessment: Assessment) -> list[str]:
    items = [
        "Trained on the federation's hospitals only: it may not transfer to other ancestries, genotyping "
        "platforms or referral patterns; validate it on the population it is meant for first.",
        *_group_limit(assessment),
        _calibration_limit(assessment),
        "Genotype only, plus sex and age: no family history, no clinical findings.",
        "Variant contributions say what the model relies on, not what causes the disease.",
    ]
    if dp_on(results):
        items.append(_privacy_limit(results))
    else:
        items.append("This run was NOT private: do not train on real patients with these settings.")
    if assessment.predictions is None:
        items.append("No test cohort scored by the final model: its clinical figures are not measured.")
    return items


def clinician_scoring(results: Mapping[str, Any]) -> str:
    """What privacy means for the patients a clinician scores with the model (three lines): the
    model file may travel (a DP release; not so without DP; a simulation's of real exports only as
    the data's owners agree, since no ledger records it), scoring is local, its output is patient
    data, and an adapted model stays in the hospital.

    Why a simulation of real exports differs: a walkthrough ran `genofed simulate --data` five times
    on the same real patients (epsilon 8 each), none of it in any ledger a hospital later opened, and
    each report called its model.pt shareable as "covered by the epsilon above"."""
    void = void_delta(results)
    if not dp_on(results):
        model = (
            "`model.pt` comes from a run WITHOUT differential privacy and can reveal its training "
            "patients: do not pass it outside the federation's hospitals."
        )
    elif void is not None:
        model = (
            f"`model.pt` comes from a run whose delta ({fmt_delta(void[0])}) is not below 1 / "
            f"{fmt_int(void[1])}, the smallest hospital: its privacy guarantee is void (see Privacy), so "
            "do not pass it outside the federation's hospitals."
        )
    elif results.get("simulated_patients") is False:
        model = (
            "`model.pt` is this simulation's differentially private release of the hospitals' real "
            "patients, covered by the epsilon above for this run alone. The simulation is in no hospital's "
            "privacy ledger, and every other run on the same patients (another simulation, a federation) "
            "spends an epsilon of its own: whoever holds the models of several runs holds the sum of their "
            "epsilons. Pass it outside only as the data's owners agree, and tell them what it spent."
        )
    else:
        model = (
            "`model.pt` may be passed to other hospitals and clinicians: it is this run's differentially "
            "private release, covered by the epsilon above. That epsilon bounds what it shows about any one "
            "patient, not about a whole hospital: it scores the cohorts that trained it better than others, "
            "so whoever holds it and a labelled cohort can tell whether that cohort took part."
        )
    return (
        "**For the clinician scoring patients:**\n"
        f"- {model}\n"
        "- Scoring patients with `genofed predict` runs on your own machine and sends nothing anywhere; "
        "its output (risks.csv: sample ids with their risks and calls) is identifiable patient data, "
        "covered by no privacy guarantee: keep it as you keep medical records.\n"
        "- A model adapted to your hospital (`genofed adapt`) is fitted WITHOUT differential privacy on "
        "your patients and can reveal them: it must stay inside the hospital."
    )


def model_card_section(results: Mapping[str, Any], assessment: Assessment) -> str:
    """Intended use, data sources and sizes, privacy spent per hospital (and the hospitals asked that
    did not take part: the model was not trained on their patients), limitations, and what privacy
    means for the patients a clinician scores (`clinician_scoring`)."""
    budget = number(results.get("epsilon_budget"))
    privacy = (
        f"the run asked each hospital for at most epsilon {budget:g} at delta "
        f"{fmt_delta(results.get('delta'))} (a hospital's own lifetime budget may be lower), and the "
        "table gives what each spent" + (SPENT_BEFORE_WORDS if any_spent_before(results) else "")
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
            + ([*epsilon_headers(results), "Delta"] if dp_on(results) else []),
            _data_rows(results),
        )
        + _test_cohort_privacy(results, assessment)
        + (f"\n\n{absent}" if (absent := absent_line(results)) else "")
        + "\n\n**Limitations:**"
        + limitations
        + "\n\n"
        + clinician_scoring(results)
    )
