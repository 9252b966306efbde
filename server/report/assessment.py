"""The clinical numbers of the final model, computed once for every section that shows them.

From RUN/test_predictions.csv (the final model's risk for each person of the test cohort) and the
run's operating point (results.json `operating_point`, chosen on the hospitals' released
validation counts, DP-noised when the run had DP): the counts and rates at that threshold and at
the top risk decile, the AUC with DeLong's 95 % interval, the Brier score against the no-skill
reference (at the test cohort's case share, and, when the disease's real prevalence is known, with
cases and controls reweighted to it), the calibration table, the calibration slope and
calibration-in-the-large (`recalibration`), and the groups of the test cohort
(`subgroups`). Without predictions, the AUC interval falls back to
Hanley-McNeil from the recorded test AUC and cohort size, and everything else is "not measured".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from genofed.common.reporting.auc import AucInterval, delong_interval, hanley_mcneil_se, normal_interval
from genofed.common.reporting.calibration import CalibrationBin, calibration_table
from genofed.common.reporting.clinical import (
    ThresholdMetrics,
    brier_score,
    no_skill_brier,
    threshold_metrics,
    top_fraction_threshold,
)
from genofed.common.reporting.ratios import Prevalence
from genofed.common.reporting.recalibration import Recalibration, recalibration
from genofed.server.report.rates import reweighted_brier
from genofed.server.report.reading import cohort_size, dp_on, mapping, number, prevalence_option
from genofed.server.report.run_files import Predictions
from genofed.server.report.subgroups import Grouping


@dataclass(frozen=True)
class OperatingPoint:
    """The threshold the run chose (None: none chosen), the rule it was chosen by, and the run's
    note on it (results.json `operating_point.note`: with no threshold, why; None in older runs)."""

    threshold: float | None
    rule: str
    note: str | None = None


@dataclass(frozen=True)
class Assessment:
    """Every clinical number of the final model; None / [] where it could not be measured."""

    predictions: Predictions | None
    operating_point: OperatingPoint | None
    prevalence: Prevalence | None
    at_threshold: ThresholdMetrics | None = None
    top_decile: ThresholdMetrics | None = None
    auc: AucInterval | None = None
    brier: float | None = None
    brier_reference: float | None = None
    #: the Brier score and its no-skill reference at the real prevalence (cases and controls
    #: reweighted to it); None without a known prevalence or without predictions
    brier_at_prevalence: float | None = None
    brier_reference_at_prevalence: float | None = None
    calibration: list[CalibrationBin] = field(default_factory=list)
    #: the calibration slope and calibration-in-the-large on the test cohort (`recalibration`);
    #: None without predictions or where they cannot be fitted
    recalibration: Recalibration | None = None
    #: the test cohort's people grouped by sex, age band and population (`subgroups`); () when unknown
    groupings: tuple[Grouping, ...] = ()
    #: whether the hospitals' validation releases carried DP noise (charged to their budgets) or,
    #: in a run without DP, exact counts: every sentence about them must say which
    private: bool = True
    #: results.json `score_parts`: the test cohort's AUC with the genotypes alone and with sex and
    #: age alone (`TestCohort.score_parts`); None in runs without a test cohort or older runs
    score_parts: Mapping[str, Any] | None = None
    #: where this run's prevalence is given (`reading.prevalence_option`), for the report to name
    #: when it is not known
    prevalence_option: str = "`genofed simulate --prevalence P`"


def ppv_advice(assessment: Assessment) -> str:
    """What to read a call by, beside the ranking, for a reader who must not read a risk figure as a
    probability: the PPV at the real prevalence where the report gives one; else the LR+, saying the
    PPV there is not in the report and how to get it. Why: a deployed report's Limitations said "use
    the PPV at the real prevalence", which the report, without a prevalence, did not give."""
    if assessment.prevalence is not None:
        return "the PPV at the real prevalence"
    return (
        "the LR+ (this report has no PPV at the real prevalence, which was not given to the run: "
        "`genofed predict --prevalence P` gives it for the threshold's call)"
    )


