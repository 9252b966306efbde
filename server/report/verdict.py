"""The plain verdict: does the final model pass the report's minimum checks, and what else a
clinician must know before using it.

A model is called NOT FIT FOR USE when any of these rules fails on the test cohort:

1. its AUC's 95 % interval reaches 0.5 (the data cannot tell it from a coin toss);
2. its Brier score is worse than giving everyone the test cohort's case share p (p (1 - p)): its
   risks mislead more than the base rate alone, even in the cohort they are measured on;
3. its operating threshold flags no one, or everyone, of the test cohort (passing says only that it
   flags some people but not all, not that it separates the sick from the healthy).

Passing all three is called "Minimum checks passed; not validated for clinical use" (`PASSED`),
never a pass: the rules show only that the model ranks better than chance. Beside the rules the
verdict states, without failing the model on them (docs/report.md, "The verdict rules", says why):

- calibration: whether the risk figures may be read as probabilities (the Calibration section's
  Hosmer-Lemeshow test);
- when the disease's real prevalence is known, the Brier score with the test cohort's cases and
  controls reweighted to it, against giving everyone that prevalence;
- what the operating threshold's call is worth: LR+ and, at the real prevalence, the share of
  people it would flag and the PPV;
- the groups of the test cohort the model may serve less well (`subgroups`).

When no rule can be checked (no test cohort) the verdict says the model cannot be judged.

The run's model file records the same verdict (`fitness_record`, as `validated_on.fitness`), so
that `genofed predict`, far from the report, can warn whoever scores patients with a model the
report judged not fit for use.
"""

from __future__ import annotations

from typing import Any

from genofed.common.reporting.calibration import calibration_statement, check_calibration
from genofed.common.reporting.formatting import fmt_percent
from genofed.common.reporting.ratios import likelihood_ratios
from genofed.server.report.assessment import Assessment, releases_words
from genofed.server.report.bedside import flagged_share_at
from genofed.server.report.drivers import covariate_words, rests_on_covariates
from genofed.server.report.subgroups import concerning_groups

NOT_FIT = "NOT FIT FOR USE"
#: The verdict when every rule that could be checked passed: minimum checks, not a validation.
PASSED = "Minimum checks passed; not validated for clinical use"
#: The verdict when no rule can be checked (no test cohort scored by the final model).
CANNOT_JUDGE = "Cannot be judged"
#: Why a verdict is `CANNOT_JUDGE`, as the Verdict section says it.
NOTHING_TO_JUDGE_ON = "no test cohort scored by the final model was available"
#: What the recorded verdict rests on (`fitness_record`).
FITNESS_RULES = (
    "the run report's minimum checks on its held-out test cohort (docs/report.md, 'The verdict rules')"
)


def _case_share(assessment: Assessment) -> str:
    """'40.0%': the test cohort's case share, from the predictions or the Brier reference p (1 - p)."""
    if assessment.predictions is not None and assessment.predictions.n:
        return fmt_percent(assessment.predictions.cases / assessment.predictions.n)
    return "recorded"


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
            f"cohort's {_case_share(assessment)} case share as their risk: its risk figures mislead more "
            "than the base rate alone, so they must not be read as probabilities"
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


def stated_items(assessment: Assessment) -> list[str]:
    """What the verdict states beside its rules: calibration, the Brier score at the real
    prevalence, and what the operating threshold's call is worth there; [] when none was measured."""
    items = []
    check = check_calibration(assessment.calibration)
    if check is not None:  # the sentence the model file records too (genofed.common.scoring.validation)
        items.append(f"**Calibration:** {calibration_statement(check)} (see Calibration)")
    prevalence = assessment.prevalence
    real, reference = assessment.brier_at_prevalence, assessment.brier_reference_at_prevalence
    if prevalence is not None and real is not None and reference is not None:
        worse = real > reference
        items.append(
            f"**At the real prevalence of {fmt_percent(prevalence.value)}** (the test cohort's cases and "
            f"controls reweighted to it), the Brier score is {real:.3f} against {reference:.3f} for giving "
            f"everyone {fmt_percent(prevalence.value)}: "
            + (
                "for such a population the risk figures mislead more than the base rate alone"
                if worse
                else "better than the base rate alone there"
            )
        )
    at = assessment.at_threshold
    if at is not None and at.sensitivity is not None and at.specificity is not None:
        positive, negative = likelihood_ratios(at)
        usefulness = (
            f"**The operating threshold's call** (risk >= {at.threshold:.3f}) has LR+ {positive.cell()} and "
            f"LR- {negative.cell()}"
        )
        said = []
        if at.flagged == 0:
            said.append(f"it flags no one of the {at.n:,} people of the test cohort, so it finds no case")
        elif positive.against_one() == "below":
            said.append(
                "its LR+ interval lies below 1: on this test cohort a flagged person is LESS likely to have "
                "the disease than one not flagged, so the call works backwards"
            )
        elif positive.against_one() == "reaches":
            said.append(
                "its LR+ interval reaches 1, so on this test cohort the flag is not shown to raise anyone's "
                "chance of having the disease"
            )
        if prevalence is not None and at.flagged > 0:
            ppv, _ = at.ppv_npv_at(prevalence.value)
            share = flagged_share_at(at, prevalence.value)
            said.append(
                f"at the real prevalence it would flag {fmt_percent(share)} of people, of whom "
                f"{fmt_percent(ppv)} have the disease, against {fmt_percent(prevalence.value)} before the "
                "test"
            )
        if said:
            usefulness += ": " + "; ".join(said)
        items.append(usefulness + " (see At the bedside)")
    parts = assessment.score_parts
    if rests_on_covariates(parts):
        covariates = covariate_words(parts)
        items.append(
            f"**What the score rests on:** on the test cohort {covariates} alone rank people with AUC "
            f"{parts['covariates_only_auc']:.3f}, the genotypes alone with "
            f"{parts['genotypes_only_auc']:.3f}: "
            f"much of what the risk says is the person's {covariates}, not their genotypes (see Which "
            "variants drive the model)"
        )
    cutoff = at or assessment.top_decile
    groups = (
        concerning_groups(assessment.predictions, assessment.groupings, cutoff.threshold)
        if cutoff is not None
        else []
    )
    if groups:
        items.append(
            "**Groups it may serve less well:** "
            + ", ".join(groups)
            + " (see 'By group of the test cohort' under At the bedside)"
        )
    return items


