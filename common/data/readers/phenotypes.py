"""Phenotype tables: one row per sample with `sample_id`, a binary label and optional covariates.

Only the columns a model reads are parsed: `sample_id`, the label and the model's covariates
(`MODEL_COVARIATES`: sex and age; every model genofed builds encodes those two, see
`genofed.common.data.features.FeatureSpec`). Any other column (ancestry PCs, BMI, a `population`
text column) is left unread, so it can neither block a file nor be believed to adjust the risk:
the reader names such columns in one note (`Phenotypes.notes`) for the caller to print.

Codings (chosen so that no value is guessed):
- label: 1 / `case` = case, 0 / `control` = control (case-insensitive). PLINK's 1/2 coding is
  refused, not translated: in a 0/1 file "1" means case, in a PLINK file it means control, and
  guessing wrong flips every label without any error. yes/no, the Russian да/нет (a registry's
  "Заболевание: да/нет") and true/false are refused too, with the mapping to make: which answer is
  the case is not guessed, since the column may ask "healthy?" as well as "ill?", and reading it the
  wrong way flips every label without any error; -9 is named as PLINK's missing code.
- sex: M / male / 0 -> 0 (male); F / female / 1 -> 1 (female); the Russian М / муж / муж. /
  мужской and Ж / жен / жен. / женский likewise. PLINK's 2 is refused for the same
  reason. U / unknown (any case; неизвестно) is a missing sex, as an empty cell is: a registry's
  export writes it for a patient whose sex is not recorded, and the model imputes it.
- in both, 0 and 1 may be written as decimals equal to them exactly (`0.0`, `1.0`, `1.00`): pandas
  and Excel write a 0/1 column so once it has held a missing value. Nothing else is rounded: 0.5,
  2.0, `1.` or `1e0` are refused as before.
- every other covariate a model reads (age) must be numeric, with a point as the decimal mark: a
  decimal comma (`14,5`) or a unit (`14 лет`, `14 years`) is refused, with what to write instead.
- sample ids: exactly as written, surrounding spaces included (see `_sample_ids`).
- one column per covariate and label: `sex` and `Sex` together are refused, since names are matched
  case-insensitively and one would be read and the other silently not.
- an empty / NA covariate is kept as NaN (validation warns about it); an empty label is an error,
  since a sample without a label cannot be trained on.

Covariate ranges (a value outside is refused, never clipped: it is a typing or unit error, or a
missing-value code such as -9 or 999, and a single age of 1e400 once reached training as
infinity and made a site send NaN model weights):
- age: years, finite, from 0 to 120 (`AGE_RANGE`); fractions (0.5 for six months) are fine.
- sex: 0 or 1 after the coding above.
- any other numeric covariate (only for a model that records more than sex and age, or a cohort
  built in code): finite, with |value| <= 1e6 (`COVARIATE_LIMIT`); larger values overflow or swamp
  float32 training and mean the column needs rescaling.

The file itself is held to the same text rules as every input (`iter_lines`: UTF-8 with an
optional BOM, intact gzip if compressed, no control characters), and every row must have exactly
the header's number of fields: pandas would pad a short row with empty values, silently turning a
lost field into a "missing covariate" warning.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from genofed.common.data.cohort import Phenotypes
from genofed.common.data.features import FeatureSpec
from genofed.common.data.readers._files import damage_first, examples, header_line, iter_lines, require_file
from genofed.common.data.readers.table import check_separator, separator
from genofed.common.errors import DataError

ID_COLUMN = "sample_id"
MISSING_VALUES = {"", "na", "nan", "n/a", "null", "none", "."}
#: Label words, lower case: the answer to "does this person have the disease?" (see the module docstring).
LABELS = {"0": 0, "control": 0, "1": 1, "case": 1}
#: Sex codes, lower case: 0 = male, 1 = female; with the Russian М/Ж (мужской / женский), which the
#: federation's clinics write.
SEXES = {
    "m": 0,
    "male": 0,
    "0": 0,
    "f": 1,
    "female": 1,
    "1": 1,
    "м": 0,
    "муж": 0,
    "муж.": 0,
    "мужской": 0,
    "ж": 1,
    "жен": 1,
    "жен.": 1,
    "женский": 1,
}
#: Sex written as unknown (lower case; the Russian неизвестно too): read as a missing sex, as an
#: empty cell is, which the model imputes. (A PLINK .fam's sex 0 is another matter: see `plink`.)
UNKNOWN_SEXES = {"u", "unknown", "неизвестно"}
#: Said whenever a sex column holds 0 or 1: other conventions code 1 = male (UK Biobank: 0 = female).
NUMERIC_SEX_NOTE = (
    "sex column {column} holds 0/1 codes, read as 0 = male, 1 = female (genofed's coding); if this file "
    "codes 1 = male (as UK Biobank does), recode it or write M/F"
)
LABEL_HINT = "use 1 (or 'case') for cases and 0 (or 'control') for controls"
#: Yes/no-style labels, each with its counterpart: refused (not guessed), with the mapping to make.
CASE_WORDS = {"yes": "no", "y": "n", "true": "false", "t": "f", "да": "нет", "д": "н"}
CONTROL_WORDS = {control: case for case, control in CASE_WORDS.items()}
#: PLINK's code for a missing phenotype.
PLINK_MISSING = "-9"
#: 0 or 1 written as a decimal (0.0, 1.00): read as that whole number; see the module docstring.
WHOLE_DECIMAL = re.compile(r"^([01])\.0+$")
#: Age in years: from birth to beyond the oldest documented human.
AGE_RANGE = (0.0, 120.0)
#: Bound on the magnitude of any other numeric covariate (ancestry PCs are below 1, BMI below 100).
COVARIATE_LIMIT = 1e6
#: The covariates every model genofed builds reads (`FeatureSpec`'s default): the only phenotype
#: columns, besides sample_id and the label, that are parsed.
MODEL_COVARIATES: tuple[str, ...] = FeatureSpec(alt_freq=()).covariates


def label_column_problem(label_column: str) -> str | None:
    """Why `label_column` cannot be the disease column, or None: the sample id column is no 0/1
    column, and a model covariate (sex, age) is read as an input too, so the model would predict its
    own input (an outside walkthrough got test AUC 0.998 and "minimum checks passed" with sex)."""
    if label_column == ID_COLUMN:
        return f"cannot be {ID_COLUMN}, the sample id column: name the 0/1 disease column"
    if label_column.lower() in MODEL_COVARIATES:
        return (
            f"cannot be {label_column}: every model reads {' and '.join(MODEL_COVARIATES)} as inputs, so it "
            "would predict its own input; name the 0/1 disease column"
        )
    return None


#: Column names that suggest a model covariate under another name, for the rename hint of
#: `unused_columns_note` (a name containing the covariate's own name always does): English, and
#: the Russian headers of the district's clinics (пол = sex, возраст = age; an outside walkthrough
#: saw `Пол` and `Возраст` only "not used", and the model imputed every patient's sex and age).
LOOK_ALIKES = {"sex": ("gender", "пол"), "age": ("возраст",)}
#: Parts of column names that hold a date of birth, which a registry exports instead of an age
#: (Russian `Дата рождения`): named with what to compute, since the model reads age in years.
BIRTH_DATE = ("birth", "dob", "рожд")
#: Parts of column names that hold direct identifiers (a patient's name, a document number, contact
#: details; the Russian ФИО, СНИЛС, паспорт...): never read, but named, since the file then stays
#: identifiable wherever it is copied (a walkthrough's registry export carried `ФИО`).
DIRECT_IDENTIFIERS = (
    "фио",
    "фамил",
    "отчеств",
    "снилс",
    "паспорт",
    "полис",
    "телефон",
    "адрес",
    "surname",
    "full_name",
    "fullname",
    "patient_name",
    "first_name",
    "last_name",
    "snils",
    "passport",
    "phone",
    "address",
    "email",
)


def read_phenotypes(
    path: str | Path, label_column: str = "label", covariates: Sequence[str] = MODEL_COVARIATES
) -> Phenotypes:
    """Labels and the model's `covariates` from a CSV (TSV for .tsv/.txt), in file order; see the
    module codings. Other columns are not read, only named (`unused_columns`, `notes`)."""
    path = require_file(path, "phenotype")
    frame = _read(path)
    _require_columns(path, frame, label_column)
    _check_one_column_each(path, list(frame.columns), [label_column, *covariates])
    lines = frame.index.to_numpy()
    samples = _sample_ids(path, frame[ID_COLUMN], lines)
    labels = _labels(path, frame[label_column], lines, samples, label_column)
    return _with_covariates(path, frame, lines, samples, labels, label_column, covariates)


def read_covariates(
    path: str | Path, label_column: str = "label", covariates: Sequence[str] = MODEL_COVARIATES
) -> Phenotypes:
    """The covariates of people with no diagnosis yet (new patients to score): like
    `read_phenotypes`, but the label column may be absent; if present it is left unread.
    The returned `labels` are all 0 and mean nothing: use only `covariates`."""
    path = require_file(path, "phenotype")
    frame = _read(path)
    if ID_COLUMN not in frame.columns:
        _require_columns(path, frame, label_column)  # names what is missing
    _check_one_column_each(path, list(frame.columns), covariates)
    lines = frame.index.to_numpy()
    samples = _sample_ids(path, frame[ID_COLUMN], lines)
    labels = np.zeros(len(samples), dtype=np.int8)
    return _with_covariates(path, frame, lines, samples, labels, label_column, covariates)


def _with_covariates(
    path: Path,
    frame: pd.DataFrame,
    lines: np.ndarray,
    samples: list[str],
    labels: np.ndarray,
    label_column: str,
    covariates: Sequence[str],
) -> Phenotypes:
    """The `Phenotypes` of both readers: the model's covariates parsed, every other column (but
    sample_id and the label) left unread and named in one note."""
    read = _covariates(path, frame, lines, samples, covariates)
    unused = [c for c in frame.columns if c not in {ID_COLUMN, label_column, *read.columns}]
    notes = [unused_columns_note(unused, covariates, present=list(read.columns))] if unused else []
    notes += [
        NUMERIC_SEX_NOTE.format(column=column)
        for column in read.columns
        if column.lower() == "sex" and _codes(frame[column]).isin(("0", "1")).any()
    ]
    return Phenotypes(samples, labels, read, source=str(path), unused_columns=unused, notes=notes)


def _covariates(
    path: Path, frame: pd.DataFrame, lines: np.ndarray, samples: list[str], covariates: Sequence[str]
) -> pd.DataFrame:
    """The columns named in `covariates` (case-insensitively, as `features.encode` matches them),
    parsed by the module's codings (sex, or numeric); every other column is left unread."""
    wanted = {name.lower() for name in covariates}
    read = pd.DataFrame(index=pd.Index(samples, name=ID_COLUMN))
    for column in frame.columns:
        if column != ID_COLUMN and column.lower() in wanted:
            parse = _sex if column.lower() == "sex" else _numeric
            read[column] = parse(path, frame[column], lines, samples, column)
    return read


