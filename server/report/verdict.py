"""The plain verdict: is the final model fit to inform a clinical decision, and if not, why not.

A model is called NOT FIT FOR USE when any of these rules fails on the test cohort:

1. its AUC's 95 % interval reaches 0.5 (the data cannot tell it from a coin toss);
2. its Brier score is worse than giving everyone the cohort's prevalence (p (1 - p)): its risks
   mislead more than the base rate alone;
3. its operating threshold flags no one, or everyone, of the test cohort (passing says only that it
   flags some people but not all, not that it separates the sick from the healthy).

When no rule can be checked (no test cohort) the verdict says the model cannot be judged. Passing
every rule is not a clinical validation, and the verdict says that too.
"""

from __future__ import annotations

from genofed.server.report.assessment import Assessment, releases_words

NOT_FIT = "NOT FIT FOR USE"


def failed_rules(assessment: Assessment) -> list[str]:
    """One sentence per failed rule; [] when every rule that could be checked passed."""
    failures = []
    auc = assessment.auc
    if auc is not None and auc.includes_chance:
        failures.append(
            f"its AUC of {auc.auc:.3f} has a 95 % interval of {auc.low:.3f}-{auc.high:.3f} ({auc.method}), "
            "which includes 0.5: the test cohort cannot tell it from a coin toss"
        )
    brier, reference = assessment.brier, assessment.brier_reference
    if brier is not None and reference is not None and brier > reference:
        failures.append(
            f"its Brier score of {brier:.3f} is worse than the {reference:.3f} of giving everyone the test "
            "cohort's prevalence: its risk figures mislead more than the base rate alone, so they must not "
            "be read as probabilities"
        )
    at = assessment.at_threshold
    if at is not None and at.flagged == 0:
        failures.append(
            f"its operating threshold (risk >= {at.threshold:.3f}) flags no one of the test cohort"
        )
    elif at is not None and at.flagged == at.n:
        failures.append(
            f"its operating threshold (risk >= {at.threshold:.3f}) flags everyone of the test cohort"
        )
    return failures


def verdict_section(assessment: Assessment) -> str:
    """The verdict in bold, then the failed rules (or what passing them does not mean)."""
    checkable = assessment.auc is not None or assessment.brier is not None
    if not checkable:
        return (
            "## Verdict\n\n**Cannot be judged:** no test cohort scored by the final model was available, so "
            f"the model was evaluated only by the hospitals' {releases_words(assessment)} on their "
            "validation patients (see Hospitals). Do not use it on patients before it has been tested on "
            "a cohort of its own."
        )
    failures = failed_rules(assessment)
    if failures:
        reasons = "".join(f"\n- {text}." for text in failures)
        return (
            f"## Verdict\n\n**{NOT_FIT}.** On the held-out test cohort, the final model fails "
            f"{len(failures)} of the report's fitness rules (docs/report.md):{reasons}"
        )
    return (
        "## Verdict\n\n**No fitness rule failed** on the held-out test cohort: "
        + _passed_words(assessment)
        + ". This is not a clinical validation: the model is a research result until it has been tested "
        "prospectively on the population it is meant for (see the model card)."
    )


def _passed_words(assessment: Assessment) -> str:
    """The rules that were checked and passed, each saying only what it checks.

    Rule 3 checks only that the threshold flags some people but not all, not that it separates the
    sick from the healthy; a threshold that could not be checked is said to be so.
    """
    words = []
    if assessment.auc is not None:
        words.append("the AUC's 95 % interval is above 0.5")
    if assessment.brier is not None and assessment.brier_reference is not None:
        words.append("the Brier score beats giving everyone the prevalence")
    point = assessment.operating_point
    if assessment.at_threshold is not None:
        words.append("the operating threshold flags some people but not all")
    elif point is None or point.threshold is None:
        words.append("there was no operating threshold to check")
    else:
        words.append("the operating threshold could not be checked (no test predictions)")
    return ", ".join(words[:-1]) + (" and " if len(words) > 1 else "") + words[-1]
