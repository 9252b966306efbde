"""Risk scores of new people from a model file: what `genofed predict` computes, offline.

The genotypes go through the same path as a hospital's training data: any format
`read_genotypes` reads, aligned to the model's own panel (`align_to_panel`: panel order, REF/ALT
swaps flipped, absent variants and missing calls imputed as the expected dosage), a file
covering too little of the panel refused, then encoded with the constants the model file records
(`ModelFile.feature_spec`). Nothing here opens a network connection: a hospital can score its
own new patients on a machine with no network at all.

Per person: the risk (the model's predicted probability), its percentile in the training
population (the model file's risk distribution, when it has one), the high/low call at the
model's operating threshold (when it has one), the share of panel variants the person has a
call for, and how many panel variants were imputed.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from genofed.common.data.checks import join_cohort
from genofed.common.data.cohort import MISSING, Cohort
from genofed.common.data.features import encode
from genofed.common.data.layout import table_columns
from genofed.common.data.panel import Alignment, align_to_panel
from genofed.common.data.readers import read_covariates, read_genotypes, read_phenotypes
from genofed.common.data.readers.phenotypes import ID_COLUMN, MISSING_VALUES, binary_columns
from genofed.common.data.readers.phenotypes import _labels as parse_labels  # the reader's label codings
from genofed.common.data.readers.phenotypes import _read as phenotype_table  # the reader's table rules
from genofed.common.errors import DataError
from genofed.common.model.metrics import binary_metrics
from genofed.common.model.network import predict_proba
from genofed.common.scoring.model_file import ModelFile, ModelFileError
from genofed.common.scoring.operating import percentiles
from genofed.common.util.atomic import write_text_atomic

#: The columns of risks.csv, in order (`label` only when phenotypes were given).
COLUMNS = ("sample_id", "risk", "percentile", "call", "coverage", "imputed")


@dataclass
class Predictions:
    """One row per person, in genotype-file order, and what the user must know about them.

    `percentiles` / `calls`: None when the model file has no risk distribution / threshold.
    `labels`: None without a label column. `labelled`: who has a label (a new patient's may be
    empty: no diagnosis yet); None means everyone with `labels`. `notes`: what was assumed or is
    missing, said once.
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

    @property
    def calls(self) -> list[str] | None:
        """ "high" where risk >= threshold, else "low" (the release's bins put the edge in the
        upper bin); None without a threshold."""
        if self.threshold is None:
            return None
        return ["high" if r >= self.threshold else "low" for r in self.risks]

    @property
    def n_labelled(self) -> int:
        """How many people have a label (0 without a label column)."""
        if self.labels is None:
            return 0
        return len(self.labels) if self.labelled is None else int(np.sum(self.labelled))

    def auc(self) -> float | None:
        """The AUC against the labels of the people who have one (None without labels or with one
        class only); the same computation as results.json's `test_auc`. A person without a label
        (a new patient, no diagnosis yet) is scored but not counted here."""
        if self.labels is None:
            return None
        known = np.ones(len(self.labels), dtype=bool) if self.labelled is None else self.labelled
        return binary_metrics(self.labels[known], self.risks[known])["auc"]

    def to_csv(self) -> str:
        """risks.csv: `COLUMNS`, then `label` when known; empty cells where a value does not exist."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([*COLUMNS, *(["label"] if self.labels is not None else [])])
        calls = self.calls
        for i, sample in enumerate(self.sample_ids):
            row = [
                sample,
                repr(float(self.risks[i])),
                "" if self.percentiles is None else f"{self.percentiles[i]:.1f}",
                "" if calls is None else calls[i],
                f"{self.coverage[i]:.4f}",
                int(self.imputed[i]),
            ]
            if self.labels is not None:
                known = self.labelled is None or bool(self.labelled[i])
                row.append(int(self.labels[i]) if known else "")
            writer.writerow(row)
        return buffer.getvalue()


def predict_file(
    model: ModelFile,
    genotypes: str | Path,
    *,
    phenotypes: str | Path | None = None,
    label_column: str = "label",
    min_coverage: float = 0.9,
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

    A person whose label is empty is scored and gets an empty label: only the labelled count
    towards the AUC (`Predictions.auc`).

    Raises:
        ModelFileError: a model that does not score a binary risk or whose config does not fit
            its panel. DataError: an unreadable file, samples not in both files, a file covering
            too little of the panel.
    """
    people = encoded_cohort(
        model,
        genotypes,
        phenotypes,
        label_column=label_column,
        min_coverage=min_coverage,
        missing_labels=True,
    )
    cohort, notes, alignment = people.cohort, people.notes, people.alignment
    called = cohort.dosages != MISSING
    risks = predict_proba(model.build(), people.features)
    threshold = (model.operating.get("threshold") or {}).get("threshold")
    distribution = model.operating.get("risk_distribution")
    if threshold is None:
        notes.append(
            "no operating threshold in the model file: the call column is empty"
            + (f" ({model.operating['threshold_note']})" if model.operating.get("threshold_note") else "")
        )
    if distribution is None:
        notes.append(
            "no training-population risk distribution in the model file: the percentile column is empty"
        )
    if alignment.swapped:
        notes.append(
            f"{alignment.swapped} panel variants have REF/ALT swapped in the file: their dosages were flipped"
        )
    return Predictions(
        sample_ids=list(cohort.sample_ids),
        risks=risks,
        coverage=called.mean(axis=1) if called.shape[1] else np.zeros(len(risks)),
        imputed=(~called).sum(axis=1),
        alignment=alignment,
        threshold=None if threshold is None else float(threshold),
        percentiles=None if distribution is None else percentiles(distribution, risks),
        labels=cohort.labels if people.labelled else None,
        labelled=people.known if people.labelled else None,
        notes=notes,
    )