def unused_columns_note(unused: Sequence[str], covariates: Sequence[str], present: Sequence[str]) -> str:
    """One sentence naming the columns no model reads, so nobody believes that (say) ancestry PCs
    adjust the risk; with a rename hint where an unused column looks like a covariate the file
    lacks (`age_years` for age, `gender` for sex)."""
    columns = "column {} is" if len(unused) == 1 else "columns {} are"
    reads = f"only {_and(covariates)} as covariates" if covariates else "no covariates"
    note = (
        f"phenotype {columns.format(examples(list(unused)))} not used: the model reads {reads} (with "
        "sample_id and the label), so they are not read and change no risk"
    )
    have = {name.lower() for name in present}
    for covariate in covariates:
        similar = [c for c in unused if _looks_like(c, covariate)]
        if covariate.lower() not in have and similar:
            note += (
                f"; the file has no column '{covariate}' but has {', '.join(similar)}: if that is it, "
                f"rename it to '{covariate}'"
            )
    births = [c for c in unused if any(part in c.lower() for part in BIRTH_DATE)]
    if "age" in (c.lower() for c in covariates) and "age" not in have and births:
        note += (
            f"; the file has no column 'age' but has {', '.join(births)}: write each patient's age in years "
            "(at sampling) into an 'age' column, since the model reads an age, not a date, and imputes a "
            "missing one"
        )
    identifiers = [c for c in unused if any(part in c.lower() for part in DIRECT_IDENTIFIERS)]
    if identifiers:
        note += (
            f"; {', '.join(identifiers)} look like direct identifiers (names, document numbers, contact "
            "details): genofed never reads them, but the file stays identifiable wherever it is copied: "
            "prefer an export without them"
        )
    return note


