"""People read for a model file: their genotypes aligned to the model's panel and encoded with
its constants, their covariates and, when known, their labels; shared by `genofed predict`
(`genofed.common.scoring.predict`), which scores them, and `genofed adapt`, which fits on them.

The genotypes go through the same path as a hospital's training data: any format
`read_genotypes` reads, aligned to the model's own panel (`align_to_panel`: panel order, REF/ALT
swaps flipped, absent variants and missing calls imputed as the expected dosage), a file covering
too little of the panel refused (`min_coverage`), then encoded with the constants the model file
records (`ModelFile.feature_spec`): all at once for `adapt` (`encoded_cohort`), a batch at a time
for `predict` (`model_people`, then `encoded_rows`: a hospital scoring thousands of people on a
genome-wide panel would otherwise hold people x variants floats). A person may lack a label (a new
patient, `missing_labels`) or a covariate; what is assumed about them is said in the notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from genofed.common.data.checks import join_cohort, phenotypes_without_genotypes
from genofed.common.data.cohort import Cohort
from genofed.common.data.features import encode
from genofed.common.data.layout import table_columns
from genofed.common.data.panel import (
    MIN_COVERAGE,
    VARIANTS_ONLY_HINT,
    VARIANTS_ONLY_PROBLEM,
    Alignment,
    align_to_panel,
    looks_variants_only,
)
from genofed.common.data.readers import read_covariates, read_genotypes, read_phenotypes
from genofed.common.data.readers.phenotypes import ID_COLUMN, MISSING_VALUES, binary_columns
from genofed.common.data.readers.phenotypes import _labels as parse_labels  # the reader's label codings
from genofed.common.data.readers.phenotypes import _read as phenotype_table  # the reader's table rules
from genofed.common.data.variants import RENAME_HINT, contigs_side_by_side, id_contigs, panel_sites
from genofed.common.errors import DataError
from genofed.common.scoring.model_file import ModelFile, ModelFileError

#: The least share of the panel's genotypes a person must have called to be scored (`--min-call-rate`),
#: unless given: on its own, not the file's `--min-coverage`, so that lowering the file's minimum to
#: let a sparse file through does not, in silence, score people on mostly imputed genotypes.
DEFAULT_MIN_CALL_RATE = 0.9
#: Why people are read (`encoded_cohort`): to be scored (`predict_file`) or to fit on (`genofed adapt`).
Purpose = Literal["score", "fit"]
#: What an unknown covariate does, said where the people whose value is unknown are counted
#: (`encoded_cohort`'s `purpose`): scoring marks each of them in risks.csv's notes column; fitting
#: (`genofed adapt`) writes no per-person file.
UNKNOWN_COVARIATE_EFFECT: dict[Purpose, str] = {
    "score": "so their risks and calls differ from what they are with it (marked in the notes column)",
    "fit": "so the adapted model cannot use it for them",
}


def minimum_text(share: float) -> str:
    """A minimum share as percent, exactly as given (0.9 "90%", 0.905 "90.5%")."""
    return f"{100 * share:.4g}%"


@dataclass
class ModelPeople:
    """People read for a model: the cohort aligned to the model's panel, the alignment, whether
    labels were read, and notes. `known`: who has a label (all True unless `missing_labels` let
    some be empty; their entry in `cohort.labels` is 0 and means nothing)."""

    cohort: Cohort
    alignment: Alignment
    labelled: bool
    notes: list[str]
    known: np.ndarray | None = None


@dataclass
class EncodedCohort(ModelPeople):
    """`ModelPeople` with everyone's features (`encode` with the model's constants)."""

    features: np.ndarray = field(kw_only=True)


def encoded_rows(model: ModelFile, cohort: Cohort, rows: slice) -> np.ndarray:
    """The features (`encode` with `model`'s constants) of `cohort`'s people in `rows` only."""
    part = replace(
        cohort,
        dosages=cohort.dosages[rows],
        sample_ids=cohort.sample_ids[rows],
        labels=cohort.labels[rows],
        covariates=cohort.covariates.iloc[rows],
    )
    return encode(model.feature_spec(), part)


def encoded_cohort(
    model: ModelFile, genotypes: str | Path, phenotypes: str | Path | None = None, **options: Any
) -> EncodedCohort:
    """`model_people` (`options`: its keywords) with everyone's features: `genofed adapt` fits on
    them all."""
    people = model_people(model, genotypes, phenotypes, **options)
    features = encode(model.feature_spec(), people.cohort)
    return EncodedCohort(**vars(people), features=features)


def model_people(
    model: ModelFile,
    genotypes: str | Path,
    phenotypes: str | Path | None = None,
    *,
    label_column: str = "label",
    min_coverage: float = MIN_COVERAGE,
    missing_labels: bool = False,
    purpose: Purpose = "score",
    min_call_rate: float | None = None,
) -> ModelPeople:
    """Read `genotypes` (and `phenotypes`) for `model` as `predict_file` does; shared with
    `genofed adapt`, which fits on a hospital's labelled patients (and so keeps `missing_labels`
    False: there an empty label is refused; and passes `purpose` "fit", so that its notes do not
    speak of risks.csv's notes column: `UNKNOWN_COVARIATE_EFFECT`). `min_call_rate`: the scoring's
    per-person minimum, which a refusal for too little coverage names (`_require_coverage`); None
    where there is none (`adapt`). Raises as `predict_file`."""
    _require_scoring_model(model)
    cohort, notes, labelled, known = _cohort(
        genotypes, phenotypes, label_column, model, missing_labels, purpose
    )
    aligned, alignment = align_to_panel(
        cohort.dosages, cohort.variant_ids, model.panel, source=cohort.genotype_source, min_coverage=0.0
    )
    _require_coverage(
        alignment,
        cohort.genotype_source,
        min_coverage,
        min_call_rate,
        cohort.variant_ids,
        model.panel.variant_ids,
        cohort.dosages,
    )
    cohort = replace(cohort, dosages=aligned, variant_ids=list(model.panel.variant_ids))
    return ModelPeople(cohort, alignment, labelled, notes, known)


#: What to check when a file covers too little of the panel (as a hospital's check says it).
_COVERAGE_HINT = (
    "check that the genome build and chromosome names match the panel (ids are chrom:pos:ref:alt, e.g. "
    "1:12345:A:G)"
)


def _require_coverage(
    alignment: Alignment,
    source: str,
    min_coverage: float,
    min_call_rate: float | None = None,
    file_ids: Sequence[str] = (),
    panel_ids: Sequence[str] = (),
    dosages: np.ndarray | None = None,
) -> None:
    """Refuse (DataError on `source`) a file covering less than `min_coverage` of the model's panel,
    naming the option that lowers it (`--min-coverage` of `predict` and `adapt`) and, when scoring
    (`min_call_rate` given), what lowering it does not change (`_lowering_hint`), and a file with no
    panel variant at all whatever `min_coverage` is: every person would be scored on imputed
    values only and get the same risk, which is no prediction: that refusal sets the file's contig
    names (`file_ids`) beside the panel's (`panel_ids`), the usual cause being a naming mismatch
    (RefSeq `NC_000001.10` for `1`) that "check the chromosome names" left the user to find.
    A file below the minimum whose `dosages` hold no homozygous-REF call is told it looks like a
    variants-only export (or a gVCF) and how to export every panel position, instead of "check the
    genome build" (an outside walkthrough's clinical-lab VCF of one patient)."""
    covered = alignment.matched + alignment.swapped
    if covered == 0:
        raise DataError(
            source,
            f"none of the model's {alignment.panel_variants} panel variants is in this file (of its "
            f"{alignment.site_variants} variants): everyone would get the same risk; "
            + contigs_side_by_side(id_contigs(file_ids), id_contigs(panel_ids)),
            hint=f"{RENAME_HINT}; --min-coverage cannot lower this",
        )
    if alignment.coverage < min_coverage:
        variants_only = dosages is not None and looks_variants_only(dosages)
        raise DataError(
            source,
            f"covers only {alignment.coverage:.1%} of the model's {alignment.panel_variants} panel variants "
            f"({alignment.matched} matched, {alignment.swapped} with REF/ALT swapped); the minimum is "
            f"{min_coverage:.0%}" + (f"; {VARIANTS_ONLY_PROBLEM}" if variants_only else ""),
            hint=_VARIANTS_ONLY_SCORING_HINT
            if variants_only
            else f"{_COVERAGE_HINT}, or lower the minimum with --min-coverage SHARE if the federation agrees "
            "(absent variants are imputed with the panel frequency)"
            + _lowering_hint(alignment, min_call_rate),
        )


#: What to do with a variants-only file (`looks_variants_only`): lowering the minimum is no answer.
_VARIANTS_ONLY_SCORING_HINT = (
    f"{VARIANTS_ONLY_HINT}; lowering --min-coverage is no answer for such a file: its absent sites, "
    "mostly 0/0 in truth, would be imputed with the panel frequency, an ordinary-looking risk"
)


def _lowering_hint(alignment: Alignment, min_call_rate: float | None) -> str:
    """What lowering --min-coverage does not change when scoring: it lets the file through, but each
    person must still have `min_call_rate` of the panel's genotypes called (`--min-call-rate`,
    which does not follow --min-coverage), and nobody has more called than the file covers, so a
    sparse file's people get no call unless --min-call-rate is lowered too, knowingly. "" for
    `genofed adapt` (None), which has no per-person minimum."""
    if min_call_rate is None:
        return ""
    hint = (
        f": that lets the file through but does not lower the per-person minimum: each person is still "
        f"scored only with at least {minimum_text(min_call_rate)} of the panel's genotypes called "
        f"(--min-call-rate, default {minimum_text(DEFAULT_MIN_CALL_RATE)} whatever --min-coverage is)"
    )
    if alignment.coverage < min_call_rate:
        hint += (
            f", and nobody in this file has more than its {alignment.coverage:.1%} called, so everyone would "
            "get 'no call'; lowering --min-call-rate too would score people mostly on imputed genotypes (the "
            "panel's average, an ordinary-looking risk)"
        )
    return hint


def _require_scoring_model(model: ModelFile) -> None:
    """A model that outputs one binary risk over its own panel and the covariates it records."""
    if model.task.kind != "binary" or model.model_config.n_outputs != 1:
        raise ModelFileError(
            f"the model predicts {model.task.kind} classes of '{model.task.label}', not a disease risk: "
            "`genofed predict` scores binary models (a federated run's model.pt, or `genofed pretrain --task "
            "binary`)"
        )
    spec = model.feature_spec()
    if model.model_config.n_variants != len(model.panel) or model.model_config.n_covariates != len(
        spec.covariates
    ):
        raise ModelFileError(
            f"the model expects {model.model_config.n_variants} variants and "
            f"{model.model_config.n_covariates} covariates, its file records a panel of {len(model.panel)} "
            f"and covariates {', '.join(spec.covariates)}: the file is inconsistent; get a fresh copy"
        )


def _cohort(
    genotypes: str | Path,
    phenotypes: str | Path | None,
    label_column: str,
    model: ModelFile,
    missing_labels: bool,
    purpose: Purpose,
) -> tuple[Cohort, list[str], bool, np.ndarray | None]:
    """The people to score with their covariates (joined with the phenotypes when given), what
    was assumed about covariates (said for `purpose`, `UNKNOWN_COVARIATE_EFFECT`), whether the
    labels are known (a phenotype file with the label column), and who has a label (None:
    everyone, or no labels read)."""
    # only the panel's positions: a record no model reads (a male's haploid chrX call) refuses nothing
    matrix = read_genotypes(genotypes, sites=panel_sites(model.panel.variant_ids))
    notes = list(matrix.notes)
    covariates = model.feature_spec().covariates
    if phenotypes is None:
        notes.append(
            f"no phenotypes: covariates {', '.join(covariates)} unknown for everyone, encoded as in training "
            "for an unknown value (sex 0.5, age the centre), so risks and calls differ from what they are "
            "with them; pass --phenotypes to use them"
        )
        frame = pd.DataFrame(index=pd.Index(matrix.sample_ids, name="sample_id"))
        labels = np.zeros(matrix.n_samples, dtype=np.int8)  # unknown: never reported
        cohort = Cohort(
            matrix.dosages, list(matrix.sample_ids), list(matrix.variant_ids), labels, frame, matrix.source
        )
        return cohort, notes, False, None
    labelled = label_column in table_columns(Path(phenotypes))
    known = None
    # only the model's covariates are read: any other column is named in one note (the reader's)
    if labelled and not missing_labels:
        pheno = read_phenotypes(phenotypes, label_column=label_column, covariates=covariates)
        cohort = join_cohort(matrix, pheno)
    else:  # new patients, some or all without a diagnosis: their covariates, and the labels there are
        pheno = read_covariates(phenotypes, label_column=label_column, covariates=covariates)
        cohort = join_cohort(matrix, pheno)
        if labelled:
            labels, known = _labels_where_known(Path(phenotypes), label_column, cohort.sample_ids)
            cohort = replace(cohort, labels=labels)
            if not known.all():
                notes.append(
                    f"{int((~known).sum())} of {len(known)} people have no '{label_column}' in {phenotypes}: "
                    f"scored, their label left empty, the AUC over the {int(known.sum())} with one"
                )
        else:
            notes.append(_no_label_note(Path(phenotypes), label_column))
    notes += pheno.notes  # the columns no model reads, with a rename hint for a look-alike
    # rows of people the genotypes do not hold (a registry export lists more): not scored, counted
    notes += [w.message for w in phenotypes_without_genotypes(matrix.sample_ids, matrix.source, pheno)]
    notes += _unknown_covariate_notes(cohort, covariates, purpose)
    return cohort, notes, labelled, known


def _unknown_covariate_notes(cohort: Cohort, covariates: Sequence[str], purpose: Purpose) -> list[str]:
    """One note per covariate of the model unknown for some people (no column, or an empty or
    non-numeric value there), with what that does (`UNKNOWN_COVARIATE_EFFECT[purpose]`). A column
    that looks like a missing one (age_years for age) is named by the reader's note."""
    notes = []
    lowered = {str(c).lower(): c for c in cohort.covariates.columns}
    for name in covariates:
        column = lowered.get(name.lower())
        unknown = (
            cohort.n_samples
            if column is None
            else int(pd.to_numeric(cohort.covariates[column], errors="coerce").isna().sum())
        )
        if unknown:
            notes.append(
                f"covariate {name} unknown for {unknown} of {cohort.n_samples} people: encoded as in "
                f"training for an unknown value, {UNKNOWN_COVARIATE_EFFECT[purpose]}"
            )
    return notes


def _labels_where_known(path: Path, column: str, sample_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(labels, known) for `sample_ids` from `column` of the phenotype file at `path`: an empty
    (or NA, -9) label is a person without a diagnosis yet, not an error; every label given is held to
    the reader's codings (0/1, case/control; PLINK's 1/2 refused), with its errors."""
    frame = phenotype_table(path)
    ids = frame[ID_COLUMN].str.strip()
    text = frame[column].str.strip().str.lower()
    given = ~(text.isin(MISSING_VALUES) | (text == "-9"))
    lines = frame.index.to_numpy()[given.to_numpy()]
    try:
        parsed = parse_labels(path, frame[column][given], lines, ids[given].tolist(), column)
    except DataError as exc:  # unlike training, a person may have no diagnosis yet: say how to write that
        raise DataError(
            exc.file,
            exc.problem,
            location=exc.location,
            hint=f"{exc.hint}; leave the label empty for a person without a diagnosis yet",
        ) from None
    by_id = dict(zip(ids[given], parsed, strict=True))
    known = np.array([sample in by_id for sample in sample_ids], dtype=bool)
    labels = np.array([by_id.get(sample, 0) for sample in sample_ids], dtype=np.int8)
    return labels, known


def _no_label_note(path: Path, label_column: str) -> str:
    """The note for a phenotype file without the label column; it names a column that looks like
    a binary label, if there is one, and the option that would use it (the reader's own suggestion)."""
    note = f"no '{label_column}' column in {path}: covariates used, no AUC"
    candidates = binary_columns(phenotype_table(path))
    if candidates:
        listed = ", ".join(repr(c) for c in candidates)
        note += (
            f"; columns that look like a binary label: {listed}: pass --label-column {candidates[0]} for one"
        )
    return note
