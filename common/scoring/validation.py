"""Who a model was checked on: the record a model file keeps as `validated_on`, and how it is said.

A clinician scoring a child with a model that was only ever tested on adults must be told so; a
risk figure may be read as a probability only where its calibration was checked and held. So a
model file records, for the cohort it was tested on (`validation_record`):

- `cohort`, `source`: who they were, in words, and where they came from (None: no such cohort);
- `people`, `cases`;
- `age`: min, max, 5th and 95th percentiles and how many ages were known (None: none known or
  not given);
- `sex`: how many female, male and unknown (None: not given);
- `calibration`: the verdict on them (`calibration_record`: the Hosmer-Lemeshow check of
  `genofed.common.reporting.calibration`, the one the run report's Calibration section and verdict
  use, with the report's sentence, and the calibration slope and calibration-in-the-large with
  their 95 % intervals, `slope` and `calibration_in_the_large`, each {value, low, high}, from
  `genofed.common.reporting.recalibration`; absent where they cannot be fitted), or None with
  `calibration_note` saying why.

Which cohort that is depends on who wrote the file: a federated run records the coordinator's own
held-out test cohort (`genofed.server.results.final_model_file`; never the hospitals' training or
validation patients, whose ages no hospital releases), `genofed adapt` the hospital's own
validation patients (`genofed.common.scoring.adapt.adapt`, which says why). A federated run without
a test cohort records that there was none (`no_validation_cohort`). A file without the record (a
`genofed pretrain` model, or one written before genofed recorded it) reads as `{}`: "not recorded".

A federated run's record also keeps the run report's fitness verdict on the same cohort
(`fitness`, written by `genofed.server.results.fitness_on_test_cohort`): the Verdict section's
words (`verdict`: "NOT FIT FOR USE", "Minimum checks passed; not validated for clinical use" or
"Cannot be judged"), `passed` (False, True, or None when nothing could be checked), the failed
rules' sentences (`failed`) and `rules`. A file without it (written before genofed recorded it, a
`genofed pretrain` or `genofed adapt` model) reads as "verdict not recorded" (`fitness_words`).

Readers (`genofed predict`, `genofed inspect-model`) use `population_words`, `calibration_words`,
`fitness_words`, `unfit_words`, `age_outside`, `age_at_edge` and `sex_outside`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from genofed.common.reporting.calibration import (
    CALIBRATION_ALPHA,
    calibration_statement,
    calibration_table,
    check_calibration,
    p_words,
)
from genofed.common.reporting.recalibration import Estimate, recalibration

#: What a reader says of a model file without the record.
NOT_RECORDED = (
    "not recorded: the model file does not say who the model was validated on (a `genofed pretrain` "
    "model, or a file written before genofed recorded it)"
)
#: What a reader says of a model file without the run report's fitness verdict (`fitness_words`).
FITNESS_NOT_RECORDED = (
    "verdict not recorded: the model file does not record its run report's fitness verdict (a `genofed "
    "pretrain` or `genofed adapt` model, or a file written before genofed recorded it); for a federated "
    "run's model, read the Verdict in that run's report"
)
#: Fewer people than this: a passing Hosmer-Lemeshow check is said as "cannot tell", not as
#: reassurance (`calibration_words`). Its chi-square needs about 5 expected people per cell, and ten
#: bins of fewer than 10 people cannot give that at a clinic's case share; Hosmer and Lemeshow's own
#: guidance is that below about 100 the test has little power, so risks far off pass it (an adapted
#: model's 32 validation patients passed it at p = 0.41 with a calibration slope of 0.047: a new-user
#: walkthrough). The same 100 under which an adapted model's percentiles are withheld
#: (`operating.sampling_percentile_sd`). A failing check is said as it is: it found a real gap.
MIN_CALIBRATION_PEOPLE = 100
#: Sex codes of the phenotype reader (`genofed.common.data.readers.phenotypes`): 0 male, 1 female.
SEX_NAMES = {0: "male", 1: "female"}


def covariate_values(frame: pd.DataFrame, name: str) -> np.ndarray:
    """Covariate `name` of `frame` as float per row (NaN: unknown), its column matched
    case-insensitively as the feature encoding does (`genofed.common.data.features.encode`); all
    NaN when `frame` has no such column."""
    lowered = {str(c).lower(): c for c in frame.columns}
    column = lowered.get(name.lower())
    if column is None:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)


def age_summary(ages: np.ndarray) -> dict[str, Any] | None:
    """min, max, the 5th and 95th percentiles (linear interpolation) of the known ages, and how
    many were known; None when none is."""
    known = np.asarray(ages, dtype=np.float64)
    known = known[np.isfinite(known)]
    if not known.size:
        return None
    p5, p95 = np.percentile(known, [5, 95])
    return {
        "min": round(float(known.min()), 2),
        "max": round(float(known.max()), 2),
        "p5": round(float(p5), 1),
        "p95": round(float(p95), 1),
        "known": int(known.size),
    }


def sex_mix(sexes: np.ndarray) -> dict[str, int]:
    """How many are female (1), male (0) and unknown (anything else, NaN included)."""
    values = np.asarray(sexes, dtype=np.float64)
    female, male = int(np.sum(values == 1)), int(np.sum(values == 0))
    return {"female": female, "male": male, "unknown": int(values.size) - female - male}


def calibration_record(
    labels: np.ndarray, risks: np.ndarray, *, cohort: str, possessive: str | None = None
) -> dict[str, Any] | None:
    """The calibration verdict on (`labels`, `risks`), computed as the run report computes it
    (`calibration_table`, then `check_calibration`), with its sentence (`calibration_statement`,
    naming `cohort`); None for nobody."""
    table = calibration_table(np.asarray(labels), np.asarray(risks))
    check = check_calibration(table)
    if check is None:
        return None
    return {
        "calibrated": bool(check.calibrated),
        "verdict": "consistent with calibration" if check.calibrated else "not calibrated",
        "statement": calibration_statement(check, cohort, possessive),
        "test": (
            f"Hosmer-Lemeshow over {len(table)} equal-size bins of predicted risk; not calibrated at "
            f"p < {CALIBRATION_ALPHA:g} (as the run report's Calibration section)"
        ),
        "p_value": float(check.p_value),
        "hosmer_lemeshow": float(check.hosmer_lemeshow),
        "bins": len(table),
        "mean_risk": float(check.mean_risk),
        "case_share": float(check.case_share),
        "largest_gap": float(check.largest_gap),
        "mean_gap": float(check.mean_gap),
        **_recalibration_record(labels, risks),
    }


def _recalibration_record(labels: np.ndarray, risks: np.ndarray) -> dict[str, Any]:
    """The calibration slope and calibration-in-the-large with their 95 % intervals
    (`genofed.common.reporting.recalibration`, as the run report's Calibration section gives them);
    {} where they cannot be fitted, so a reader finds no figure rather than a wrong one."""
    fit = recalibration(np.asarray(labels), np.asarray(risks))
    if fit is None:
        return {}
    return {
        "slope": _estimate_record(fit.slope),
        "calibration_in_the_large": _estimate_record(fit.intercept),
    }


def _estimate_record(estimate: Estimate) -> dict[str, float]:
    """{"value", "low", "high"}: a fitted figure and its 95 % interval."""
    return {"value": estimate.value, "low": estimate.low, "high": estimate.high}


def validation_record(
    *,
    cohort: str,
    source: str,
    labels: np.ndarray,
    risks: np.ndarray,
    ages: np.ndarray | None,
    sexes: np.ndarray | None,
    said_as: str | None = None,
    possessive: str | None = None,
    min_for_calibration: int = 1,
) -> dict[str, Any]:
    """The `validated_on` record of a model tested on one cohort (see the module docstring).

    Args:
        cohort: who they are, in words ("the coordinator's test cohort").
        source: where they came from and why recording them is allowed.
        labels, risks: their 0/1 labels and the model's risks, in the same order.
        ages, sexes: their ages (years) and sexes (0 male, 1 female), NaN where unknown; None when
            not known at all (the record then has `age` / `sex` None).
        said_as, possessive: how the calibration sentence names them and their possessive (default:
            `cohort`, and it + "'s"); a federated run's says "the test cohort", as its report does.
        min_for_calibration: fewer people than this get no calibration verdict (a note instead).
    """
    labels = np.asarray(labels)
    people = int(labels.size)
    record: dict[str, Any] = {
        "cohort": cohort,
        "source": source,
        "people": people,
        "cases": int(np.sum(labels == 1)),
        "age": None if ages is None else age_summary(ages),
        "sex": None if sexes is None else sex_mix(sexes),
        "calibration": None,
    }
    if people >= max(1, min_for_calibration):
        record["calibration"] = calibration_record(
            labels, risks, cohort=said_as or cohort, possessive=possessive
        )
    else:
        record["calibration_note"] = (
            f"{cohort} are {people} people, fewer than the {min_for_calibration} a calibration check "
            "takes here"
        )
    return record


def no_validation_cohort(note: str) -> dict[str, Any]:
    """The record of a model tested on no cohort of its own: `cohort` None, and `note` why."""
    return {"cohort": None, "note": note}


def validated_age_range(record: Mapping[str, Any]) -> tuple[float, float] | None:
    """(min, max) of the ages the model was validated on; None when the record has none."""
    age = record.get("age") if record else None
    if not isinstance(age, Mapping) or not _number(age.get("min")) or not _number(age.get("max")):
        return None
    return float(age["min"]), float(age["max"])


def population_words(record: Mapping[str, Any]) -> str:
    """Who the model was validated on, in one line: "the coordinator's test cohort: 600 people
    (240 with the disease), ages 18-79 (5th-95th percentile 22-76), 310 female, 290 male"; or
    that it was tested on no cohort of its own, or `NOT_RECORDED`."""
    if not record:
        return NOT_RECORDED
    if record.get("cohort") is None:
        return f"none: {record.get('note') or 'the model was tested on no cohort of its own'}"
    parts = [f"{record['cohort']}: {record.get('people')} people ({record.get('cases')} with the disease)"]
    age = record.get("age")
    if isinstance(age, Mapping):
        known = age.get("known")
        of = f", ages of {known} known" if isinstance(known, int) and known != record.get("people") else ""
        parts.append(
            f"ages {age['min']:g}-{age['max']:g} (5th-95th percentile {age['p5']:.0f}-{age['p95']:.0f}{of})"
        )
    else:
        parts.append("no ages known")
    sex = record.get("sex")
    if isinstance(sex, Mapping):
        mix = f"{sex.get('female', 0)} female, {sex.get('male', 0)} male"
        parts.append(mix + (f", {sex['unknown']} sex unknown" if sex.get("unknown") else ""))
    else:
        parts.append("sexes not recorded")
    return ", ".join(parts)


def calibration_words(record: Mapping[str, Any]) -> str:
    """The calibration verdict recorded, in one line: the report's sentence ("the risk figures are
    not calibrated on the test cohort (...)"), why there is none, or `NOT_RECORDED`."""
    if not record:
        return NOT_RECORDED
    if record.get("cohort") is None:
        return "judged nowhere: the model was tested on no cohort of its own"
    calibration = record.get("calibration")
    if isinstance(calibration, Mapping) and calibration.get("statement"):
        people = record.get("people")
        if calibration.get("calibrated") is True and _number(people) and people < MIN_CALIBRATION_PEOPLE:
            return _powerless_pass_words(calibration, int(people))
        return str(calibration["statement"])
    note = record.get("calibration_note")
    return f"not judged: {note}" if note else "not judged"


def _powerless_pass_words(calibration: Mapping[str, Any], people: int) -> str:
    """A passing calibration check on fewer than `MIN_CALIBRATION_PEOPLE` people, in words: it cannot
    tell, with the calibration slope when recorded (1 when calibrated), and not to read a risk as a
    probability."""
    p = calibration.get("p_value")
    found = f" ({p_words(float(p))})" if _number(p) else ""
    slope = calibration.get("slope")
    value = slope.get("value") if isinstance(slope, Mapping) else None
    low, high = (slope.get("low"), slope.get("high")) if isinstance(slope, Mapping) else (None, None)
    interval = f", 95 % interval {low:.2g} to {high:.2g}" if _number(low) and _number(high) else ""
    shown = f" (calibration slope {value:.2g}{interval}; 1 when calibrated)" if _number(value) else ""
    return (
        f"cannot tell on {people} people: the Hosmer-Lemeshow test found no miscalibration{found}, but "
        f"on fewer than {MIN_CALIBRATION_PEOPLE} it misses even risks far off{shown}; do not read a risk "
        "figure as a probability"
    )


def age_outside(age: float, record: Mapping[str, Any]) -> str | None:
    """The notes-column entry for an age outside the validated range ("age 7: below the ages the
    model was validated on, 18-79"); None inside it, for an unknown age, or without a range."""
    span = validated_age_range(record)
    if span is None or not np.isfinite(age):
        return None
    low, high = span
    if low <= age <= high:
        return None
    side = "below" if age < low else "above"
    return f"age {age:g}: {side} the ages the model was validated on, {low:g}-{high:g}"


def age_at_edge(age: float, record: Mapping[str, Any]) -> str | None:
    """The notes-column entry for an age inside the validated range but outside its 5th-95th
    percentiles ("age 7: younger than 95% of the people the model was validated on (5th percentile
    11)"): few such people were checked, so the validation says little about them (an audit scored
    a 7-year-old with a model whose test cohort was 2-85 years old but mostly adults, unmarked).
    None otherwise, for an unknown age, outside the range (`age_outside` says that) or without the
    percentiles."""
    span = validated_age_range(record)
    age_record = record.get("age") if record else None
    if span is None or not np.isfinite(age) or not isinstance(age_record, Mapping):
        return None
    p5, p95 = age_record.get("p5"), age_record.get("p95")
    if not (_number(p5) and _number(p95)) or not span[0] <= age <= span[1]:
        return None
    checked = "of the people the model was validated on"
    if age < p5:
        return f"age {age:g}: younger than 95% {checked} (5th percentile {p5:.0f})"
    if age > p95:
        return f"age {age:g}: older than 95% {checked} (95th percentile {p95:.0f})"
    return None


def sex_outside(sex: float, record: Mapping[str, Any]) -> str | None:
    """The notes-column entry for a person of a sex nobody of the validation cohort had ("sex male:
    the model was validated on no male people"); None otherwise or without a record of sexes."""
    mix = record.get("sex") if record else None
    if not isinstance(mix, Mapping) or not np.isfinite(sex) or int(sex) not in SEX_NAMES:
        return None
    name = SEX_NAMES[int(sex)]
    if int(mix.get(name, 0)) or not (int(mix.get("female", 0)) + int(mix.get("male", 0))):
        return None
    return f"sex {name}: the model was validated on no {name} people"


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and bool(np.isfinite(value))


def fitness_of(record: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The run report's fitness verdict a `validated_on` record keeps (`fitness`), or None when it
    keeps none (every file written before genofed recorded it)."""
    fitness = record.get("fitness") if record else None
    if not isinstance(fitness, Mapping) or not isinstance(fitness.get("verdict"), str):
        return None
    return fitness


def fitness_words(record: Mapping[str, Any]) -> str:
    """The recorded fitness verdict in one line, in the report's words: "NOT FIT FOR USE: fails 1
    of the run report's minimum checks on its held-out test cohort (...): its operating threshold
    (...) flags everyone of the test cohort"; "Minimum checks passed; not validated for clinical use
    (...)"; "Cannot be judged: ..."; or `FITNESS_NOT_RECORDED` (with, for an adapted model, the
    verdict on the shared model it came from, which describes another model)."""
    fitness = fitness_of(record)
    if fitness is None:
        shared = fitness_of(record.get("shared_model") or {}) if record else None
        if shared is None:
            return FITNESS_NOT_RECORDED
        return (
            f"{FITNESS_NOT_RECORDED}; the shared model it came from was judged by its run's report: "
            f"{shared['verdict']}"
        )
    rules = str(fitness.get("rules") or "the run report's minimum checks")
    failed = [str(text) for text in fitness.get("failed") or []]
    if failed:
        return f"{fitness['verdict']}: fails {len(failed)} of {rules}: " + "; ".join(failed)
    if fitness.get("passed") is None:
        return f"{fitness['verdict']}: {fitness.get('note') or 'no rule could be checked'}"
    return f"{fitness['verdict']} ({rules})"


def unfit_words(record: Mapping[str, Any]) -> str | None:
    """The verdict's words when the run's report says the model must not be used on patients: NOT
    FIT FOR USE (a failed rule), or "Cannot be judged" (no test cohort: the report says not to use
    it before it has been tested on a cohort of its own); None when the minimum checks passed or no
    verdict is recorded. An adapted model has no verdict of its own (no test cohort judged it):
    it carries the shared model's when that one must not be used on patients (`shared_unfit`), since a
    refit on a few dozen of a hospital's patients does not make an unfit model fit."""
    fitness = fitness_of(record)
    if fitness is None:
        return shared_unfit(record)
    if fitness.get("passed") is True:
        return None
    return str(fitness["verdict"])


def shared_unfit(record: Mapping[str, Any]) -> str | None:
    """For an adapted model's record: the shared model's verdict, said as the shared model's, when its
    run's report judged it NOT FIT FOR USE or could not judge it; None otherwise (or for a record
    without a shared model's)."""
    shared = fitness_of((record or {}).get("shared_model") or {})
    if shared is None or shared.get("passed") is True:
        return None
    return f"{shared['verdict']} (the shared model it was adapted from)"
