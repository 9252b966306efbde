"""Risk scores of new people from a model file: what `genofed predict` computes, offline.

The people are read as `genofed.common.scoring.people` reads them (`model_people`: the genotypes
aligned to the model's own panel, a file covering too little of it refused; then encoded with the
constants the model file records, `SCORE_ROWS` people at a time), as a hospital's training data is.
Nothing here opens a network connection: a hospital can score its own new patients on a machine
with no network at all.

Per person: the risk (the model's score, rounded: not a calibrated probability unless the run's
report says so, `verdict_notes.risk_note`), its percentile in the training population (the model
file's risk distribution, when it has one; a whole number clipped to 1-99), the high/low call at
the model's operating threshold or at one the user gives (`--threshold`), the share of panel
variants the person has a call for (their call rate), how many panel variants were imputed, and
per-person notes. A person whose call rate is under the minimum (`min_call_rate`,
`DEFAULT_MIN_CALL_RATE` unless given: never the file's `min_coverage`, so letting a sparse file
through does not let its people through) gets no risk, percentile or call: `no call`, the reason in
the notes. Everyone else is scored.

This module scores and writes; what is said beside the scores lives with its own concept:

- `risks_csv`: the rows (`Predictions`) and how risks.csv shows them.
- `verdict_notes`: the run report's fitness verdict and the calibration verdict, on every row and
  once (`fitness_row_note`, `fitness_warning`, `calibration_row_note`, `risk_note`).
- `person_notes`: one person's call rate, imputed covariates, and age or sex outside the population
  the model was validated on (`ModelFile.validated_on`, `genofed.common.scoring.validation`).
- `threshold_words`: the threshold in words, with its validation and test-cohort figures.
- `percentile_words`: why percentiles are withheld, and whom they are relative to.
- `risks_provenance`: risks.csv.json, which `write_predictions` writes next to risks.csv, so that a
  CSV can be told apart from another once the terminal is closed.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from genofed.common.data.cohort import MISSING, Cohort
from genofed.common.data.panel import MIN_COVERAGE
from genofed.common.model.network import predict_proba
from genofed.common.scoring.model_file import ModelFile
from genofed.common.scoring.operating import exact_counts, percentiles, percentiles_shown
from genofed.common.scoring.people import DEFAULT_MIN_CALL_RATE, encoded_rows, model_people
from genofed.common.scoring.percentile_words import reference_population, withheld_percentiles_note
from genofed.common.scoring.person_notes import (
    note_called_without,
    note_covariates,
    note_population,
    note_uncalled,
)
from genofed.common.scoring.risks_csv import Predictions
from genofed.common.scoring.risks_provenance import PROVENANCE_FORMAT, sidecar_path
from genofed.common.scoring.threshold_words import (
    chosen_prevalence,
    figures_at,
    given_threshold_detail,
    model_threshold_detail,
    threshold_figures_recorded,
    unused_prevalence_note,
)
from genofed.common.scoring.verdict_notes import note_fitness, risk_note
from genofed.common.util.atomic import write_text_atomic

#: How many people `predict_file` encodes and scores at a time (`_risks`): `predict_proba`'s batch.
SCORE_ROWS = 1024
#: An AUC over fewer people than this is printed with a caveat (`rough_auc_caveat`): `genofed
#: predict`'s AUC over the labelled people and `genofed adapt`'s comparison on its validation
#: patients alike; a handful of people move it by tenths.
ROUGH_AUC_BELOW = 50


def rough_auc_caveat(people: int, what: str = "estimate") -> str:
    """The caveat printed after an AUC over fewer than `ROUGH_AUC_BELOW` people, "(few patients: a
    rough estimate)" (`what` "comparison" where two models' AUCs are compared), with its leading
    space; "" otherwise. One rule for every AUC printed, so `predict` and `adapt` agree."""
    return f" (few patients: a rough {what})" if people < ROUGH_AUC_BELOW else ""


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
            `risks_csv.NO_CALL` and no risk or percentile.
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
    where = chosen_prevalence(model, prevalence)
    if threshold is not None and recorded is not None and math.isclose(threshold, float(recorded)):
        # the model's own, typed in: its recorded rates apply (a walkthrough's --threshold 0.70 was
        # said to have unknown sensitivity and specificity)
        source = "--threshold"
        detail = "given with --threshold, equal to " + model_threshold_detail(model, where)
    elif threshold is not None:
        source, detail = "--threshold", given_threshold_detail(recorded, model, threshold, where)
    elif recorded is not None:
        threshold, source, detail = float(recorded), "model", model_threshold_detail(model, where)
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
    carried = where is not None and (
        (quoted and threshold_figures_recorded(model) is not None) or given_known
    )
    if prevalence is not None and not carried:
        notes.append(unused_prevalence_note(model, threshold is not None and not quoted, threshold))
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
    elif not percentiles_shown(distribution, exact=exact_counts(model.operating, model.provenance)):
        notes.append(withheld_percentiles_note(model, distribution))
        distribution = None
    if alignment.swapped:
        notes.append(
            f"{alignment.swapped} panel variants have REF/ALT swapped in the file: their dosages were flipped"
        )
    row_notes = [[] for _ in range(cohort.n_samples)]
    note_fitness(model, row_notes)
    note_uncalled(coverage, min_call_rate, row_notes, notes)
    note_covariates(model, cohort, row_notes, notes)
    if blind:
        note_called_without(covariates, coverage >= min_call_rate - 1e-12, row_notes)
    outside = note_population(model, cohort, row_notes, notes)
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


def write_predictions(
    path: str | Path, predictions: Predictions, provenance: dict[str, Any] | None = None
) -> Path:
    """Write risks.csv atomically and, with `provenance` (`risks_provenance.provenance_record`), then its
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
