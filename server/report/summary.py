"""The short answers: the report's headline paragraph and the CLI's closing lines.

Both say, before any detail, whether federating was worth it: the federated model's test AUC
against training on all data pooled without privacy, against a plain DP logistic regression
federation at the same epsilon (a private run's: the design a federation under privacy must beat),
against the median hospital training alone, and against the Bayes-optimal ceiling when the disease
was simulated.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genofed.common.reporting.formatting import NOT_MEASURED, fmt_auc, fmt_duration, fmt_int
from genofed.server.report.differences import (
    AucDifferences,
    Contrast,
    Stated,
    headline_sentence,
    stated_difference,
)
from genofed.server.report.facts import BETWEEN_LAUNCHES, over_launches
from genofed.server.report.html import REPORT_HTML
from genofed.server.report.privacy import privacy_summary_line
from genofed.server.report.reading import (
    absent_sites,
    cohort_size,
    config_value,
    dp_on,
    mapping,
    md_text,
    median,
    number,
    site_values,
)
from genofed.server.report.synthetic import synthetic_use


def format_summary(results: Mapping[str, Any], report_path: str | Path | None = None) -> str:
    """The few lines the CLI prints when a run ends: is it worth opening the report, and where is it.

    Kept to one screen line each so that it survives being pasted into a chat or a ticket.
    `report_path` (report.md), when given, is printed last with report.html beside it, so that the
    reader knows where to look.
    """
    local_median = median(site_values(results.get("local_only_auc")))
    parts = [
        f"federated {fmt_auc(results.get('test_auc'))}",
        f"pooled, no privacy {fmt_auc(results.get('pooled_auc'))}",
    ]
    if number(results.get("plain_dp_logistic_auc")) is not None:
        parts.append(f"plain DP logistic {fmt_auc(results.get('plain_dp_logistic_auc'))}")
    parts.append(f"median local-only {fmt_auc(local_median)}")
    if number(results.get("bayes_auc")) is not None:
        parts.append(f"Bayes ceiling {fmt_auc(results.get('bayes_auc'))}")
    lines = ["Test AUC: " + " | ".join(parts), privacy_summary_line(results)]
    absent = absent_sites(results)
    if absent:  # a hospital left out must not look like a complete federation
        lines.append(f"NOT every hospital took part: {len(absent)} did not, trained without their patients:")
        lines += [f"  {name}: {reason}" for name, reason in absent.items()]
    wall = number(results.get("wall_seconds"))
    per_round = number(results.get("seconds_per_round"))
    over = over_launches(results)  # a resumed run: its wall time sums its launches
    notes = [BETWEEN_LAUNCHES] if over else []
    if per_round is not None:
        notes.append(f"{fmt_duration(per_round)} per round")
    timing = f"Wall time {fmt_duration(wall)}{over}" + (f" ({'; '.join(notes)})" if notes else "")
    lines.append(timing)
    if report_path is not None:
        html_path = Path(report_path).with_name(REPORT_HTML)
        lines.append(f"Report: {report_path} (one self-contained page: {html_path})")
    return "\n".join(lines)


def _gap(value: float, reference: float, paired: Contrast | None = None) -> str:
    """'0.030 below' / '0.012 above' / 'the same as' (within rounding of the shown 3 decimals): of
    the paired contrast's own difference where the headline shows its interval (`stated_difference`),
    so that the gap and the interval's figure are one number, rounded once."""
    diff = stated_difference(paired, value, reference)
    if abs(diff) < 0.0005:
        return "the same as"
    return f"{abs(diff):.3f} {'above' if diff > 0 else 'below'}"


def redrawn_split_words(results: Mapping[str, Any]) -> str:
    """On hospitals' real exports (results.json `simulated_patients: false`), that each run draws
    its hospitals' training and validation splits anew, so that its reference models (and the
    federated model) are trained on other patients than another run's; "" on a federation genofed
    simulated, whose splits derive from --seed.

    Why: `genofed simulate --data` on real exports keys each virtual hospital's split with a random
    secret of the run (docs/simulation.md, "Real exports are not reproducible bit for bit"). A
    walkthrough's two runs that differed only in epsilon read pooled, no privacy 0.714 and 0.686,
    which a reader compares as if the epsilon had moved the reference."""
    if results.get("simulated_patients") is not False:
        return ""
    return (
        "On hospitals' real exports each run draws its hospitals' training and validation splits "
        "anew (a random secret per run, as a deployed hospital keeps one: docs/simulation.md), so these "
        "references, which train on this run's splits, move between runs even at the same settings: "
        "compare them across two reports as two draws, not as figures on the same split."
    )


def _cohort_words(results: Mapping[str, Any]) -> str:
    """'the held-out test cohort of 600 people (60 with the disease)', as far as it was recorded."""
    n, cases = cohort_size(results)
    if n is None:
        return "the held-out test cohort"
    text = f"the held-out test cohort of {fmt_int(n)} people"
    return text + (f" ({fmt_int(cases)} with the disease)" if cases is not None else "")


#: Where a run may record that its reference models were skipped on request (`genofed simulate
#: --no-references`): results.json's `references: false`, or the setting in its config.
SKIPPED_KEYS = ("no-references", "no_references")


