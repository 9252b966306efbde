"""Phenotype tables: one row per sample with `sample_id`, a binary label and optional covariates.

Codings (chosen so that no value is guessed):
- label: 1 / `case` = case, 0 / `control` = control (case-insensitive). PLINK's 1/2 coding is
  refused, not translated: in a 0/1 file "1" means case, in a PLINK file it means control, and
  guessing wrong flips every label without any error.
- sex: M / male / 0 -> 0 (male); F / female / 1 -> 1 (female). PLINK's 2 is refused for the same
  reason.
- every other covariate (age, pc1..pc10, ...) must be numeric.
- an empty / NA covariate is kept as NaN (validation warns about it); an empty label is an error,
  since a sample without a label cannot be trained on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from genofed.common.cohort import Phenotypes
from genofed.common.errors import DataError
from genofed.common.readers._files import require_file
from genofed.common.readers.table import separator

ID_COLUMN = "sample_id"
FIRST_DATA_LINE = 2  # line 1 is the header
MISSING_VALUES = {"", "na", "nan", "n/a", "null", "none", "."}
LABELS = {"0": 0, "control": 0, "1": 1, "case": 1}
SEXES = {"m": 0, "male": 0, "0": 0, "f": 1, "female": 1, "1": 1}
LABEL_HINT = "use 1 (or 'case') for cases and 0 (or 'control') for controls"


def read_phenotypes(path: str | Path, label_column: str = "label") -> Phenotypes:
    """Labels and covariates from a CSV (TSV for .tsv/.txt), in file order; see the module codings."""
    path = require_file(path, "phenotype")
    frame = _read(path)
    _require_columns(path, frame, label_column)
    lines = frame.index.to_numpy() + FIRST_DATA_LINE
    samples = _sample_ids(path, frame[ID_COLUMN], lines)
    labels = _labels(path, frame[label_column], lines, samples, label_column)
    covariates = pd.DataFrame(index=pd.Index(samples, name=ID_COLUMN))
    for column in frame.columns.drop([ID_COLUMN, label_column]):
        parse = _sex if column.lower() == "sex" else _numeric
        covariates[column] = parse(path, frame[column], lines, samples, column)
    return Phenotypes(samples, labels, covariates, source=str(path))


def read_classes(path: str | Path, column: str) -> tuple[list[str], list[str]]:
    """(sample ids, class names) from a categorical column, e.g. ancestry for pretraining."""
    path = require_file(path, "phenotype")
    frame = _read(path)
    _require_columns(path, frame, column)
    lines = frame.index.to_numpy() + FIRST_DATA_LINE
    samples = _sample_ids(path, frame[ID_COLUMN], lines)
    classes = frame[column].str.strip()
    for value, line, sample in zip(classes, lines, samples):
        if value.lower() in MISSING_VALUES:
            raise DataError(path, f"no class in column {column}", location=f"line {line}, sample {sample}",
                            hint="every sample needs a class; remove samples without one")
    return samples, classes.tolist()


def _read(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, sep=separator(path), dtype=str, keep_default_na=False, encoding="utf-8-sig",
                            skip_blank_lines=False, index_col=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read as a {'CSV' if separator(path) == ',' else 'TSV'} table ({exc})",
                        hint="phenotypes must be a comma-separated .csv (or tab-separated .tsv) with a header "
                             "line; a line with too many fields is the usual cause") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.fillna("")
    return frame[(frame != "").any(axis=1)]


def _require_columns(path: Path, frame: pd.DataFrame, label_column: str) -> None:
    for column in (ID_COLUMN, label_column):
        if column not in frame.columns:
            raise DataError(path, f"no '{column}' column; found columns {list(frame.columns)}", location="line 1",
                            hint=f"the header needs '{ID_COLUMN}' and '{label_column}' (or pass the label "
                                 "column's name)")


def _sample_ids(path: Path, ids: pd.Series, lines: np.ndarray) -> list[str]:
    ids = ids.str.strip()
    first_seen: dict[str, int] = {}
    for sample, line in zip(ids, lines):
        if sample == "":
            raise DataError(path, "empty sample_id", location=f"line {line}", hint="every row needs a sample id")
        if sample in first_seen:
            raise DataError(path, f"sample {sample} appears twice (lines {first_seen[sample]} and {line})",
                            location=f"line {line}", hint="keep one row per sample")
        first_seen[sample] = int(line)
    return ids.tolist()


def _labels(path: Path, values: pd.Series, lines: np.ndarray, samples: list[str], column: str) -> np.ndarray:
    text = values.str.strip().str.lower()
    if (text == "2").any():
        line = lines[np.flatnonzero((text == "2").to_numpy())[0]]
        raise DataError(path, f"label '2' in column {column}: this looks like PLINK coding (1 = control, "
                        "2 = case), which genofed does not guess", location=f"line {line}",
                        hint=f"recode to 0/1 (PLINK 1 -> 0, 2 -> 1); {LABEL_HINT}")
    for value, raw, line, sample in zip(text, values, lines, samples):
        if value in MISSING_VALUES or value == "-9":
            raise DataError(path, f"label is missing in column {column}", location=f"line {line}, sample {sample}",
                            hint=f"{LABEL_HINT}; remove samples without a diagnosis")
        if value not in LABELS:
            raise DataError(path, f"label {raw.strip()!r} in column {column} is not binary",
                            location=f"line {line}, sample {sample}", hint=LABEL_HINT)
    return text.map(LABELS).to_numpy(dtype=np.int8)


def _sex(path: Path, values: pd.Series, lines: np.ndarray, samples: list[str], column: str) -> np.ndarray:
    text = values.str.strip().str.lower()
    for value, raw, line, sample in zip(text, values, lines, samples):
        if value not in SEXES and value not in MISSING_VALUES:
            plink = " (PLINK's 1 = male, 2 = female coding is not guessed)" if value == "2" else ""
            raise DataError(path, f"sex {raw.strip()!r} is not recognised{plink}",
                            location=f"line {line}, sample {sample}, column {column}",
                            hint="use M/F, male/female, or 0 = male / 1 = female; leave empty if unknown")
    return text.map(SEXES).to_numpy(dtype=float)


def _numeric(path: Path, values: pd.Series, lines: np.ndarray, samples: list[str], column: str) -> np.ndarray:
    text = values.str.strip()
    missing = text.str.lower().isin(MISSING_VALUES)
    numbers = pd.to_numeric(text.where(~missing), errors="coerce")
    bad = np.flatnonzero((numbers.isna() & ~missing).to_numpy())
    if len(bad):
        row = bad[0]
        raise DataError(path, f"value {text.iloc[row]!r} in covariate column {column} is not a number",
                        location=f"line {lines[row]}, sample {samples[row]}, column {column}",
                        hint="covariates must be numeric (leave empty if unknown); encode categories as 0/1 columns")
    return numbers.to_numpy(dtype=float)
