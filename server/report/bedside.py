"""The clinician's section: the AUC with its interval, and what calling people high risk does at the
run's operating threshold and at the top risk decile (whose cut-off is read from the test cohort
itself): sensitivity and specificity with Wilson intervals, the likelihood ratios, PPV and NPV at
the test cohort's case share and at the disease's real prevalence (with the intervals the
likelihood ratios carry over, `rates`), then the same call by group of the test cohort
(`subgroups`). The threshold's rule is said in plain words; its recorded wording is in the
appendix (`facts.config_section`)."""

from __future__ import annotations

from genofed.common.reporting.clinical import ThresholdMetrics
from genofed.common.reporting.formatting import NOT_MEASURED, fmt_percent
from genofed.common.reporting.ratios import likelihood_ratios
from genofed.common.reporting.tables import markdown_table
from genofed.server.report.assessment import Assessment, releases_words
from genofed.server.report.rates import ppv_npv_cell, share_cell
from genofed.server.report.subgroups import subgroup_section


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


def plain_rule(rule: str) -> str:
    """The recorded threshold rule in a clinician's words; another rule is named as such, its wording
    left to the appendix. Youden's J weighs a missed case and a false alarm equally as SHARES of the
    people with and without the disease: "best balanced missed cases against false alarms", as it
    was worded, a biostatistician's review found read as best for one's patients, where at a
    prevalence of 1.5 % it raised about 100 false alarms per case it missed."""
    if "youden" in rule.lower():
        return (
            "the cut-off with the largest sensitivity + specificity (it weighs a missed case and a false "
            "alarm equally as shares of the people with and without the disease, not as counts: where the "
            "disease is rare it accepts many false alarms per case found)"
        )
    return "the cut-off the run's recorded rule chose"


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
        f"The operating threshold, risk >= **{point.threshold:.3f}**, is {plain_rule(point.rule)} on the "
        f"hospitals' own validation patients, {_histogram_source(assessment)}; the test cohort played no "
        "part in choosing it (the rule's exact wording is in the appendix)."
    )


def flagged_share_at(metrics: ThresholdMetrics, prevalence: float) -> float | None:
    """The share of a population with this prevalence that the call would flag.

    prevalence x sensitivity + (1 - prevalence) x (1 - specificity): the workload of using the call
    to prioritise people for testing, which the test cohort's flagged count (case-enriched) hides.
    """
    if metrics.sensitivity is None or metrics.specificity is None:
        return None
    return prevalence * metrics.sensitivity + (1 - prevalence) * (1 - metrics.specificity)


def likelihood_cell(metrics: ThresholdMetrics) -> str:
    """'1.85 (1.63-2.10) / 0.43 (0.34-0.53)': LR+ and LR- with their 95 % intervals."""
    positive, negative = likelihood_ratios(metrics)
    return f"{positive.cell()} / {negative.cell()}"


def _row(name: str, metrics: ThresholdMetrics | None, assessment: Assessment) -> list[str]:
    if metrics is None:  # no threshold to name: "risk >= {threshold}" would print as is
        return [name.format(threshold="its threshold")] + [NOT_MEASURED] * (7 if assessment.prevalence else 5)
    cases = metrics.true_positives + metrics.false_negatives
    controls = metrics.true_negatives + metrics.false_positives
    row = [
        name.format(threshold=f"{metrics.threshold:.3f}"),
        f"{metrics.flagged:,} of {metrics.n:,} "
        f"({metrics.true_positives:,} of the {cases:,} with the disease)",
        share_cell(metrics.true_positives, cases),
        share_cell(metrics.true_negatives, controls),
        likelihood_cell(metrics),
        f"{fmt_percent(metrics.ppv)} / {fmt_percent(metrics.npv)}",
    ]
    if assessment.prevalence is not None:
        row.append(ppv_npv_cell(metrics, assessment.prevalence.value))
        row.append(fmt_percent(flagged_share_at(metrics, assessment.prevalence.value)))
    return row


def _prevalence_words(assessment: Assessment, cohort_share: float) -> str:
    prevalence = assessment.prevalence
    if prevalence is None:
        return (
            "The disease's real prevalence is not known to this run (it is set with "
            f"{assessment.prevalence_option}; `genofed predict --prevalence P` gives the PPV at it for the "
            "threshold's call), so PPV and NPV "
            f"are at the test cohort's case share ({fmt_percent(cohort_share)}) only. PPV falls with "
            "prevalence: in a population where the disease is rarer than in the test cohort, far fewer of "
            "the people flagged have it."
        )
    return (
        f"PPV and NPV depend on how common the disease is. The test cohort has {fmt_percent(cohort_share)} "
        f"cases; the disease's real prevalence is {fmt_percent(prevalence.value)} ({prevalence.source}), and "
        "the last two columns give PPV and NPV there, from the same sensitivity and specificity (Bayes' "
        "rule; their intervals are those of LR+ and LR- carried over), and the share of such a population "
        "the call would flag: prevalence x sensitivity + (1 - prevalence) x (1 - specificity), nearly all "
        "of them false alarms when the PPV is low. They describe a population with that prevalence, for "
        "after the model has been validated locally on such patients (see the model card); the model was "
        "trained on clinic cohorts." + per_thousand_words(assessment.at_threshold, prevalence.value)
    )