@dataclass
class EncodedCohort:
    """People read for a model: the cohort aligned to the model's panel, its encoded features
    (`encode` with the model's constants), the alignment, whether labels were read, and notes.
    `known`: who has a label (all True unless `missing_labels` let some be empty; their entry in
    `cohort.labels` is 0 and means nothing)."""

    cohort: Cohort
    features: np.ndarray
    alignment: Alignment
    labelled: bool
    notes: list[str]
    known: np.ndarray | None = None


def encoded_cohort(
    model: ModelFile,
    genotypes: str | Path,
    phenotypes: str | Path | None = None,
    *,
    label_column: str = "label",
    min_coverage: float = 0.9,
    missing_labels: bool = False,
) -> EncodedCohort:
    """Read `genotypes` (and `phenotypes`) for `model` as `predict_file` does; shared with
    `genofed adapt`, which fits on a hospital's labelled patients (and so keeps `missing_labels`
    False: there an empty label is refused). Raises as `predict_file`."""
    _require_scoring_model(model)
    cohort, notes, labelled, known = _cohort(genotypes, phenotypes, label_column, model, missing_labels)
    aligned, alignment = align_to_panel(
        cohort.dosages, cohort.variant_ids, model.panel, source=cohort.genotype_source, min_coverage=0.0
    )
    _require_coverage(alignment, cohort.genotype_source, min_coverage)
    cohort = replace(cohort, dosages=aligned, variant_ids=list(model.panel.variant_ids))
    return EncodedCohort(cohort, encode(model.feature_spec(), cohort), alignment, labelled, notes, known)


#: What to check when a file covers too little of the panel (as a hospital's check says it).
_COVERAGE_HINT = (
    "check that the genome build and chromosome names match the panel (ids are chrom:pos:ref:alt, e.g. "
    "1:12345:A:G)"
)


def _require_coverage(alignment: Alignment, source: str, min_coverage: float) -> None:
    """Refuse (DataError on `source`) a file covering less than `min_coverage` of the model's panel,
    naming the option that lowers it (`--min-coverage` of `predict` and `adapt`), and a file with no
    panel variant at all whatever `min_coverage` is: every person would be scored on imputed
    values only and get the same risk, which is no prediction."""
    covered = alignment.matched + alignment.swapped
    if covered == 0:
        raise DataError(
            source,
            f"none of the model's {alignment.panel_variants} panel variants is in this file (of its "
            f"{alignment.site_variants} variants): everyone would get the same risk",
            hint=f"{_COVERAGE_HINT}; --min-coverage cannot lower this",
        )
    if alignment.coverage < min_coverage:
        raise DataError(
            source,
            f"covers only {alignment.coverage:.1%} of the model's {alignment.panel_variants} panel variants "
            f"({alignment.matched} matched, {alignment.swapped} with REF/ALT swapped); the minimum is "
            f"{min_coverage:.0%}",
            hint=f"{_COVERAGE_HINT}, or lower the minimum with --min-coverage SHARE if the federation agrees "
            "(absent variants are imputed with the panel frequency)",
        )


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
) -> tuple[Cohort, list[str], bool, np.ndarray | None]:
    """The people to score with their covariates (joined with the phenotypes when given), what
    was assumed about covariates, whether the labels are known (a phenotype file with the
    label column), and who has a label (None: everyone, or no labels read)."""
    matrix = read_genotypes(genotypes)
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
    if labelled and not missing_labels:
        cohort = join_cohort(matrix, read_phenotypes(phenotypes, label_column=label_column))
    else:  # new patients, some or all without a diagnosis: their covariates, and the labels there are
        cohort = join_cohort(matrix, read_covariates(phenotypes, label_column=label_column))
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
    for name in covariates:
        lowered = {str(c).lower(): c for c in cohort.covariates.columns}
        column = lowered.get(name.lower())
        unknown = (
            cohort.n_samples
            if column is None
            else int(pd.to_numeric(cohort.covariates[column], errors="coerce").isna().sum())
        )
        if unknown:
            similar = [str(c) for c in cohort.covariates.columns if name.lower() in str(c).lower()]
            rename = (
                f" (the file has no column '{name}' but has {', '.join(similar)}: if that is it, rename it "
                f"to '{name}' and run again)"
                if column is None and similar
                else ""
            )
            notes.append(
                f"covariate {name} unknown for {unknown} of {cohort.n_samples} people: encoded as in "
                "training for an unknown value, so their risks and calls differ from what they are with it"
                + rename
            )
    return cohort, notes, labelled, known


def _labels_where_known(path: Path, column: str, sample_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(labels, known) for `sample_ids` from `column` of the phenotype file at `path`: an empty
    (or NA, -9) label is a person without a diagnosis yet, not an error; every label given is held to
    the reader's codings (0/1, case/control; PLINK's 1/2 refused), with its errors."""
    frame = phenotype_table(path)
    ids = frame[ID_COLUMN].str.strip()
    text = frame[column].str.strip().str.lower()
    given = ~(text.isin(MISSING_VALUES) | (text == "-9"))
    lines = frame.index.to_numpy()
    parsed = parse_labels(path, frame[column][given], lines[given.to_numpy()], ids[given].tolist(), column)
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


def write_predictions(path: str | Path, predictions: Predictions) -> Path:
    """Write risks.csv atomically (the caller decides whether an existing file may be replaced)."""
    path = Path(path)
    write_text_atomic(path, predictions.to_csv())
    return path