def releases_words(assessment: Assessment) -> str:
    """The hospitals' validation releases as this run made them: with DP noise, or exact counts."""
    if assessment.private:
        return "differentially private releases"
    return "releases (exact counts: this run had no differential privacy)"


def operating_point(results: Mapping[str, Any]) -> OperatingPoint | None:
    """results.json `operating_point` ({"threshold": float|None, "rule": str, "note": str});
    None in older runs."""
    record = mapping(results.get("operating_point"))
    if not record:
        return None
    note = record.get("note")
    return OperatingPoint(
        number(record.get("threshold")),
        str(record.get("rule") or "not recorded"),
        note.strip() if isinstance(note, str) and note.strip() else None,
    )


def assess(
    results: Mapping[str, Any],
    predictions: Predictions | None,
    prevalence: Prevalence | None,
    groupings: tuple[Grouping, ...] = (),
) -> Assessment:
    """The final model's clinical numbers from its test-cohort predictions (or, without them,
    what results.json alone supports); `groupings`: the test cohort's groups, in the predictions'
    order (`subgroups.read_groupings`)."""
    point = operating_point(results)
    if predictions is None:
        return Assessment(
            None,
            point,
            prevalence,
            auc=_recorded_auc_interval(results),
            private=dp_on(results),
            score_parts=_score_parts(results),
            prevalence_option=prevalence_option(results),
            **_recorded_brier(results),
        )
    labels, risks = predictions.labels, predictions.risks
    at_threshold = (
        threshold_metrics(labels, risks, point.threshold)
        if point is not None and point.threshold is not None
        else None
    )
    decile = top_fraction_threshold(risks)
    real = prevalence.value if prevalence is not None else None
    return Assessment(
        predictions,
        point,
        prevalence,
        at_threshold=at_threshold,
        top_decile=threshold_metrics(labels, risks, decile) if decile is not None else None,
        auc=delong_interval(labels, risks),
        brier=brier_score(labels, risks),
        brier_reference=no_skill_brier(predictions.cases / predictions.n),
        brier_at_prevalence=reweighted_brier(labels, risks, real) if real is not None else None,
        brier_reference_at_prevalence=no_skill_brier(real) if real is not None else None,
        calibration=calibration_table(labels, risks),
        recalibration=recalibration(labels, risks),
        groupings=groupings,
        private=dp_on(results),
        score_parts=_score_parts(results),
        prevalence_option=prevalence_option(results),
    )


def _score_parts(results: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """results.json `score_parts` when it holds the three AUCs as numbers (the lower bound a number
    or absent) and its covariates as a list of names, else None: a damaged record is not measured,
    never a crash of the report."""
    parts = mapping(results.get("score_parts"))
    keys = ("auc", "genotypes_only_auc", "covariates_only_auc")
    if not parts or any(number(parts.get(key)) is None for key in keys):
        return None
    low = parts.get("covariates_only_low")
    covariates = parts.get("covariates")
    if (low is not None and number(low) is None) or not (
        isinstance(covariates, list) and covariates and all(isinstance(c, str) for c in covariates)
    ):
        return None
    return parts


def _recorded_auc_interval(results: Mapping[str, Any]) -> AucInterval | None:
    """Hanley-McNeil's interval around the recorded test AUC, from the cohort's size alone."""
    auc = number(results.get("test_auc"))
    n, cases = cohort_size(results)
    if auc is None or n is None or cases is None:
        return None
    se = hanley_mcneil_se(auc, cases, n - cases)
    return normal_interval(auc, se, "Hanley-McNeil") if se is not None else None


def _recorded_brier(results: Mapping[str, Any]) -> dict[str, float | None]:
    """The recorded test Brier score and its no-skill reference (from the cohort's case share)."""
    brier = number(mapping(results.get("test_metrics")).get("brier"))
    n, cases = cohort_size(results)
    reference = no_skill_brier(cases / n) if n and cases is not None else None
    return {"brier": brier, "brier_reference": reference if brier is not None else None}