def _stated(assessment: Assessment) -> str:
    items = stated_items(assessment)
    if not items:
        return ""
    return "\n\nStated beside the rules, which do not check them (docs/report.md):" + "".join(
        f"\n- {text}." for text in items
    )


def _checkable(assessment: Assessment) -> bool:
    """Whether any rule can be checked: the test cohort gave an AUC or a Brier score."""
    return assessment.auc is not None or assessment.brier is not None


def fitness_record(assessment: Assessment) -> dict[str, Any]:
    """The verdict as the run's model file records it (`validated_on.fitness`, read by
    `genofed.common.scoring.validation.fitness_words`): the Verdict section's own bold words
    (`verdict`), whether the minimum checks passed (`passed`: None when none could be checked), the
    failed rules' sentences word for word (`failed`) and what they are (`rules`). Built from the same
    assessment as the section, so the file and the report cannot disagree."""
    if not _checkable(assessment):
        return {
            "verdict": CANNOT_JUDGE,
            "passed": None,
            "failed": [],
            "rules": FITNESS_RULES,
            "note": NOTHING_TO_JUDGE_ON,
        }
    failures = failed_rules(assessment)
    return {
        "verdict": NOT_FIT if failures else PASSED,
        "passed": not failures,
        "failed": failures,
        "rules": FITNESS_RULES,
    }


def verdict_section(assessment: Assessment) -> str:
    """The verdict in bold, then the failed rules (or what passing them does not mean), then the
    stated items."""
    if not _checkable(assessment):
        return (
            f"## Verdict\n\n**{CANNOT_JUDGE}:** {NOTHING_TO_JUDGE_ON}, so "
            f"the model was evaluated only by the hospitals' {releases_words(assessment)} on their "
            "validation patients (see Hospitals). Do not use it on patients before it has been tested on "
            "a cohort of its own."
        )
    failures = failed_rules(assessment)
    if failures:
        reasons = "".join(f"\n- {text}." for text in failures)
        return (
            f"## Verdict\n\n**{NOT_FIT}.** On the held-out test cohort, the final model fails "
            f"{len(failures)} of the report's fitness rules (docs/report.md):{reasons}" + _stated(assessment)
        )
    return (
        f"## Verdict\n\n**{PASSED}.** On the held-out test cohort the final model passes the report's "
        "minimum checks (docs/report.md): "
        + _passed_words(assessment)
        + ". They show only that it ranks people better than chance. This is not a clinical validation: "
        "the model is a research result until it has been tested prospectively on the population it is "
        "meant for (see the model card)." + _stated(assessment)
    )


def _passed_words(assessment: Assessment) -> str:
    """The rules that were checked and passed, each saying only what it checks.

    Rule 2 names the case share it is checked at (the test cohort's, not the real prevalence); rule
    3 checks only that the threshold flags some people but not all, not that it separates the sick
    from the healthy; a threshold that could not be checked is said to be so.
    """
    words = []
    if assessment.auc is not None:
        words.append("the AUC's 95 % interval is above 0.5")
    if assessment.brier is not None and assessment.brier_reference is not None:
        words.append(
            f"the Brier score beats giving everyone the test cohort's {_case_share(assessment)} case share "
            "as their risk"
        )
    point = assessment.operating_point
    if assessment.at_threshold is not None:
        words.append("the operating threshold flags some people but not all")
    elif point is None or point.threshold is None:
        words.append("there was no operating threshold to check")
    else:
        words.append("the operating threshold could not be checked (no test predictions)")
    return ", ".join(words[:-1]) + (" and " if len(words) > 1 else "") + words[-1]