def _looks_like(column: str, covariate: str) -> bool:
    """Whether `column` may be `covariate` under another name (`age_years`, `gender`)."""
    names = (covariate.lower(), *LOOK_ALIKES.get(covariate.lower(), ()))
    return any(name in column.lower() for name in names)


def _and(names: Sequence[str]) -> str:
    """`sex and age`; `a, b and c`; `age` (never empty: see `unused_columns_note`)."""
    *rest, last = names
    return f"{', '.join(rest)} and {last}" if rest else last


def read_classes(path: str | Path, column: str) -> tuple[list[str], list[str]]:
    """(sample ids, class names) from a categorical column, e.g. ancestry for pretraining."""
    path = require_file(path, "phenotype")
    frame = _read(path)
    _require_columns(path, frame, column, binary=False)
    lines = frame.index.to_numpy()
    samples = _sample_ids(path, frame[ID_COLUMN], lines)
    classes = frame[column].str.strip()
    for value, line, sample in zip(classes, lines, samples, strict=False):
        if value.lower() in MISSING_VALUES:
            raise DataError(
                path,
                f"no class in column {column}",
                location=f"line {line}, sample {sample}",
                hint="every sample needs a class; remove samples without one",
            )
    return samples, classes.tolist()


def _read(path: Path) -> pd.DataFrame:
    """Every field as a string, indexed by file line; blank rows (and Excel's `,,,` rows) dropped."""
    sep = separator(path)
    rows, numbers = [], []
    with damage_first(path):
        lines = iter_lines(path)
        number, line = header_line(path, lines, "phenotype")
        header = [name.strip() for name in _split(path, number, line, sep)]
        check_separator(path, header, sep, line)
        _check_header(path, header)
        for number, line in lines:
            fields = _split(path, number, line, sep)
            if not any(field.strip() for field in fields):
                continue
            if len(fields) != len(header):
                sample = f", sample {fields[0].strip()}" if fields[0].strip() else ""
                raise DataError(
                    path,
                    f"this row has {len(fields)} fields but the header has {len(header)}",
                    location=f"line {number}{sample}",
                    hint=f"every row needs one value per column, separated by {sep!r}; leave a value "
                    f"empty if it is unknown (e.g. P1{sep}1{sep}{sep}40)",
                )
            rows.append(fields)
            numbers.append(number)
    return pd.DataFrame(rows, columns=header, index=pd.Index(numbers, dtype=int), dtype=str)


