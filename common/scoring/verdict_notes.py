"""What `genofed predict` says of the model as a whole, from the verdicts its file records: the run
report's fitness verdict (`fitness_row_note` on every row, `fitness_warning` once), a failed
calibration check (`calibration_row_note` on every row) and what the risk column is (`risk_note`:
a score, a probability only where the calibration was judged and held).

Why a module of its own: these sentences are also what `cli.predict` prints and what the
provenance file keeps (`genofed.common.scoring.risks_provenance`), and they must read the same in
all three; a clinician who opens only the CSV still sees a NOT FIT FOR USE model beside each call.
"""

from __future__ import annotations

import math

from genofed.common.scoring.model_file import ModelFile
from genofed.common.scoring.risks_csv import RISK_DECIMALS
from genofed.common.scoring.validation import calibration_words, fitness_of, fitness_words, unfit_words


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


def note_fitness(model: ModelFile, row_notes: list[list[str]]) -> None:
    """Start every person's notes with `fitness_row_note`, then `calibration_row_note`, when there
    are any: what the whole file rests on comes before what one person's row does."""
    for note in (fitness_row_note(model), calibration_row_note(model)):
        if note is not None:
            for notes in row_notes:
                notes.append(note)


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
