"""Risk scores of new people from a model file: what `genofed predict` computes, offline.

The people are read as `genofed.common.scoring.people` reads them (`model_people`: the genotypes
aligned to the model's own panel, a file covering too little of it refused; then encoded with the
constants the model file records, `SCORE_ROWS` people at a time), as a hospital's training data is.
Nothing here opens a network connection: a hospital can score its own new patients on a machine
with no network at all.

Per person: the risk (the model's score, rounded: not a calibrated probability unless the run's
report says so, `risk_note`), its percentile in the training population (the model file's risk
distribution, when it has one; a whole number clipped to 1-99), the high/low call at the model's
operating threshold or at one the user gives (`--threshold`), the share of panel variants the person
has a call for (their call rate), how many panel variants were imputed, and per-person notes. A
person whose call rate is under the minimum (`min_call_rate`, `DEFAULT_MIN_CALL_RATE` unless given:
never the file's `min_coverage`, so letting a sparse file through does not let its people through)
gets no risk, percentile or call: `no call`, the reason in the notes. Everyone else is scored. When
the run's report judged the model NOT FIT FOR USE (or could not judge it), every row says so first
(`fitness_row_note`) and `fitness_warning` says it once; when the file records that the risks
failed their calibration check, every row says the risk is a score, not a probability
(`calibration_row_note`). The notes also mark an imputed
covariate, an implausible age, and an age (or a sex) outside the population the model was validated
on, as its file records it (`ModelFile.validated_on`, `genofed.common.scoring.validation`; a file
that does not record it is said to, once).

Next to risks.csv, `write_predictions` writes `risks.csv.json` (`provenance_record`): the model's
hash and label, the threshold and where it came from, the settings, the population the model was
validated on and the calibration verdict there (or that the file does not record them), the run
report's fitness verdict (`fitness`), the genofed version, the time and every note printed, so that
a CSV can be told apart from another once the terminal is closed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from genofed.common.data.cohort import MISSING, Cohort
from genofed.common.data.panel import MIN_COVERAGE, Alignment
from genofed.common.model.metrics import binary_metrics
from genofed.common.model.network import predict_proba
from genofed.common.reporting.ratios import Prevalence
from genofed.common.scoring.model_file import ModelFile
from genofed.common.scoring.operating import (
    MAX_PERCENTILE_SD,
    exact_counts,
    minimum_for_percentiles,
    percentiles,
    percentiles_shown,
    recorded_prevalence,
    sampling_percentile_sd,
    total_percentile_sd,
)
from genofed.common.scoring.people import DEFAULT_MIN_CALL_RATE, encoded_rows, minimum_text, model_people
from genofed.common.scoring.validation import (
    NOT_RECORDED,
    age_at_edge,
    age_outside,
    calibration_words,
    covariate_values,
    fitness_of,
    fitness_words,
    population_words,
    sex_outside,
    unfit_words,
    validated_age_range,
)
from genofed.common.util.atomic import write_text_atomic
from genofed.common.util.version import genofed_version

#: The leading columns of risks.csv, in order; then `label` (only when phenotypes with the label
#: column were given), then `NOTES_COLUMN`.
COLUMNS = ("sample_id", "risk", "percentile", "call", "coverage", "imputed")
#: The last column: why a person got no call, and what was assumed about them ("" when nothing).
NOTES_COLUMN = "notes"
#: The call of a person with too few genotypes called (`Predictions.scored`).
NO_CALL = "no call"
#: risks.csv's risks are rounded to this many decimals: the model's score, not a calibrated
#: probability (`risk_note`); more digits would suggest a precision nobody measured.
RISK_DECIMALS = 3
#: Percentiles are whole numbers clipped into this range: the reference distribution comes from a
#: few hundred noisy validation patients, so neither "below everyone" (0) nor "above everyone"
#: (100) is something it can say (docs/predicting.md, "Percentiles").
PERCENTILE_RANGE = (1, 99)
#: How many people `predict_file` encodes and scores at a time (`_risks`): `predict_proba`'s batch.
SCORE_ROWS = 1024
#: An age above this (years) is marked in the notes, whatever ages the model was validated on: few
#: people of any clinic cohort are older, and such an age is often a slip (the phenotype reader
#: already refuses one outside 0-120).
PLAUSIBLE_AGE_MAX = 100.0
#: The format of the provenance file next to risks.csv (`provenance_record`).
PROVENANCE_FORMAT = "genofed-predictions/1"
#: An AUC over fewer people than this is printed with a caveat (`rough_auc_caveat`): `genofed
#: predict`'s AUC over the labelled people and `genofed adapt`'s comparison on its validation
#: patients alike; a handful of people move it by tenths.
ROUGH_AUC_BELOW = 50


def rough_auc_caveat(people: int, what: str = "estimate") -> str:
    """The caveat printed after an AUC over fewer than `ROUGH_AUC_BELOW` people, "(few patients: a
    rough estimate)" (`what` "comparison" where two models' AUCs are compared), with its leading
    space; "" otherwise. One rule for every AUC printed, so `predict` and `adapt` agree."""
    return f" (few patients: a rough {what})" if people < ROUGH_AUC_BELOW else ""


def shown_risk(risk: float, threshold: float | None) -> float:
    """`risk` rounded to `RISK_DECIMALS` decimals, but never across `threshold`: a risk of 0.4996
    under a threshold of 0.5 shows as 0.499 (called low), not as a "0.500" called low."""
    scale = 10**RISK_DECIMALS
    shown = round(risk, RISK_DECIMALS)
    if threshold is not None and risk < threshold <= shown:
        return math.floor(risk * scale) / scale
    if threshold is not None and shown < threshold <= risk:
        return math.ceil(risk * scale) / scale
    return shown


@dataclass
class Predictions:
    """One row per person, in genotype-file order, and what the user must know about them.

    `percentiles` / `calls`: None when the model file has no risk distribution / no threshold was
    given or recorded. `threshold_source`: "model" (the model file's operating threshold) or
    "--threshold" (the user's); `threshold_detail` says it in words. `min_call_rate`: a person
    whose `coverage` is below it gets no risk, percentile or call (`scored`). `labels`: None
    without a label column. `labelled`: who has a label (a new patient's may be empty: no
    diagnosis yet); None means everyone with `labels`. `notes`: what was assumed or is missing,
    said once; `row_notes`: the same per person (the CSV's notes column). `reference`: the
    population the percentiles are relative to, in words (None without a distribution).
    `outside_ages`: how many people's age lies outside the ages the model was validated on.
    `prevalence`: the prevalence the threshold's test-cohort figures were carried to (PPV and
    1 - NPV, in `threshold_detail`), from --prevalence or the model file; None when none applied.
    """

    sample_ids: list[str]
    risks: np.ndarray
    coverage: np.ndarray  # per person: share of panel variants with a call, after alignment
    imputed: np.ndarray  # per person: panel variants absent from the file or with a missing call
    alignment: Alignment
    threshold: float | None = None
    percentiles: np.ndarray | None = None
    labels: np.ndarray | None = None
    labelled: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    threshold_source: str | None = None
    threshold_detail: str = ""
    min_call_rate: float = 0.0
    row_notes: list[list[str]] | None = None
    reference: str | None = None
    outside_ages: int = 0
    prevalence: Prevalence | None = None

    @property
    def scored(self) -> np.ndarray:
        """Who gets a risk, percentile and call: a call rate of at least `min_call_rate` (a person
        below it would be scored mostly on imputed genotypes, the panel's average, which looks
        like an ordinary, reassuring risk)."""
        return np.asarray(self.coverage) >= self.min_call_rate - 1e-12

    @property
    def n_not_called(self) -> int:
        return int(np.sum(~self.scored))

    @property
    def calls(self) -> list[str] | None:
        """ "high" where risk >= threshold, else "low" (the release's bins put the edge in the
        upper bin), `NO_CALL` for a person not scored; None without a threshold."""
        if self.threshold is None:
            return None
        scored = self.scored
        return [
            ("high" if r >= self.threshold else "low") if ok else NO_CALL
            for r, ok in zip(self.risks, scored, strict=True)
        ]

    @property
    def shown_percentiles(self) -> np.ndarray | None:
        """The percentiles as risks.csv shows them: whole numbers in `PERCENTILE_RANGE`."""
        if self.percentiles is None:
            return None
        low, high = PERCENTILE_RANGE
        return np.clip(np.rint(self.percentiles), low, high).astype(int)

    @property
    def n_labelled(self) -> int:
        """How many people have a label (0 without a label column)."""
        if self.labels is None:
            return 0
        return len(self.labels) if self.labelled is None else int(np.sum(self.labelled))

    @property
    def in_auc(self) -> np.ndarray | None:
        """Who the AUC is over: a label and a call rate at the minimum (None without labels)."""
        if self.labels is None:
            return None
        known = np.ones(len(self.labels), dtype=bool) if self.labelled is None else self.labelled
        return known & self.scored

    def auc(self) -> float | None:
        """The AUC against the labels of the people who have one and are scored (None without
        labels or with one class only); the same computation as results.json's `test_auc`. A
        person without a label (a new patient, no diagnosis yet), or with too few genotypes
        called, is not counted here."""
        if self.labels is None:
            return None
        counted = self.in_auc
        return binary_metrics(self.labels[counted], self.risks[counted])["auc"]

    def notes_of(self, i: int) -> str:
        """Person `i`'s notes cell: their notes joined by "; " ("" when none)."""
        return "; ".join(self.row_notes[i]) if self.row_notes else ""

    def to_csv(self) -> str:
        """risks.csv: `COLUMNS`, then `label` when known, then `NOTES_COLUMN`; empty cells where a
        value does not exist (and risk and percentile for a person not scored)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([*COLUMNS, *(["label"] if self.labels is not None else []), NOTES_COLUMN])
        calls, shown, scored = self.calls, self.shown_percentiles, self.scored
        for i, sample in enumerate(self.sample_ids):
            row = [
                spreadsheet_text(sample),
                f"{shown_risk(float(self.risks[i]), self.threshold):.{RISK_DECIMALS}f}" if scored[i] else "",
                "" if shown is None or not scored[i] else int(shown[i]),
                (calls[i] if calls is not None else "") if scored[i] else NO_CALL,
                f"{self.coverage[i]:.4f}",
                int(self.imputed[i]),
            ]
            if self.labels is not None:
                known = self.labelled is None or bool(self.labelled[i])
                row.append(int(self.labels[i]) if known else "")
            row.append(self.notes_of(i))
            writer.writerow(row)
        return buffer.getvalue()


#: What a spreadsheet reads as a formula at the start of a cell (OWASP's CSV injection list).
FORMULA_STARTS = ("=", "+", "@", "\t", "\r")


def spreadsheet_text(cell: str) -> str:
    """A sample id as risks.csv writes it: with a leading apostrophe when a spreadsheet would run it
    as a formula (`=HYPERLINK(...)` in a VCF header was written as it was, and Excel runs it), so
    that it reads as the text it is; a `-` only when what follows is no number (an id `-12` stays).
    Every other id is written exactly."""
    risky = cell.startswith(FORMULA_STARTS) or (cell.startswith("-") and not _is_number(cell))
    return f"'{cell}" if risky else cell


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def predict_file(
    model: ModelFile,
    genotypes: str | Path,
    *,
    phenotypes: str | Path | None = None,
    label_column: str = "label",
    min_coverage: float = MIN_COVERAGE,
    min_call_rate: float | None = None,
    threshold: float | None = None,
    prevalence: float | None = None,
) -> Predictions:
    """Score every person of `genotypes` with `model` (see the module docstring).

    Args:
        model: a verified model file (`load_model_file`).
        genotypes: VCF/BCF, PLINK 1 or a genotype table.
        phenotypes: optional: the labels (`label_column`) and covariates (sex, age). Without
            them the covariates are unknown and encoded as the training did for an unknown value
            (sex 0.5, age the centre), and there is no AUC.
        min_coverage: the share of the model's panel the file must cover (as at a hospital); a file
            with no panel variant at all is refused whatever it is.
        min_call_rate: the share of the panel's genotypes a person must have called to be scored
            (None: `DEFAULT_MIN_CALL_RATE`, whatever `min_coverage` is); below it the person gets
            `NO_CALL` and no risk or percentile.
        threshold: the high/low cut-off to use instead of the model's operating threshold (in
            (0, 1); None: the model's, if it has one).
        prevalence: the share of people with the disease where the model is used (in (0, 1)), to
            which the threshold's test-cohort figures are carried (what share of the people flagged
            and not flagged have it); None: the one the model file records, if any.

    A person whose label is empty is scored and gets an empty label: only the labelled (and
    scored) count towards the AUC (`Predictions.auc`).

    Raises:
        ModelFileError: a model that does not score a binary risk or whose config does not fit
            its panel. DataError: an unreadable file, samples not in both files, a file covering
            too little of the panel.
    """
    if min_call_rate is None:
        min_call_rate = DEFAULT_MIN_CALL_RATE
    people = model_people(
        model,
        genotypes,
        phenotypes,
        label_column=label_column,
        min_coverage=min_coverage,
        missing_labels=True,
        min_call_rate=min_call_rate,
    )
    cohort, notes, alignment = people.cohort, people.notes, people.alignment
    # per-person counts, not a (people x panel) bool matrix held through the scoring: 152 MB more at
    # its peak for 250 people on a 636,471-variant panel
    n_panel = cohort.dosages.shape[1]
    n_called = np.count_nonzero(cohort.dosages != MISSING, axis=1)
    coverage = n_called / n_panel if n_panel else np.zeros(cohort.n_samples)
    risks = _risks(model, cohort)
    recorded = (model.operating.get("threshold") or {}).get("threshold")
    distribution = model.operating.get("risk_distribution")
    where = _prevalence(model, prevalence)
    if threshold is not None and recorded is not None and math.isclose(threshold, float(recorded)):
        # the model's own, typed in: its recorded rates apply (a walkthrough's --threshold 0.70 was
        # said to have unknown sensitivity and specificity)
        source = "--threshold"
        detail = "given with --threshold, equal to " + _model_threshold_detail(model, where)
    elif threshold is not None:
        source, detail = "--threshold", _given_threshold_detail(recorded, model, threshold, where)
    elif recorded is not None:
        threshold, source, detail = float(recorded), "model", _model_threshold_detail(model, where)
    else:
        source, detail = None, ""
        notes.append(
            "no operating threshold in the model file: the call column is empty (pass --threshold T to call "
            "high/low at a cut-off of your own)"
            + (f" ({model.operating['threshold_note']})" if model.operating.get("threshold_note") else "")
        )
    covariates = model.feature_spec().covariates
    quoted = recorded is not None and (threshold is None or math.isclose(threshold, float(recorded)))
    # a --threshold of the user's at which the file records the test cohort's figures (`figures_at`)
    given_known = threshold is not None and not quoted and figures_at(model, threshold) is not None
    carried = where is not None and ((quoted and _test_cohort_figures(model) is not None) or given_known)
    if prevalence is not None and not carried:
        notes.append(_unused_prevalence_note(model, threshold is not None and not quoted, threshold))
    # scored without the covariates the threshold's quoted figures were measured with
    blind = (quoted or given_known) and phenotypes is None and bool(covariates)
    if blind:
        # a threshold whose figures `detail` quotes (the model's own, or one the file records them at);
        # a biostatistician's review: without them 99 of 600 test-cohort calls changed, and the
        # sensitivity quoted (0.746) was 0.738, the specificity (0.586) 0.544
        notes.append(
            "the threshold's sensitivity and specificity were measured on people scored with their "
            f"{' and '.join(covariates)}; these people were scored without them (no --phenotypes), so "
            "those figures do not describe their calls: pass --phenotypes with them"
        )
    if distribution is None:
        notes.append(
            "no training-population risk distribution in the model file: the percentile column is empty"
        )
    elif not percentiles_shown(distribution):
        notes.append(_withheld_percentiles(model, distribution))
        distribution = None
    if alignment.swapped:
        notes.append(
            f"{alignment.swapped} panel variants have REF/ALT swapped in the file: their dosages were flipped"
        )
    row_notes = [[] for _ in range(cohort.n_samples)]
    _note_fitness(model, row_notes)
    _note_uncalled(coverage, min_call_rate, row_notes, notes)
    _note_covariates(model, cohort, row_notes, notes)
    if blind:
        _note_called_without(covariates, coverage >= min_call_rate - 1e-12, row_notes)
    outside = _note_population(model, cohort, row_notes, notes)
    notes.append(risk_note(model))
    return Predictions(
        sample_ids=list(cohort.sample_ids),
        risks=risks,
        coverage=coverage,
        imputed=n_panel - n_called,
        alignment=alignment,
        threshold=None if threshold is None else float(threshold),
        percentiles=None if distribution is None else percentiles(distribution, risks),
        labels=cohort.labels if people.labelled else None,
        labelled=people.known if people.labelled else None,
        notes=notes,
        threshold_source=source,
        threshold_detail=detail,
        min_call_rate=float(min_call_rate),
        row_notes=row_notes,
        reference=reference_population(model),
        outside_ages=outside,
        prevalence=where if carried else None,
    )


def called_percent(share: float, minimum: float | None = None) -> str:
    """A person's share of panel genotypes called, in percent with one decimal and rounded, as the
    summary's "lowest" and the row notes both say it: one rounded, the other truncated, a walkthrough
    read "lowest 59.9%" beside "59% of panel genotypes called". A share under `minimum` that would
    round up to it is rounded down instead (0.8996 under 90% is "89.9%", never the "90.0%" it is below)."""
    tenths = round(1000 * share)
    if minimum is not None and share < minimum - 1e-12 and tenths >= round(1000 * minimum):
        tenths = math.floor(1000 * share)
    return f"{tenths / 10:.1f}%"


def fitness_row_note(model: ModelFile) -> str | None:
    """The note every row of risks.csv starts with when the run's report judged the model NOT FIT
    FOR USE or could not judge it (`unfit_words`): a clinician who opens only the CSV, long after
    the terminal is closed, still sees it beside each call. None otherwise."""
    verdict = unfit_words(model.validated_on)
    return None if verdict is None else f"run report's verdict on the model: {verdict}: not for patient care"


def fitness_warning(model: ModelFile) -> str | None:
    """The warning `genofed predict` prints (and its provenance file keeps) when the run's report
    judged the model NOT FIT FOR USE, with the failed rules, or could not judge it: the scores are
    still written (a researcher may want them), so this must be impossible to miss. None otherwise."""
    verdict = unfit_words(model.validated_on)
    if verdict is None:
        return None
    fitness = fitness_of(model.validated_on)
    if fitness is None:  # an adaptation of a shared model that must not be used on patients
        judged = (
            "this adapted model has no verdict of its own, and the run's report judged the shared model it "
            f"was adapted from {fitness_words(model.validated_on['shared_model'])}"
        )
    elif fitness.get("passed") is False:
        judged = f"the run's report judged this model {fitness_words(model.validated_on)}"
    else:
        judged = (
            f"the run's report could not judge this model ({fitness_words(model.validated_on)}) and says "
            "not to use it on patients before it has been tested on a cohort of its own"
        )
    return (
        f"{judged}. Its risks and calls are written for research only, not for patient care: every row's "
        f"notes column starts with '{fitness_row_note(model)}'"
    )


def calibration_row_note(model: ModelFile) -> str | None:
    """The note every row of risks.csv carries when the model file records that its risks failed
    their calibration check (`validated_on.calibration`, calibrated false: a federated run's test
    cohort, an adapted model's validation patients): "risk is a score, not a probability: not
    calibrated on the coordinator's test cohort (up to 47 percentage points off)". None otherwise.

    Why: predict says so on stderr and in risks.csv.json, but a clinician who opens only the CSV,
    weeks later, read "0.948, high" as a 95 % chance (a new-user walkthrough)."""
    record = model.validated_on
    calibration = record.get("calibration") if record else None
    if not isinstance(calibration, dict) or calibration.get("calibrated") is not False:
        return None
    gap = calibration.get("largest_gap")
    off = (
        f" (up to {100 * float(gap):.0f} percentage points off)"
        if isinstance(gap, int | float) and not isinstance(gap, bool) and math.isfinite(gap)
        else ""
    )
    return f"risk is a score, not a probability: not calibrated on {record.get('cohort')}{off}"


def _note_fitness(model: ModelFile, row_notes: list[list[str]]) -> None:
    """Start every person's notes with `fitness_row_note`, then `calibration_row_note`, when there
    are any: what the whole file rests on comes before what one person's row does."""
    for note in (fitness_row_note(model), calibration_row_note(model)):
        if note is not None:
            for notes in row_notes:
                notes.append(note)


def _note_uncalled(
    coverage: np.ndarray, minimum: float, row_notes: list[list[str]], notes: list[str]
) -> None:
    """Mark each person whose call rate is under `minimum` (not scored), and count them once."""
    below = np.flatnonzero(coverage < minimum - 1e-12)
    for i in below:
        row_notes[i].append(
            f"{called_percent(coverage[i], minimum)} of panel genotypes called, under the minimum "
            f"{minimum_text(minimum)}: "
            "not scored"
        )
    if below.size:
        notes.append(
            f"{below.size} of {len(coverage)} people have under {minimum_text(minimum)} of the panel's "
            f"genotypes called: not scored (call '{NO_CALL}', risk and percentile empty, the reason in the "
            "notes column); their risk would rest on imputed genotypes, the panel's average; "
            "--min-call-rate SHARE sets the minimum"
        )


def _risks(model: ModelFile, cohort: Cohort) -> np.ndarray:
    """Every person's risk, encoded and scored `SCORE_ROWS` at a time.

    Why: the features are people x panel float32 (and the logistic model makes a scaled copy);
    encoded all at once, 5,000 people on a 636,471-variant panel would need about 25 GB beside
    their genotypes. The batches are `predict_proba`'s own, so every risk is computed as it was."""
    network = model.build()
    parts = [
        predict_proba(network, encoded_rows(model, cohort, slice(start, start + SCORE_ROWS)), SCORE_ROWS)
        for start in range(0, cohort.n_samples, SCORE_ROWS)
    ]
    return np.concatenate(parts) if parts else np.zeros(0)


def _note_covariates(model: ModelFile, cohort: Cohort, row_notes: list[list[str]], notes: list[str]) -> None:
    """Per person: the covariates imputed ("age unknown: imputed") (`_cohort` counts them once)."""
    covariates = model.feature_spec().covariates
    values = {name: covariate_values(cohort.covariates, name) for name in covariates}
    for i in range(cohort.n_samples):
        unknown = [name for name in covariates if np.isnan(values[name][i])]
        if unknown:
            row_notes[i].append(f"{' and '.join(unknown)} unknown: imputed")


def _note_called_without(covariates: tuple[str, ...], called: np.ndarray, row_notes: list[list[str]]) -> None:
    """Per person called high or low without --phenotypes: the threshold's sensitivity and specificity
    were measured on people scored with their covariates, so they do not describe this call. Why:
    the run-level note said so on the terminal only; a walkthrough's person was 'low' with phenotypes
    and 'high' without, and the CSV's row said nothing of it."""
    note = (
        f"called without {' and '.join(covariates)} (no --phenotypes): the threshold's sensitivity and "
        "specificity do not describe this call"
    )
    for i in np.flatnonzero(called):
        row_notes[i].append(note)


def _note_population(model: ModelFile, cohort: Cohort, row_notes: list[list[str]], notes: list[str]) -> int:
    """Per person, and counted once: an age over `PLAUSIBLE_AGE_MAX`, an age outside the ages the
    model was validated on ("age 7: below the ages the model was validated on, 18-79"), an age
    inside them but outside their 5th-95th percentiles (few people that age were checked), and a sex
    nobody of its validation cohort had; once, that the file records no validated ages when
    someone's age is known. Returns how many are outside the validated ages."""
    record = model.validated_on
    span = validated_age_range(record)
    ages = covariate_values(cohort.covariates, "age")
    sexes = covariate_values(cohort.covariates, "sex")
    unrecorded = "" if span else "; the model file does not record the ages it was validated on"
    old, outside, edge, other_sex = [], [], [], []
    for i in range(cohort.n_samples):
        if ages[i] > PLAUSIBLE_AGE_MAX:
            old.append(i)
            row_notes[i].append(f"age {ages[i]:g} over {PLAUSIBLE_AGE_MAX:g}: check it{unrecorded}")
        checks = (
            (age_outside(ages[i], record), outside),
            (age_at_edge(ages[i], record), edge),
            (sex_outside(sexes[i], record), other_sex),
        )
        for note, seen in checks:
            if note:
                seen.append(i)
                row_notes[i].append(note)
    n = cohort.n_samples
    if old:
        notes.append(
            f"{len(old)} of {n} people are older than {PLAUSIBLE_AGE_MAX:g}: {_listed(cohort, ages, old)}; "
            f"scored, and marked in the notes column: few clinic cohorts include such patients; check the "
            f"age{unrecorded}"
        )
    if outside and span:
        notes.append(
            f"{len(outside)} of {n} people are outside the ages the model was validated on "
            f"({span[0]:g}-{span[1]:g}, {record.get('cohort')}): {_listed(cohort, ages, outside)}; scored, "
            "and marked in the notes column: their risks extrapolate beyond anyone the model was checked on"
        )
    if edge:
        notes.append(
            f"{len(edge)} of {n} people are inside those ages but outside their 5th-95th percentiles: "
            f"{_listed(cohort, ages, edge)}; marked in the notes column: few people of their age were checked"
        )
    if other_sex:
        notes.append(
            f"{len(other_sex)} of {n} people are of a sex nobody of {record.get('cohort')} had: scored, and "
            "marked in the notes column: the model was never checked on such people"
        )
    if span is None and np.isfinite(ages).any():
        notes.append(
            "ages not checked against the population the model was validated on: "
            + (population_words(record) if record else NOT_RECORDED)
        )
    return len(outside)


def _listed(cohort: Cohort, ages: np.ndarray, who: list[int]) -> str:
    """'P001 (7), P002 (105) and 3 more': the first three people of `who` with their ages."""
    shown = ", ".join(f"{cohort.sample_ids[i]} ({ages[i]:g})" for i in who[:3])
    return shown + (f" and {len(who) - 3} more" if len(who) > 3 else "")


def _model_threshold_detail(model: ModelFile, prevalence: Prevalence | None = None) -> str:
    """The model file's operating threshold in words: its rule's name and the validation figures
    it was read from (noisy for a federated run, exact for `genofed adapt`), and what it does on the
    test cohort when the file records it, carried to `prevalence` if one is given (`_on_test_cohort`)."""
    point = model.operating.get("threshold") or {}
    rule = str(point.get("rule") or "").split(":")[0] or "its recorded rule"
    exact = exact_counts(model.operating, model.provenance)
    about = "" if exact else "about "
    patients = point.get("validation_patients")
    figures = ""
    if isinstance(point.get("sensitivity"), float | int) and isinstance(
        point.get("specificity"), float | int
    ):
        declared = _declared_validation(model, exact)
        on = f" on {about}{float(patients):.0f} validation patients" if patients is not None else ""
        on += f"; the hospitals declared {declared:,}" if patients is not None and declared else ""
        kind = "" if exact else "noisy "
        figures = f", {kind}{_rate_words(point, 'sensitivity')}, {_rate_words(point, 'specificity')}{on}"
        if exact:
            figures = f", {_exact_rates_words(point)}"
    return f"the model's operating threshold ({rule}{figures}){_on_test_cohort(model, prevalence)}"


def _exact_rates_words(point: dict[str, Any]) -> str:
    """An operating point read off exact counts (a `genofed adapt` file's, from the hospital's own
    validation patients) in words, each rate with its Wilson 95 % interval from the recorded counts:
    'sensitivity 0.643 (0.388-0.837), specificity 0.826 (0.629-0.930) on 37 validation patients (14
    cases, 23 controls, exact; 95 % intervals)'. Why: predict printed the bare rates on 37 patients
    where `adapt` itself had printed 39-84 % around the sensitivity (a new-user walkthrough)."""
    from genofed.common.reporting.calibration import wilson_interval

    patients, cases = point.get("validation_patients"), point.get("validation_cases")
    if not isinstance(patients, int | float) or not isinstance(cases, int | float):
        return f"{_rate_words(point, 'sensitivity')}, {_rate_words(point, 'specificity')}"
    cases = int(round(float(cases)))
    controls = int(round(float(patients))) - cases

    def rate(name: str, of: int) -> str:
        value = float(point[name])
        low, high = wilson_interval(int(round(value * of)), of)
        return f"{name} {value:.3f} ({low:.3f}-{high:.3f})"

    return (
        f"{rate('sensitivity', cases)}, {rate('specificity', controls)} on {cases + controls} validation "
        f"patients ({cases} cases, {controls} controls, exact; 95 % intervals)"
    )


def _rate_words(point: dict[str, Any], name: str) -> str:
    """'sensitivity 0.801', or for a noisy figure whose noise sd the file records 'sensitivity 0.80
    (noise sd 0.13)': two decimals, since the noise makes the third meaningless."""
    noise = point.get(f"{name}_noise_sd")
    if isinstance(noise, float | int) and not isinstance(noise, bool) and math.isfinite(noise):
        return f"{name} {float(point[name]):.2f} (noise sd {float(noise):.2f})"
    return f"{name} {float(point[name]):.3f}"


def _test_cohort_figures(model: ModelFile) -> dict[str, Any] | None:
    """The model file's record of what its threshold does on the test cohort (`held_out_figures_at`),
    or None: a run without a test cohort, an `adapt` or `pretrain` file, an older file."""
    metrics = model.provenance.get("metrics") if isinstance(model.provenance, dict) else None
    figures = metrics.get("test_at_threshold") if isinstance(metrics, dict) else None
    return figures if isinstance(figures, dict) else None


def _on_test_cohort(model: ModelFile, prevalence: Prevalence | None = None) -> str:
    """What the threshold does on the coordinator's test cohort, exact, when the model file records
    it (a federated run with a test cohort: `held_out_figures_at`), with `prevalence` what share of
    the people flagged and not flagged have the disease there; "" without the record. Beside noisy
    validation figures it tells a clinician what the threshold does on real people (an audit read a
    noisy sensitivity of 1.000 where the test cohort gave 0.80)."""
    figures = _test_cohort_figures(model)
    if figures is None:
        return ""
    from genofed.common.scoring.operating import held_out_figures_words

    return f"; {held_out_figures_words(figures, prevalence)}"


def _prevalence(model: ModelFile, given: float | None) -> Prevalence | None:
    """--prevalence when given, else the model file's (`recorded_prevalence`)."""
    return (
        Prevalence(float(given), "given with --prevalence")
        if given is not None
        else recorded_prevalence(model.provenance)
    )


def _unused_prevalence_note(model: ModelFile, own_threshold: bool, threshold: float | None = None) -> str:
    """Why --prevalence changed nothing: PPV needs the threshold's sensitivity and specificity on
    exact data, which a threshold of the user's (`own_threshold`, `threshold`) has none of unless
    the file records them there (`figures_at`), and a file without a test cohort's record does not
    give."""
    if own_threshold:
        why = (
            "the threshold used is not the model's, so its sensitivity and specificity are unknown here"
            f"{_known_at(model, threshold)}"
        )
    elif _test_cohort_figures(model) is None:
        why = (
            "the model file records no exact figures for its threshold (no test cohort's: a run without "
            "one, a `genofed adapt` or `pretrain` file, or an older file)"
        )
    else:
        why = "nobody is called (no threshold)"
    return (
        f"--prevalence was not used: {why}, so what share of the people flagged have the disease "
        "cannot be given"
    )


def _declared_validation(model: ModelFile, exact: bool) -> int | None:
    """Beside a federated run's noisy count of validation patients: the sum of the sizes its
    hospitals declared (public, in the file's provenance), from which the noise can move the count
    far (an audit read about 304 against 242 declared). Those of the hospitals whose releases were
    pooled (`validation_sites`), where the file records them: a walkthrough's file summed every
    hospital's, 102 where the 2 that evaluated had declared 70. None for exact counts or a file
    without them."""
    prov = model.provenance if isinstance(model.provenance, dict) else {}
    pooled, sites = prov.get("validation_sites"), prov.get("sites")
    if exact:
        return None
    if isinstance(pooled, dict):
        sizes = list(pooled.values())
    elif isinstance(sites, dict):  # a file written before `validation_sites`
        sizes = [site.get("validation") for site in sites.values() if isinstance(site, dict)]
    else:
        return None
    if not sizes or not all(isinstance(n, int) and not isinstance(n, bool) for n in sizes):
        return None
    return sum(sizes)


def _given_threshold_detail(
    recorded: float | None,
    model: ModelFile | None = None,
    threshold: float | None = None,
    prevalence: Prevalence | None = None,
) -> str:
    """A --threshold in words, with the model's own threshold beside it, and what it does on the
    coordinator's test cohort when the model file records that at exactly this threshold
    (`figures_at`), carried to `prevalence` as for the operating threshold; else that its
    sensitivity and specificity are unknown here (and at which thresholds the file records them)."""
    own = f"the model's own is {float(recorded):g}" if recorded is not None else "the model file has none"
    figures = None if model is None or threshold is None else figures_at(model, threshold)
    if figures is not None:
        from genofed.common.scoring.operating import held_out_figures_words

        return f"given with --threshold ({own}); {held_out_figures_words(figures, prevalence)}"
    known = "" if model is None else _known_at(model, threshold)
    return f"given with --threshold ({own}); its sensitivity and specificity are unknown here{known}"


def figures_at(model: ModelFile, threshold: float) -> dict[str, Any] | None:
    """What calling `risk >= threshold` high does on the coordinator's test cohort, exactly, when
    the model file records it at this very threshold (`held_out_figures_at`'s form): the operating
    threshold's `metrics.test_at_threshold`, or the run's test metrics (`metrics.test`, read at
    their own threshold, 0.5, with the same `>=`: counts of people and cases, sensitivity,
    specificity), whose Wilson intervals follow from those counts. None at any other threshold, or
    for a file without them (an `adapt` or `pretrain` file, an older file, a run without a test cohort).

    Why: `--threshold 0.5` was said to have unknown sensitivity and specificity, and --prevalence
    dropped, while the file recorded the test cohort's figures at exactly 0.5 (a new-user walkthrough)."""
    for figures in _recorded_figures(model):
        if math.isclose(float(figures["threshold"]), float(threshold)):
            return figures
    return None


def _recorded_figures(model: ModelFile) -> list[dict[str, Any]]:
    """Every test-cohort record of a threshold's figures the model file holds (`figures_at`)."""
    from genofed.common.reporting.calibration import wilson_interval

    found = []
    at_threshold = _test_cohort_figures(model)
    if at_threshold is not None and _finite_number(at_threshold.get("threshold")):
        found.append(at_threshold)
    metrics = model.provenance.get("metrics") if isinstance(model.provenance, dict) else None
    test = metrics.get("test") if isinstance(metrics, dict) else None
    if not isinstance(test, dict) or not all(
        _finite_number(test.get(key)) for key in ("threshold", "sensitivity", "specificity", "n", "cases")
    ):
        return found
    cases, controls = int(test["cases"]), int(test["n"]) - int(test["cases"])
    if cases <= 0 or controls <= 0:
        return found
    found_cases = int(round(float(test["sensitivity"]) * cases))
    cleared = int(round(float(test["specificity"]) * controls))
    found.append(
        {
            "threshold": float(test["threshold"]),
            "sensitivity": float(test["sensitivity"]),
            "sensitivity_interval": list(wilson_interval(found_cases, cases)),
            "specificity": float(test["specificity"]),
            "specificity_interval": list(wilson_interval(cleared, controls)),
            "cases": cases,
            "controls": controls,
        }
    )
    return found


def _known_at(model: ModelFile, threshold: float | None) -> str:
    """' (the model file records them at 0.5 and 0.7 only)', naming the thresholds at which the
    file records the test cohort's figures (`figures_at`); "" when it records none."""
    levels = sorted({float(f["threshold"]) for f in _recorded_figures(model)} - {threshold})
    if not levels:
        return ""
    return f" (the model file records them at {' and '.join(f'{t:g}' for t in levels)} only)"


def _finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(float(value))


def _withheld_percentiles(model: ModelFile, distribution: dict[str, Any]) -> str:
    """Why the percentile column is empty although the model file has a distribution (`distribution`,
    the model's): its noise, or, read off exact counts (`exact_counts`: a `genofed adapt` file, or a
    federated run without DP), too few people (`sampling_percentile_sd`)."""
    patients = float(distribution.get("patients") or 0)
    sampled = sampling_percentile_sd(distribution)
    exact = exact_counts(model.operating, model.provenance)
    if exact and sampled is not None and sampled > MAX_PERCENTILE_SD:
        fewest = minimum_for_percentiles()
        remedy = (
            f"To get them, adapt the shared model again with at least {fewest} validation patients (a "
            "larger --validation-fraction), which leaves fewer patients to fit on"
            if _hospitals_own(model, distribution)
            else f"To get them, the run's hospitals must evaluate the model on at least {fewest} validation "
            "patients together"
        )
        return (
            f"percentiles not shown: the risk distribution was read off {patients:.0f} validation patients "
            f"(exact counts), and from so few people sampling alone moves a percentile by up to "
            f"{sampled:.1f} points (one sd; shown up to {MAX_PERCENTILE_SD:g}, so from "
            f"{fewest} people); the risk column is unaffected. {remedy}"
        )
    noise = float(distribution.get("percentile_sd") or 0)
    moved = (
        f"whose DP noise moves a percentile by up to {noise:.1f} points"
        if noise > 0
        # a DP run whose replies named no noise, or a file from before the noise was recorded
        else "whose DP noise the model file does not record"
    )
    if sampled is not None:
        moved += (
            f" and sampling so few people by up to {sampled:.1f}: "
            f"{total_percentile_sd(distribution):.1f} points together"
        )
    return (
        f"percentiles not shown: the training population's risk distribution rests on about {patients:.0f} "
        f"noisy validation patients, {moved} (one sd; shown up to {MAX_PERCENTILE_SD:g}); the risk column "
        "is unaffected"
    )


def _hospitals_own(model: ModelFile, distribution: dict[str, Any]) -> bool:
    """Whether `distribution` was read off one hospital's own validation patients (a `genofed adapt`
    file's), not the federation's (a federated run's, with DP or without)."""
    return model.provenance.get("kind") == "adapted" or "hospital's own" in str(
        distribution.get("source") or ""
    )


def reference_population(model: ModelFile) -> str | None:
    """Who the percentiles are relative to, in words, from what the model file records: the
    federation's noisy validation patients (a federated run: about how many, and about what share
    cases), or a hospital's own (`genofed adapt`, exact). None without a risk distribution."""
    distribution = model.operating.get("risk_distribution")
    if not distribution or not percentiles_shown(distribution):
        return None
    point = model.operating.get("threshold") or {}
    exact = exact_counts(model.operating, model.provenance)
    about = "" if exact else "about "
    patients = distribution.get("patients")
    cases = point.get("validation_cases")
    if cases is None:
        cases = ((model.provenance.get("metrics") or {}).get("site_evaluation") or {}).get("cases")
    if _hospitals_own(model, distribution):
        who = "the hospital's own validation patients (exact counts)"
    else:
        who = f"the federation's validation patients ({'exact' if exact else 'noisy'} counts)"
    facts = []
    if isinstance(patients, int | float) and patients > 0:
        declared = _declared_validation(model, exact)
        facts.append(
            f"{about}{float(patients):.0f} people"
            + (f" (the hospitals declared {declared:,})" if declared else "")
        )
        if isinstance(cases, int | float):
            facts.append(f"{about}{min(max(float(cases) / float(patients), 0.0), 1.0):.0%} cases")
    spread = distribution.get("percentile_sd")
    if isinstance(spread, int | float) and spread > 0:
        facts.append(
            "the DP noise and sampling move a percentile by up to "
            f"{total_percentile_sd(distribution):.0f} points together (one sd)"
        )
    listed = f": {', '.join(facts)}" if facts else ""
    return f"{who}{listed}; clinic patients, not the general population"


def risk_note(model: ModelFile) -> str:
    """What the risk column is, said once: the model's score rounded to `RISK_DECIMALS` decimals,
    not to be read as a probability of disease unless its calibration was judged and held. Where
    the model file records a calibration verdict (`validated_on`: a federated run's on its test
    cohort, the run report's own sentence; an adapted model's on the hospital's validation
    patients), it is quoted; otherwise this names where it is judged for each kind of file, and
    quotes the test cohort's calibration error when the file records it."""
    kind = str(model.provenance.get("kind") or "pretrained")
    head = (
        f"'risk' is the model's score, rounded to {RISK_DECIMALS} decimals, not a patient's probability "
        "of disease"
    )
    record = model.validated_on
    if record:
        if record.get("cohort") is None:
            why = record.get("note") or "the model was tested on no cohort of its own"
            return (
                f"{head}: whether it may be read as one was judged nowhere ({why}); check it on local "
                "patients before reading it as one"
            )
        if not isinstance(record.get("calibration"), dict):
            return (
                f"{head}: whether it may be read as one was not judged on {record['cohort']} "
                f"({record.get('calibration_note') or 'no verdict recorded'}); check it on local patients "
                "before reading it as one"
            )
        where = " (the run's report, 'Calibration')" if kind == "federated" else ""
        verdict = calibration_words(record)
        return f"{head}; the model file records the verdict on {record['cohort']}{where}: {verdict}"
    if kind == "federated":
        test = (model.provenance.get("metrics") or {}).get("test") or {}
        ece = test.get("ece")
        error = (
            f" (only the test cohort's expected calibration error, {float(ece):.3f})"
            if isinstance(ece, int | float) and math.isfinite(float(ece))
            else ""
        )
        return (
            f"{head}: whether it may be read as one is judged on the test cohort in the run's report "
            f"(report.md, 'Calibration'); the model file records no verdict{error}"
        )
    if kind == "adapted":
        return (
            f"{head}: this adapted model was recalibrated on the hospital's own training patients, but its "
            "calibration on new patients was judged nowhere; check it on local patients before reading it "
            "as one"
        )
    return f"{head}: its calibration was judged nowhere; check it on local patients before reading it as one"


def sidecar_path(path: str | Path) -> Path:
    """Where the provenance of risks.csv goes: the same name with ".json" added (risks.csv.json)."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def provenance_record(
    model: ModelFile,
    predictions: Predictions,
    *,
    model_path: str | Path,
    genotypes: str | Path,
    phenotypes: str | Path | None,
    label_column: str,
    min_coverage: float,
    messages: list[str],
) -> dict[str, Any]:
    """What risks.csv.json records (`write_predictions` adds the CSV's name, hash and the time):
    the model (content hash, kind, label, source), the inputs, the threshold and where it came
    from, the minimums, the reference population of the percentiles, what `risk` is, and every
    line printed on stderr (`messages`), who the model was validated on (`validated_on`: the
    population and the calibration verdict in words, or that the file does not record them; the
    validated ages and how many people lie outside them; the record itself), and the run report's
    fitness verdict (`fitness`, `fitness_provenance`)."""
    point = model.operating.get("threshold") or {}
    span = validated_age_range(model.validated_on)
    calls = predictions.calls
    return {
        "format": PROVENANCE_FORMAT,
        "genofed_version": genofed_version(),
        "model": {
            "path": str(Path(model_path).resolve()),
            "content_hash": model.content_hash,
            "kind": str(model.provenance.get("kind") or "pretrained"),
            "label": model.task.label,
            "source": model.provenance.get("source"),
            "created": model.provenance.get("created"),
        },
        "inputs": {
            "genotypes": str(Path(genotypes).resolve()),
            "phenotypes": None if phenotypes is None else str(Path(phenotypes).resolve()),
            "label_column": label_column if predictions.labels is not None else None,
        },
        "people": len(predictions.sample_ids),
        "not_called": predictions.n_not_called,
        "high": None if calls is None else sum(call == "high" for call in calls),
        "threshold": {
            "value": predictions.threshold,
            "source": predictions.threshold_source,
            "described": predictions.threshold_detail or None,
            "model_threshold": point.get("threshold"),
            "model_rule": point.get("rule"),
        },
        "prevalence": (
            None
            if predictions.prevalence is None
            else {"value": predictions.prevalence.value, "source": predictions.prevalence.source}
        ),
        "min_call_rate": predictions.min_call_rate,
        "min_coverage": min_coverage,
        "percentiles": {
            "reference": predictions.reference,
            "shown": f"whole numbers clipped to {PERCENTILE_RANGE[0]}-{PERCENTILE_RANGE[1]}",
        },
        "risk": f"the model's score rounded to {RISK_DECIMALS} decimals, not a calibrated probability",
        "validated_on": {
            "recorded": bool(model.validated_on),
            "population": population_words(model.validated_on),
            "calibration": calibration_words(model.validated_on),
            "ages": None if span is None else {"min": span[0], "max": span[1]},
            "outside_ages": predictions.outside_ages if span is not None else None,
            "record": model.validated_on or None,
            "row_note": calibration_row_note(model),
        },
        "fitness": fitness_provenance(model),
        "auc": predictions.auc(),
        "notes": list(messages),
    }


def fitness_provenance(model: ModelFile) -> dict[str, Any]:
    """risks.csv.json's `fitness`: the run report's verdict as the model file records it (`verdict`,
    `passed`, `failed`, in words `said`; `recorded` false and "verdict not recorded" for a file
    without it), and whether the rows were marked not for patient care (`row_note`, `warning`)."""
    fitness = fitness_of(model.validated_on)
    return {
        "recorded": fitness is not None,
        "verdict": None if fitness is None else fitness["verdict"],
        "passed": None if fitness is None else fitness.get("passed"),
        "failed": [] if fitness is None else list(fitness.get("failed") or []),
        "said": fitness_words(model.validated_on),
        "row_note": fitness_row_note(model),
        "warning": fitness_warning(model),
    }


def write_predictions(
    path: str | Path, predictions: Predictions, provenance: dict[str, Any] | None = None
) -> Path:
    """Write risks.csv atomically and, with `provenance` (`provenance_record`), then its
    provenance next to it (`sidecar_path`), atomically too, with the CSV's name and SHA-256 and the
    time (the caller decides whether existing files may be replaced). A provenance that cannot be
    written takes the CSV with it: a CSV of risks without its provenance looked complete, and the
    next run refused to replace it as no `genofed predict` output (an audit, on a full disk)."""
    path = Path(path)
    text = predictions.to_csv()
    write_text_atomic(path, text)
    if provenance is not None:
        record = {
            "format": PROVENANCE_FORMAT,
            "csv": path.name,
            "csv_sha256": hashlib.sha256(text.encode()).hexdigest(),
            "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **provenance,
        }
        try:
            write_text_atomic(sidecar_path(path), json.dumps(record, indent=2, default=str) + "\n")
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    return path