def _split(path: Path, number: int, line: str, sep: str) -> list[str]:
    """The fields of one line, quotes honoured; a quote must close on its line."""
    try:
        return next(csv.reader([line], delimiter=sep, strict=True), [])
    except csv.Error as exc:
        raise DataError(
            path,
            f"cannot read this line as {'CSV' if sep == ',' else 'TSV'} ({exc})",
            location=f"line {number}",
            hint='a value that opens a quote (") must close it on the same line',
        ) from None


def _check_header(path: Path, header: list[str]) -> None:
    """Every column named, once: a nameless or repeated column cannot be told apart."""
    seen: dict[str, int] = {}
    for column, name in enumerate(header, start=1):
        if not name:
            raise DataError(
                path,
                f"column {column} of the header has no name",
                location="line 1",
                hint="name every column; a separator at the end of the lines leaves a nameless one",
            )
        if name in seen:
            raise DataError(
                path,
                f"column {name!r} appears twice (columns {seen[name]} and {column})",
                location="line 1",
                hint="keep one column per covariate",
            )
        seen[name] = column


def _check_one_column_each(path: Path, columns: list[str], names: Sequence[str]) -> None:
    """Refuse two columns that name the label or one covariate in different case (`sex` and `Sex`).

    Covariates are matched case-insensitively, so one of the two would be read and the other left
    unread without a word, and which one depends on the column order: with conflicting values, the
    model would train on whichever came first.
    """
    for name in names:
        same = [column for column in columns if column.lower() == name.lower()]
        if len(same) > 1:
            positions = " and ".join(str(columns.index(column) + 1) for column in same[:2])
            raise DataError(
                path,
                f"columns {same[0]!r} and {same[1]!r} (columns {positions}) both name {name!r}: "
                "column names are matched without regard to case",
                location="line 1",
                hint=f"keep one {name} column: remove the other, or rename it if it holds something else",
            )