def references_skipped(results: Mapping[str, Any]) -> bool:
    """Whether the run recorded that it skipped the reference models on request.

    "Not measured" alone reads as a failure or an oversight; a reader must know the baselines were
    left out on purpose. Only a recorded setting counts: a run without a test cohort, or one run
    with `flwr run`, has no baselines either, and saying "on request" there would be untrue.
    """
    if results.get("references") is False or config_value(results, ("references",)) is False:
        return True
    return config_value(results, SKIPPED_KEYS) is True


def _missing_baselines(results: Mapping[str, Any], missing: list[str]) -> str:
    """'The pooled ... baselines were not measured', and why when the run skipped them on request."""
    verb = "s were" if len(missing) > 1 else " was"
    why = (
        ": the run skipped the reference models on request (--no-references)"
        if references_skipped(results)
        else ""
    )
    return f"The {' and '.join(missing)} baseline{verb} {NOT_MEASURED}{why}."


def _unused_synthetic(results: Mapping[str, Any]) -> str:
    """A sentence when the run asked for synthetic records and no hospital trained with any; ''.

    The reader of the headline alone would otherwise take the model for one trained with them,
    and would not know that the generators' privacy cost bought nothing.
    """
    use = synthetic_use(results)
    if use is None or use[0] > 0 or use[1] == 0:
        return ""
    ratio = number(mapping(results.get("synthetic")).get("ratio"))
    asked = f" (--synthetic-ratio {ratio:g})" if ratio is not None else ""
    spent = ", yet each generator's epsilon was spent all the same" if dp_on(results) else ""
    return (
        f"**Synthetic records were requested{asked} but none was used**: no hospital trained with any"
        f"{spent} (see Synthetic data)."
    )


def headline(results: Mapping[str, Any], differences: AucDifferences | None = None) -> str:
    """One paragraph a clinician can read without any other section: was federating worth it?

    `differences`: federated minus the references with paired intervals (`differences.auc_differences`,
    from the run folder's predictions); without them the gaps are stated as before, with no interval."""
    fed = number(results.get("test_auc"))
    if fed is None:
        return (
            "**The federated model's test AUC was not measured**, so it cannot be compared with "
            "the alternatives below."
        )
    sentences = [f"**The federated model reached AUC {fed:.3f} on {_cohort_words(results)}.**"]
    absent = absent_sites(results)
    if absent:
        names = ", ".join(md_text(name) for name in absent)
        sentences.append(
            f"**{len(absent)} hospital{'s' if len(absent) > 1 else ''} did not take part ({names})**: "
            "the model was trained without their patients (why: Hospitals, below)."
        )
    comparisons = []
    paired = differences or AucDifferences()
    pooled = number(results.get("pooled_auc"))
    if pooled is not None:
        model = results.get("reference_model")
        how = f", a {model}" if isinstance(model, str) and model.startswith("logistic regression") else ""
        comparisons.append(
            f"{_gap(fed, pooled, paired.pooled)} training on all hospitals' data pooled in one place "
            f"without privacy ({pooled:.3f}{md_text(how)})"
        )
    plain = number(results.get("plain_dp_logistic_auc"))
    if plain is not None:
        comparisons.append(
            f"{_gap(fed, plain, paired.plain_dp)} a plain DP logistic regression federation at the same "
            f"epsilon per hospital ({plain:.3f}: each hospital's own noise, settings by a fixed rule; the "
            "design a private federation must beat)"
        )
    local_median = median(site_values(results.get("local_only_auc")))
    budget = " with the same privacy budget" if dp_on(results) else ""
    if local_median is not None:
        comparisons.append(
            f"{_gap(fed, local_median, paired.median_alone)} the median hospital training alone{budget} "
            f"({local_median:.3f})"
        )
    if comparisons:
        listed = (
            comparisons[0]
            if len(comparisons) == 1
            else ", ".join(comparisons[:-1]) + ", and " + comparisons[-1]
        )
        sentences.append(f"That is {listed}.")
        paired = headline_sentence(differences, Stated(fed, pooled, local_median, plain), budget)
        if paired:
            sentences.append(paired)
        redrawn = redrawn_split_words(results)
        if redrawn:
            sentences.append(redrawn)
    missing = [
        name
        for name, value in (("pooled (all data in one place)", pooled), ("hospitals-alone", local_median))
        if value is None
    ]
    if missing:
        sentences.append(_missing_baselines(results, missing))
    bayes = number(results.get("bayes_auc"))
    if bayes is not None:
        sentences.append(
            f"No model can exceed the Bayes-optimal ceiling of {bayes:.3f} for this "
            f"simulated disease (the AUC of its true risk model); the federated model is "
            f"{_gap(fed, bayes)} it."
        )
    sentences.append(
        "AUC is the chance that the model ranks a randomly chosen patient with the "
        "disease above one without it: 0.5 is a coin toss, 1.0 a perfect ranking."
    )
    unused = _unused_synthetic(results)
    if unused:
        sentences.append(unused)
    if not dp_on(results):
        sentences.append("**This run was NOT private** (see Privacy below).")
    return " ".join(sentences)
