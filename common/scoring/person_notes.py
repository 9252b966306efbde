"""What `genofed predict` notes about individual people: per person in risks.csv's notes column,
and counted once among the run's notes.

- `note_uncalled`: a call rate under the minimum (the person is not scored; `called_percent` says
  the share as the summary does).
- `note_covariates`: a covariate unknown and imputed.
- `note_called_without`: a call made without the covariates the threshold's figures were measured
  with (no --phenotypes).
- `note_population`: an implausible age (over `PLAUSIBLE_AGE_MAX`), and an age or a sex outside
  the population the model was validated on, as its file records it
  (`genofed.common.scoring.validation`).

Why apart from the scoring: each of these is a check of one person's inputs against what the model
was built and validated on; the scoring itself never changes because of them.
"""

from __future__ import annotations

import math

import numpy as np

from genofed.common.data.cohort import Cohort
from genofed.common.scoring.model_file import ModelFile
from genofed.common.scoring.people import minimum_text
from genofed.common.scoring.risks_csv import NO_CALL
from genofed.common.scoring.validation import (
    NOT_RECORDED,
    age_at_edge,
    age_outside,
    covariate_values,
    population_words,
    sex_outside,
    validated_age_range,
)

#: An age above this (years) is marked in the notes, whatever ages the model was validated on: few
#: people of any clinic cohort are older, and such an age is often a slip (the phenotype reader
#: already refuses one outside 0-120).
PLAUSIBLE_AGE_MAX = 100.0


def called_percent(share: float, minimum: float | None = None) -> str:
    """A person's share of panel genotypes called, in percent with one decimal and rounded, as the
    summary's "lowest" and the row notes both say it: one rounded, the other truncated, a walkthrough
    read "lowest 59.9%" beside "59% of panel genotypes called". A share under `minimum` that would
    round up to it is rounded down instead (0.8996 under 90% is "89.9%", never the "90.0%" it is below)."""
    tenths = round(1000 * share)
    if minimum is not None and share < minimum - 1e-12 and tenths >= round(1000 * minimum):
        tenths = math.floor(1000 * share)
    return f"{tenths / 10:.1f}%"


def note_uncalled(coverage: np.ndarray, minimum: float, row_notes: list[list[str]], notes: list[str]) -> None:
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


def note_covariates(model: ModelFile, cohort: Cohort, row_notes: list[list[str]], notes: list[str]) -> None:
    """Per person: the covariates imputed ("age unknown: imputed") (`people._cohort` counts them once)."""
    covariates = model.feature_spec().covariates
    values = {name: covariate_values(cohort.covariates, name) for name in covariates}
    for i in range(cohort.n_samples):
        unknown = [name for name in covariates if np.isnan(values[name][i])]
        if unknown:
            row_notes[i].append(f"{' and '.join(unknown)} unknown: imputed")


def note_called_without(covariates: tuple[str, ...], called: np.ndarray, row_notes: list[list[str]]) -> None:
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


def note_population(model: ModelFile, cohort: Cohort, row_notes: list[list[str]], notes: list[str]) -> int:
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