class LabelColumnMissing(DataError):
    """A phenotype file without the label column it is read with. Its hint is the single file's
    (`--label-column`, or a hospital's own node config); a simulation's hospital, whose label column
    is the run's, is told the federation's remedy instead (`genofed.client.app`).

    Args:
        column: the label column asked for.
        candidates: the file's columns that look like a binary label, best first.
    """

    def __init__(
        self, file: str | Path, problem: str, *, column: str, candidates: list[str], hint: str
    ) -> None:
        self.column = column
        self.candidates = list(candidates)
        super().__init__(file, problem, location="line 1", hint=hint)


def _require_columns(path: Path, frame: pd.DataFrame, label_column: str, *, binary: bool = True) -> None:
    """`sample_id` and the label column must be there; a missing binary label column's error names
    the columns that could be the label, and how to choose one."""
    if ID_COLUMN not in frame.columns:
        raise DataError(
            path,
            f"no '{ID_COLUMN}' column; found columns {list(frame.columns)}",
            location="line 1",
            hint=f"the header needs '{ID_COLUMN}' (one id per sample, as in the genotype file) and "
            f"'{label_column}'",
        )
    if label_column in frame.columns:
        return
    if not binary:
        raise DataError(
            path,
            f"no '{label_column}' column; found columns {list(frame.columns)}",
            location="line 1",
            hint="name the class column with --label-column NAME",
        )
    candidates = binary_columns(frame)
    if candidates:
        listed = ", ".join(repr(c) for c in candidates)
        raise LabelColumnMissing(
            path,
            f"no '{label_column}' column; columns that look like a binary label: {listed}",
            column=label_column,
            candidates=candidates,
            hint=f"pass --label-column {candidates[0]} (node config: label-column={candidates[0]})",
        )
    raise LabelColumnMissing(
        path,
        f"no '{label_column}' column and no column that looks like a binary label (0/1 or case/control); "
        f"found columns {list(frame.columns)}",
        column=label_column,
        candidates=[],
        hint="add the disease column (1 or 'case' for cases, 0 or 'control' for controls) and pass its "
        "name with --label-column NAME (node config: label-column=NAME)",
    )


def binary_columns(frame: pd.DataFrame) -> list[str]:
    """Columns (besides sample_id and sex) whose every non-empty value is 0, 1, case or control,
    case-insensitive, with at least one such value: what could be the label column."""
    found = []
    for column in frame.columns:
        if column == ID_COLUMN or column.lower() == "sex":
            continue
        values = _codes(frame[column])
        present = values[~values.isin(MISSING_VALUES)]
        if len(present) and present.isin(LABELS).all():
            found.append(column)
    return found


