"""The clinician's section: the AUC with its interval, and what calling people high risk does at the
run's operating threshold and at the top risk decile, with PPV and NPV at the disease's real
prevalence as well as at the test cohort's case share."""

from __future__ import annotations

from genofed.common.reporting.clinical import ThresholdMetrics
from genofed.common.reporting.formatting import NOT_MEASURED, fmt_percent
from genofed.common.reporting.tables import markdown_table
from genofed.server.report.assessment import Assessment, releases_words


def auc_sentence(assessment: Assessment) -> str:
    """'AUC 0.741 (95 % CI 0.70-0.78, DeLong, on the 600 people of the test cohort).'"""
    auc = assessment.auc
    if auc is None:
        return "The AUC on a test cohort was not measured."
    source = (
        f"on the {assessment.predictions.n:,} people of the test cohort"
        if assessment.predictions is not None
        else "from the recorded test AUC and the cohort's size"
    )
    return (
        f"AUC **{auc.auc:.3f}** (95 % confidence interval {auc.low:.3f}-{auc.high:.3f}, {auc.method}'s "
        f"method, {source})."
    )


def _histogram_source(assessment: Assessment) -> str:
    """Where the threshold's counts came from: noisy and charged under DP, exact and free without.

    Without DP the recorded rule may still call the histogram noisy (it names the general method),
    so the sentence says plainly that this run's counts were exact.
    """
    if assessment.private:
        return (
            "read from the score histograms each hospital released with differential privacy (noisy "
            "counts, charged to its privacy budget)"
        )
    return (
        "read from the score histograms each hospital released; this run had no differential privacy, "
        "so their counts were exact (no noise added, nothing charged to a privacy budget)"
    )


def _why_no_threshold(note: str) -> str:
    """The run's reason for setting no threshold (results.json `operating_point.note`, e.g. 'no
    operating threshold: 9 cases and 36 controls among the validation patients (noisy counts),
    fewer than 10 of a class; risks and percentiles only'), without the words the sentence
    around it already says."""
    why = note.strip().rstrip(".").removeprefix("no operating threshold:").strip()
    return why.removesuffix("; risks and percentiles only").strip() or note.strip()


def _threshold_words(assessment: Assessment) -> str:
    point = assessment.operating_point
    if point is not None and point.threshold is None and point.note:
        return (
            f"This run set no operating threshold: {_why_no_threshold(point.note)}. Only the top-decile "
            "call is shown."
        )
    if point is None or point.threshold is None:
        return (
            "This run recorded no operating threshold (an older run, or no hospital evaluated the final "
            "model: `--site-evaluations 0`), so only the top-decile call is shown."
        )
    return (
        f"The operating threshold, risk >= **{point.threshold:.3f}**, was chosen by the rule "
        f"'{point.rule}' on the hospitals' validation patients, {_histogram_source(assessment)}; "
        "the test cohort played no part in choosing it."
    )


def flagged_share_at(metrics: ThresholdMetrics, prevalence: float) -> float | None:
    """The share of a population with this prevalence that the call would flag.

    prevalence x sensitivity + (1 - prevalence) x (1 - specificity): the workload of using the call
    to prioritise people for testing, which the test cohort's flagged count (case-enriched) hides.
    """
    if metrics.sensitivity is None or metrics.specificity is None:
        return None
    return prevalence * metrics.sensitivity + (1 - prevalence) * (1 - metrics.specificity)


def _row(name: str, metrics: ThresholdMetrics | None, assessment: Assessment) -> list[str]:
    if metrics is None:
        return [name] + [NOT_MEASURED] * (6 if assessment.prevalence else 4)
    cases = metrics.true_positives + metrics.false_negatives
    row = [
        f"{name} (risk >= {metrics.threshold:.3f})",
        f"{metrics.flagged:,} of {metrics.n:,} "
        f"({metrics.true_positives:,} of the {cases:,} with the disease)",
        fmt_percent(metrics.sensitivity),
        fmt_percent(metrics.specificity),
        f"{fmt_percent(metrics.ppv)} / {fmt_percent(metrics.npv)}",
    ]
    if assessment.prevalence is not None:
        ppv, npv = metrics.ppv_npv_at(assessment.prevalence.value)
        row.append(f"{fmt_percent(ppv)} / {fmt_percent(npv)}")
        row.append(fmt_percent(flagged_share_at(metrics, assessment.prevalence.value)))
    return row


def _prevalence_words(assessment: Assessment, cohort_share: float) -> str:
    prevalence = assessment.prevalence
    if prevalence is None:
        return (
            f"The disease's real prevalence is not known to this run (pass `--prevalence`), so PPV and NPV "
            f"are at the test cohort's case share ({fmt_percent(cohort_share)}) only. PPV falls with "
            "prevalence: in a population where the disease is rarer than in the test cohort, far fewer of "
            "the people flagged have it."
        )
    return (
        f"PPV and NPV depend on how common the disease is. The test cohort has {fmt_percent(cohort_share)} "
        f"cases; the disease's real prevalence is {fmt_percent(prevalence.value)} ({prevalence.source}), and "
        "the last two columns give PPV and NPV there, from the same sensitivity and specificity (Bayes' "
        "rule), and the share of such a population the call would flag: prevalence x sensitivity + "
        "(1 - prevalence) x (1 - specificity), nearly all of them false alarms when the PPV is low. Use "
        "those columns for patients from the general population."
    )


def bedside_section(assessment: Assessment) -> str:
    """AUC with its interval, then the threshold table, or why it is missing."""
    head = "## At the bedside: threshold, PPV and NPV\n\n" + auc_sentence(assessment)
    predictions = assessment.predictions
    if predictions is None:
        return head + (
            "\n\nThe final model's risks on the test cohort were not recorded (no test_predictions.csv in "
            "the run folder, or no test cohort), so sensitivity, specificity, PPV and NPV cannot be given; "
            f"the model was evaluated only by the hospitals' {releases_words(assessment)} (see Hospitals)."
        )
    share = predictions.cases / predictions.n
    header = [
        "Call high risk",
        "Flagged in the test cohort",
        "Sensitivity",
        "Specificity",
        f"PPV / NPV at the test cohort's {fmt_percent(share)}",
    ]
    if assessment.prevalence is not None:
        real = fmt_percent(assessment.prevalence.value)
        header += [f"PPV / NPV at the real prevalence {real}", f"Share flagged at the real prevalence {real}"]
    rows = [
        _row("Operating threshold", assessment.at_threshold, assessment),
        _row("Top risk decile", assessment.top_decile, assessment),
    ]
    return (
        f"{head}\n\n{_threshold_words(assessment)} The top risk decile flags the 10 % of people with the "
        "highest predicted risk, whatever their risk figure.\n\n"
        + markdown_table(header, rows)
        + "\n\nSensitivity: share of people with the disease who are flagged. Specificity: share of people "
        "without it who are not. PPV: share of the flagged who have the disease. NPV: share of the not "
        "flagged who do not. " + _prevalence_words(assessment, share)
    )