def per_thousand_words(metrics: ThresholdMetrics | None, prevalence: float) -> str:
    """ " Per 1,000 people ...": the operating threshold's cases found and missed and its false alarms
    in a population of `prevalence`, and a person not flagged against the risk before the test; ""
    without a threshold. Why: shares and ratios hid the counts a clinician weighs (a biostatistician's
    review: 408 false alarms for 3.8 missed cases per 1,000 at 1.5 %), and an NPV of 99.3 % read as a
    rule-out beside the 98.5 % of people free of the disease before any test."""
    if metrics is None or metrics.sensitivity is None or metrics.specificity is None:
        return ""
    ill = 1000 * prevalence
    found, missed = ill * metrics.sensitivity, ill * (1 - metrics.sensitivity)
    alarms = (1000 - ill) * (1 - metrics.specificity)
    _, npv = metrics.ppv_npv_at(prevalence)
    after = (
        ""
        if npv is None
        else (
            f"; a person not flagged has the disease with probability {fmt_percent(1 - npv)}, against "
            f"{fmt_percent(prevalence)} before the test"
        )
    )
    return (
        f" Per 1,000 people of that prevalence the operating threshold finds {found:.1f} of the {ill:.1f} "
        f"with the disease, misses {missed:.1f}, and raises {alarms:.0f} false alarms{after}."
    )


#: What the likelihood ratios mean, under the threshold table.
LIKELIHOOD_WORDS = (
    "LR+ and LR- (likelihood ratios, sensitivity / (1 - specificity) and (1 - sensitivity) / "
    "specificity) do not depend on how common the disease is: a flagged person's odds of having it are "
    "the odds before the test times LR+, and a person not flagged has the odds before the test times LR-. "
    "An LR+ near 1 means the flag changes little; as a rough guide, a call that rules the disease in "
    "has an LR+ above 5 to 10."
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
        "Sensitivity (95 % CI)",
        "Specificity (95 % CI)",
        "LR+ / LR- (95 % CI)",
        f"PPV / NPV at the test cohort's {fmt_percent(share)} case share",
    ]
    if assessment.prevalence is not None:
        real = fmt_percent(assessment.prevalence.value)
        header += [
            f"PPV / NPV at the real prevalence {real} (95 % CI)",
            f"Share flagged at the real prevalence {real}",
        ]
    rows = [
        _row("Operating threshold (risk >= {threshold})", assessment.at_threshold, assessment),
        _row(
            "Top risk decile (risk >= {threshold}, cut-off read from the test cohort itself)",
            assessment.top_decile,
            assessment,
        ),
    ]
    return (
        f"{head}\n\n{_threshold_words(assessment)} The top risk decile flags the 10 % of people with the "
        "highest predicted risk; its cut-off is read from the test cohort's own risks (in-sample: set on "
        "the people it is evaluated on, unlike the operating threshold), so its row describes this cohort "
        "only, and in another population a different share would lie above that risk.\n\n"
        + markdown_table(header, rows)
        + "\n\nSensitivity: share of people with the disease who are flagged. Specificity: share of people "
        "without it who are not (both with Wilson's 95 % interval, on the test cohort's "
        f"{predictions.cases:,} people with and {predictions.n - predictions.cases:,} without the disease). "
        "PPV: share of the flagged who have the disease. NPV: share of the not flagged who do not. "
        + LIKELIHOOD_WORDS
        + " "
        + _prevalence_words(assessment, share)
        + _subgroups(assessment)
    )


def _subgroups(assessment: Assessment) -> str:
    """The same call by group of the test cohort: at the operating threshold, else the top decile's."""
    at = assessment.at_threshold or assessment.top_decile
    if at is None:
        return ""
    words = (
        f"risk >= {at.threshold:.3f}, the operating threshold"
        if assessment.at_threshold is not None
        else f"risk >= {at.threshold:.3f}, the top decile's cut-off"
    )
    section = subgroup_section(assessment.predictions, assessment.groupings, at.threshold, words)
    return f"\n\n{section}" if section else ""