def _sample_ids(path: Path, ids: pd.Series, lines: np.ndarray) -> list[str]:
    """The ids exactly as written, surrounding spaces included: ids are matched exactly against the
    genotype file's (whose readers keep them as written), the ledger and the predictions, so
    stripping them here would match `'HG00099 '` to `'HG00099'` in one place and not in another.
    `checks.join_cohort` explains an id that differs from the other file's only in whitespace."""
    first_seen: dict[str, int] = {}
    for sample, line in zip(ids, lines, strict=False):
        if not sample.strip():
            raise DataError(
                path, "empty sample_id", location=f"line {line}", hint="every row needs a sample id"
            )
        if sample in first_seen:
            raise DataError(
                path,
                f"sample {sample} appears twice (lines {first_seen[sample]} and {line})",
                location=f"line {line}",
                hint="keep one row per sample",
            )
        first_seen[sample] = int(line)
    return ids.tolist()


def _codes(values: pd.Series) -> pd.Series:
    """A label or sex column as the codings look it up: stripped, lower case, `1.0` as `1`."""
    return values.str.strip().str.lower().str.replace(WHOLE_DECIMAL, r"\1", regex=True)


def _labels(path: Path, values: pd.Series, lines: np.ndarray, samples: list[str], column: str) -> np.ndarray:
    text = _codes(values)
    if (text == "2").any():
        line = lines[np.flatnonzero((text == "2").to_numpy())[0]]
        raise DataError(
            path,
            f"label '2' in column {column}: this looks like PLINK coding (1 = control, "
            "2 = case), which genofed does not guess",
            location=f"line {line}",
            hint=f"recode to 0/1 (PLINK 1 -> 0, 2 -> 1); {LABEL_HINT}",
        )
    for value, raw, line, sample in zip(text, values, lines, samples, strict=False):
        if value not in LABELS:
            raise _label_error(path, value, raw.strip(), column, f"line {line}, sample {sample}")
    return text.map(LABELS).to_numpy(dtype=np.int8)


def _label_error(path: Path, value: str, raw: str, column: str, location: str) -> DataError:
    """The refusal of one label cell that is not 0/1/case/control, saying what the cell holds: empty,
    PLINK's missing code -9, a yes/no-style word (with the mapping to make), or something else."""
    if value in MISSING_VALUES:
        return DataError(
            path,
            f"label is missing in column {column}",
            location=location,
            hint=f"{LABEL_HINT}; remove samples without a diagnosis",
        )
    if value == PLINK_MISSING:
        return DataError(
            path,
            f"label -9 in column {column}: -9 is PLINK's code for a missing phenotype",
            location=location,
            hint="give this sample's diagnosis (1 or 'case', 0 or 'control'), or remove its row: a sample "
            "without a diagnosis cannot be trained on",
        )
    if value in CASE_WORDS or value in CONTROL_WORDS:
        case = value if value in CASE_WORDS else CONTROL_WORDS[value]
        style = str.upper if raw.isupper() else str.title if raw.istitle() else str.lower
        yes, no = style(case), style(CASE_WORDS[case])
        return DataError(
            path,
            f"label {raw!r} in column {column} is not binary 0/1 or case/control but a {yes}/{no} answer",
            location=location,
            hint=f"map {yes}->1 (case), {no}->0 (control), if {yes!r} means the person has the disease; "
            f"genofed does not guess which answer is the case ({LABEL_HINT})",
        )
    return DataError(
        path, f"label {raw!r} in column {column} is not binary", location=location, hint=LABEL_HINT
    )


def _sex(path: Path, values: pd.Series, lines: np.ndarray, samples: list[str], column: str) -> np.ndarray:
    text = _codes(values)
    for value, raw, line, sample in zip(text, values, lines, samples, strict=False):
        if value not in SEXES and value not in MISSING_VALUES and value not in UNKNOWN_SEXES:
            plink = " (PLINK's 1 = male, 2 = female coding is not guessed)" if value == "2" else ""
            raise DataError(
                path,
                f"sex {raw.strip()!r} is not recognised{plink}",
                location=f"line {line}, sample {sample}, column {column}",
                hint="use M/F, male/female, М/Ж, or 0 = male / 1 = female; leave empty (or write U) if "
                "unknown",
            )
    return text.map(SEXES).to_numpy(dtype=float)  # missing and unknown (U) are NaN


def _numeric(path: Path, values: pd.Series, lines: np.ndarray, samples: list[str], column: str) -> np.ndarray:
    text = values.str.strip()
    missing = text.str.lower().isin(MISSING_VALUES)
    numbers = pd.to_numeric(text.where(~missing), errors="coerce")
    bad = np.flatnonzero((numbers.isna() & ~missing).to_numpy())
    if len(bad):
        row = bad[0]
        problem, hint = _not_a_number(text.iloc[row], column)
        raise DataError(
            path,
            f"value {text.iloc[row]!r} in covariate column {column} is not a number{problem}",
            location=f"line {lines[row]}, sample {samples[row]}, column {column}",
            hint=hint,
        )
    out = numbers.to_numpy(dtype=float)
    low, high = covariate_range(column)
    outside = np.flatnonzero(~np.isnan(out) & ~((out >= low) & (out <= high)))  # also catches +/-inf
    if len(outside):
        row = outside[0]
        raise _range_error(
            path,
            column,
            out[row],
            text.iloc[row],
            f"line {lines[row]}, sample {samples[row]}, column {column}",
        )
    return out


#: A number written with a decimal comma (`14,5`), as a European-locale export writes it.
DECIMAL_COMMA = re.compile(r"^([+-]?\d+),(\d+)$")
#: A number followed by a unit (`14 лет`, `14 years`, `14.5y`, `14,5 г.`).
#: How a unit of years begins (years, yr, y; лет, год, г.): such an age is its number.
YEAR_WORDS = ("y", "л", "г")
WITH_UNIT = re.compile(r"^([+-]?\d+(?:[.,]\d+)?)\s*[^\W\d_][\w.\s]*$")


def _not_a_number(value: str, column: str) -> tuple[str, str]:
    """(what is wrong, to end the problem; what to do) for a covariate cell that is not a number:
    a decimal comma or a unit is named, with the number to write, rather than "write one"."""
    unknown = "leave the cell empty if unknown"
    comma = DECIMAL_COMMA.match(value)
    if comma:
        number = f"{comma[1]}.{comma[2]}"
        return (
            ": it has a decimal comma",
            f"write {number}, not {value}: genofed reads a point as the decimal mark (an export from a "
            "European-locale Excel writes commas; save it with points, or replace ',' by '.' in this column)",
        )
    unit = WITH_UNIT.match(value)
    if unit:
        number, word = unit[1].replace(",", "."), value[len(unit[1]) :].strip().lower()
        if column.lower() != "age":
            return ": it carries a unit", f"write the number only, without units: {number}, not {value!r}"
        if word.startswith(YEAR_WORDS):
            return (
                ": it carries a unit",
                f"write the number of years only, without units: {number}, not {value!r}",
            )
        return (
            ": it carries a unit",
            f"write age as a number of years only, without units: convert {value!r} to years "
            "(6 months is 0.5)",
        )
    return "", f"the model reads {column} as a number: write one, or {unknown}"


def covariate_range(column: str) -> tuple[float, float]:
    """The documented (low, high) of a numeric covariate: see the module docstring."""
    return AGE_RANGE if column.lower() == "age" else (-COVARIATE_LIMIT, COVARIATE_LIMIT)


def _range_error(path: Path, column: str, value: float, raw: str, location: str) -> DataError:
    if not math.isfinite(value):
        return DataError(
            path,
            f"value {raw!r} in covariate column {column} is not a finite number",
            location=location,
            hint="covariates must be finite numbers; leave the cell empty if the value is unknown",
        )
    if column.lower() == "age":
        low, high = AGE_RANGE
        return DataError(
            path,
            f"age {raw!r} is outside {low:g}-{high:g} years",
            location=location,
            hint="give age in years (not months or days); leave the cell empty if unknown "
            "rather than writing a code such as -9 or 999",
        )
    return DataError(
        path,
        f"value {raw!r} in covariate column {column} is beyond +/-{COVARIATE_LIMIT:g}",
        location=location,
        hint="covariates enter the model as numbers: rescale the column (e.g. to standard units) "
        "or fix the value; leave the cell empty if unknown",
    )
