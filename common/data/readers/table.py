"""Dense genotype tables (CSV / TSV / Parquet): one row per sample, one column per variant.

Clinics that export from spreadsheets or R land here. The format is too free for pandas alone to
catch mistakes: it silently pads short rows with NaN (a truncated file would read as missing
calls), lets a stray quote join lines into one row, decides compression by the file's suffix and
reports a non-numeric cell without saying where. So CSV/TSV text is read once first through
`iter_lines` (intact compression, UTF-8 with an optional BOM, no control characters) and every
row's fields are counted (cheap: one `str.count` per line; the csv module only for a line that
holds a quote); pandas then must produce exactly those rows, and a bad value is located cell by
cell only when parsing fails.

Values are parsed as float64 (float32 turned 1.00000001 into a hard call 1) and a refused one is
shown as the file writes it. A Parquet column must hold numbers or text, read as a CSV cell is
('.' missing in both); a true/false column is refused, not read as 0/1. The ALT columns of one
site (same CHROM:POS and REF) must add up to at most 2 per sample: a person has two alleles.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Callable
from contextlib import closing, suppress
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import (
    is_bool_dtype,
    is_complex_dtype,
    is_numeric_dtype,
    is_object_dtype,
    is_string_dtype,
)

from genofed.common.data.cohort import DOSAGE_DTYPE, MISSING, GenotypeMatrix
from genofed.common.data.readers._files import (
    check_container,
    damage_first,
    header_line,
    is_gzip,
    iter_lines,
    require_file,
)
from genofed.common.data.variants import parse_variant_id
from genofed.common.errors import DataError

ID_COLUMN = "sample_id"
#: Spellings of a missing call, besides pandas' defaults ("", "NA", "NaN", ...).
EXTRA_MISSING = ["."]
#: The texts pandas' read_csv reads as missing by default (its documented `na_values`, pandas 2.x),
#: written out here rather than imported from pandas' private `_libs`.
PANDAS_MISSING = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip
#: Every text that is a missing call, in a CSV cell (pandas' defaults and `EXTRA_MISSING`) and so
#: also in a Parquet text column, so that the two formats read the same values alike.
MISSING_TEXT = frozenset(PANDAS_MISSING) | frozenset(EXTRA_MISSING)
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz", ".parquet")
VALUE_HINT = "genotype values must be 0, 1 or 2 (copies of the ALT allele), or empty / NA for missing"


#: How messages name a separator.
SEPARATOR_NAMES = {",": "commas", "\t": "tabs", ";": "semicolons (';')"}


def separator(path: Path) -> str:
    """Comma for .csv(.gz), tab for .tsv/.txt(.gz): chosen by suffix, not sniffed, to be predictable.

    Not sniffed because one rule serves every reader of a table (phenotypes, genotype tables, the
    federation-folder discovery in `layout`): a sniffing reader would accept a file that discovery
    reads as one column. A file separated otherwise is refused by `check_separator`, which says
    what it is separated by and what to do.
    """
    name = path.name.lower().removesuffix(".gz")
    return "," if name.endswith(".csv") else "\t"


def check_separator(path: Path, header: list[str], sep: str, line: str | None = None) -> None:
    """Refuse a header that reads as one column holding another separator: the file is separated by
    that one (a tab-separated file named .csv, a comma-separated .tsv, European Excel's ';').

    Otherwise the user would read "no 'sample_id' column; found columns ['sample_id;label']" and look
    for a missing column. Semicolons are never accepted: such files come from locales that write
    decimal commas (45,5), which no separator choice reads correctly.

    With the header `line` as written, a header of several columns is refused too when it holds
    more semicolons than `sep`s outside quotes: a semicolon-separated export whose column name holds
    a comma (`Вес, кг`) reads as two columns, and the first short row was refused as "1 fields but
    the header has 2" without a word about semicolons. Quoted text is not counted, so a .csv with a
    quoted `"dose; mg"` column is read as before.
    """
    if len(header) != 1:
        if line is not None and sep != ";":
            _check_semicolons(path, line, sep)
        return
    counts = {other: header[0].count(other) for other in SEPARATOR_NAMES if other != sep}
    other = max(counts, key=lambda key: counts[key])
    if not counts[other]:
        return
    shown = header[0] if len(header[0]) <= 60 else header[0][:57] + "..."
    kind = ".csv" if sep == "," else ".tsv/.txt"
    if other == ";":
        hint = SEMICOLON_HINT
    else:
        suffix = ".tsv" if other == "\t" else ".csv"
        hint = (
            f"rename it to {_renamed(path, suffix)} (genofed reads {kind_of(other)} files as separated by "
            f"{SEPARATOR_NAMES[other]}), or save it with {SEPARATOR_NAMES[sep]}"
        )
    raise DataError(
        path,
        f"the header is one column, {shown!r}: the file is separated by {SEPARATOR_NAMES[other]}, "
        f"but a {kind} file must be separated by {SEPARATOR_NAMES[sep]}",
        location="line 1",
        hint=hint,
    )


SEMICOLON_HINT = (
    "save it as a .csv with commas as the separator (Excel: 'CSV UTF-8 (Comma delimited)'; "
    "LibreOffice: field delimiter ',') and points as decimal marks (45.5, not 45,5)"
)


def _check_semicolons(path: Path, line: str, sep: str) -> None:
    """Refuse a header of several columns that holds more semicolons than `sep`s outside quotes:
    the file is separated by semicolons, and the `sep` in a column name split it."""
    if not semicolon_separated(line, sep):
        return
    semicolons, seps = _unquoted_count(line, ";"), _unquoted_count(line, sep)
    split = [name.strip() for name in line.split(";") if sep in name]
    named = "column names" if len(split) > 1 else "column name"
    shown = ", ".join(repr(name) for name in split[:3])
    sep_name = SEPARATOR_NAMES[sep].rstrip("s") if seps == 1 else SEPARATOR_NAMES[sep]
    kind = ".csv" if sep == "," else ".tsv/.txt"
    raise DataError(
        path,
        f"the header holds {semicolons} semicolons (';') but {seps} {sep_name}: the file is separated by "
        f"semicolons (';'), but a {kind} file must be separated by {SEPARATOR_NAMES[sep]} (the {sep!r} in "
        f"the {named} {shown} is not a separator)",
        location="line 1",
        hint=SEMICOLON_HINT
        + (f'; a {named} that keeps its {sep!r} is then quoted ("{split[0]}")' if split else ""),
    )


def semicolon_separated(line: str, sep: str) -> bool:
    """Whether a header `line` holds more semicolons than `sep`s outside quoted text (see
    `check_separator`): the file is separated by semicolons whatever it reads as by `sep`."""
    return sep != ";" and _unquoted_count(line, ";") > _unquoted_count(line, sep)


def _unquoted_count(line: str, char: str) -> int:
    """How often `char` stands in `line` outside double-quoted text."""
    count, quoted = 0, False
    for c in line:
        if c == '"':
            quoted = not quoted
        elif c == char and not quoted:
            count += 1
    return count


def kind_of(sep: str) -> str:
    """The suffixes whose files are separated by `sep`, as messages name them."""
    return ".csv" if sep == "," else ".tsv and .txt"


def _renamed(path: Path, suffix: str) -> str:
    """`path`'s name with its table suffix replaced (a .gz kept): pheno.csv.gz -> pheno.tsv.gz."""
    name = path.name
    gz = name[-3:] if name.lower().endswith(".gz") else ""
    stem = name[: len(name) - len(gz)].rsplit(".", 1)[0]
    return f"{stem}{suffix}{gz}"


def read_genotype_table(path: str | Path) -> GenotypeMatrix:
    """Dosages from a CSV/TSV (optionally gzipped) or Parquet table with a `sample_id` column."""
    path = require_file(path, "genotype table")
    if path.name.lower().endswith(".parquet"):
        frame, locate = _read_parquet(path), (lambda row: f"row {row + 1}")
        written = partial(_stored_cell, frame)
    else:
        with damage_first(path):
            lines = _data_lines(path)
        frame, locate = _read_delimited(path, lines), (lambda row: f"line {lines[row]}")
        written = partial(_written_cell, path, lines)
    samples = frame.pop(ID_COLUMN)
    _check_sample_ids(path, samples, locate)
    dosages = _dosages(path, frame, samples, written, locate)
    variants = _normalized(frame.columns)
    _check_alleles_per_site(path, dosages, samples, variants, locate)
    return GenotypeMatrix(dosages, samples.tolist(), variants, source=str(path))


def _read_parquet(path: Path) -> pd.DataFrame:
    """The table with every variant column as float64 dosages (NaN for missing), by
    `_parquet_dosages`; columns keep their names as written (`_normalized` comes later)."""
    check_container(path, parquet=True)  # a zipped Parquet file is named as such, not as pyarrow's complaint
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid and friends for a non-Parquet file
        raise DataError(
            path,
            f"cannot read as Parquet ({exc})",
            hint="check the file is Parquet, or name a CSV .csv and a TSV .tsv",
        ) from None
    _check_columns(path, [str(c) for c in frame.columns])
    frame.columns = [str(c) for c in frame.columns]
    frame[ID_COLUMN] = frame[ID_COLUMN].astype(str)
    for column in frame.columns.drop(ID_COLUMN):
        frame[column] = _parquet_dosages(path, column, frame[column], frame[ID_COLUMN])
    return frame


def _parquet_dosages(path: Path, column: str, values: pd.Series, samples: pd.Series) -> pd.Series:
    """One Parquet column as float64 dosages, read as the CSV reader reads the same values.

    Numbers are taken as stored; text as a CSV cell is (`MISSING_TEXT`, '.' included, is a missing
    call: the two formats must agree). Any other type is refused by name, never converted: a
    true/false column read as numbers turns every 2 into a 1 without a single error.
    """
    if is_bool_dtype(values.dtype) or is_complex_dtype(values.dtype):
        _type_error(path, column, str(values.dtype))
    if is_numeric_dtype(values.dtype):
        return pd.Series(values.to_numpy(dtype=np.float64, na_value=np.nan), index=values.index)
    if not (is_object_dtype(values.dtype) or is_string_dtype(values.dtype)):
        _type_error(path, column, str(values.dtype))
    present = values.notna().to_numpy()
    odd = [value for value in values[present] if not _text_or_number(value)]
    if odd:
        _type_error(path, column, type(odd[0]).__name__)
    text = values.where(present, "").astype(str)
    missing = text.str.strip().isin(MISSING_TEXT)
    numbers = pd.to_numeric(text.where(~missing), errors="coerce")
    bad = np.flatnonzero((numbers.isna() & ~missing).to_numpy())
    if len(bad):
        row = int(bad[0])
        _value_error(path, column, row, samples.iloc[row], text.iloc[row], lambda r: f"row {r + 1}")
    return numbers.astype(np.float64)


def _text_or_number(value: object) -> bool:
    """Whether a cell of a Parquet object column is text or a number (a bool is neither here)."""
    if isinstance(value, bool | np.bool_):
        return False
    return isinstance(value, str | int | float | np.integer | np.floating)


def _type_error(path: Path, column: str, kind: str) -> None:
    raise DataError(
        path,
        f"column {column} holds {kind} values, not genotypes",
        location=f"column {column}",
        hint="store each variant column as numbers (0, 1 or 2 copies of the ALT allele; null for "
        "missing): a true/false column cannot say how many copies a person carries",
    )


def _data_lines(path: Path) -> list[int]:
    """File line numbers of the data rows, after checking every row has the header's field count."""
    sep = separator(path)
    lines = iter_lines(path)
    _, header = header_line(path, lines, "genotype table")
    columns = _fields(path, 1, header, sep)
    check_separator(path, columns, sep, header)
    _check_columns(path, columns)
    numbers = []
    for number, line in lines:
        if not line:
            continue
        fields = len(_fields(path, number, line, sep))
        if fields != len(columns):
            raise DataError(
                path,
                f"this row has {fields} fields but the header has {len(columns)}",
                location=f"line {number}",
                hint=f"rows must have one value per column, separated by {sep!r}; "
                "a short last row usually means a truncated file",
            )
        numbers.append(number)
    return numbers


def _fields(path: Path, number: int, line: str, sep: str) -> list[str]:
    """The fields of one line; quotes are honoured as pandas honours them, and must close on the line."""
    if '"' not in line:
        return line.split(sep)
    try:
        return next(csv.reader([line], delimiter=sep, strict=True))
    except csv.Error as exc:
        raise DataError(
            path,
            f"a quoted value is not closed on this line ({exc})",
            location=f"line {number}",
            hint='a value that opens a quote (") must close it on the same line; values need no '
            "quotes at all",
        ) from None


def _read_delimited(path: Path, lines: list[int]) -> pd.DataFrame:
    # float64, not float32: 1.00000001 must not pass as a hard call 1 (float32 rounds it to 1.0)
    dtypes = defaultdict(lambda: "float64", {ID_COLUMN: str})
    try:
        frame = pd.read_csv(path, dtype=dtypes, **_csv_options(path))
    except ValueError as exc:  # a non-numeric cell: find it, slowly, only now
        with suppress(ValueError):  # pandas' own complaint is the fallback below
            _locate_bad_cell(path, lines)
        raise DataError(path, f"pandas cannot read the table ({str(exc)[:120]})", hint=VALUE_HINT) from None
    if len(frame) != len(lines):
        raise DataError(
            path,
            f"pandas read {len(frame)} rows but the file has {len(lines)} data lines",
            hint='look for quotes (") or line breaks inside values; values need no quotes',
        )
    return frame


def _csv_options(path: Path) -> dict:
    """pandas options that read the file as `iter_lines` checked it: compression by content, BOM dropped."""
    return {
        "sep": separator(path),
        "na_values": EXTRA_MISSING,
        "index_col": False,
        "encoding": "utf-8-sig",
        "compression": "gzip" if is_gzip(path) else None,
    }


def _locate_bad_cell(path: Path, lines: list[int]) -> None:
    start = 0
    reader = pd.read_csv(path, dtype=str, chunksize=256, **_csv_options(path))
    for chunk in reader:
        for column in chunk.columns.drop(ID_COLUMN):
            values = chunk[column]
            bad = values.notna() & pd.to_numeric(values, errors="coerce").isna()
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                _value_error(
                    path,
                    column,
                    start + row,
                    chunk[ID_COLUMN].iloc[row],
                    values.iloc[row],
                    lambda r: f"line {lines[r]}",
                )
        start += len(chunk)


def _dosages(
    path: Path, frame: pd.DataFrame, samples: pd.Series, written: Callable[[int, str], str], locate
) -> np.ndarray:
    """int8 dosages of the float64 `frame`; a value other than 0, 1, 2 or missing is refused and
    shown as `written(row, column)` gives it, as in the file (a float would show 0.99999997 as 1)."""
    values = frame.to_numpy(dtype=np.float64)
    missing = np.isnan(values)
    bad = ~missing & ~np.isin(values, (0.0, 1.0, 2.0))
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        name = frame.columns[column]
        _value_error(path, name, row, samples.iloc[row], written(row, name), locate)
    return np.where(missing, MISSING, values).astype(DOSAGE_DTYPE)


def _written_cell(path: Path, numbers: list[int], row: int, column: str) -> str:
    """The cell of `column` in data row `row` (file line `numbers[row]`) as the file writes it: read
    again, only for a message."""
    number, sep = numbers[row], separator(path)
    with closing(iter_lines(path)) as lines:
        _, header = header_line(path, lines, "genotype table")
        position = _fields(path, 1, header, sep).index(column)
        line = next(line for n, line in lines if n == number)
    return _fields(path, number, line, sep)[position]


def _stored_cell(frame: pd.DataFrame, row: int, column: str) -> str:
    """A Parquet number as the shortest text that reads back as it: 3, 0.99999997 (not 1), 1e-08."""
    return repr(float(frame[column].iloc[row])).removesuffix(".0")


def _check_alleles_per_site(
    path: Path, dosages: np.ndarray, samples: pd.Series, variants: list[str], locate
) -> None:
    """A person has two alleles at a site: the columns of one site's ALT alleles (same CHROM:POS
    and REF, a split multi-allelic record) must add up to at most 2 per sample.

    Each column alone can be a valid 0/1/2, so without this a table could give HG00096 2 copies of
    C>A and 2 of C>G at one position (four alleles), and training would believe it.
    """
    sites: dict[tuple[str, int, str], list[int]] = defaultdict(list)
    for index, variant_id in enumerate(variants):
        variant = parse_variant_id(variant_id)
        sites[(variant.chrom, variant.pos, variant.ref)].append(index)
    for (chrom, pos, ref), columns in sites.items():
        if len(columns) < 2:
            continue
        block = dosages[:, columns].astype(np.int64)
        totals = np.where(block == MISSING, 0, block).sum(axis=1)
        over = np.flatnonzero(totals > 2)
        if len(over):
            row = int(over[0])
            copies = ", ".join(
                f"{block[row, k]} of {variants[j]}" for k, j in enumerate(columns) if block[row, k] > 0
            )
            raise DataError(
                path,
                f"this sample has {totals[row]} ALT alleles at {chrom}:{pos} (REF {ref}): "
                f"{copies}; a person has only 2 alleles at a site",
                location=f"{locate(row)}, sample {samples.iloc[row]}",
                hint="the columns of one site's ALT alleles must add up to 0, 1 or 2 per sample (a 1/2 "
                "genotype is 1 copy of each ALT); check how the table was exported",
            )


def _check_sample_ids(path: Path, samples: pd.Series, locate) -> None:
    """Every row names its sample, once: the ids are what joins genotypes to labels."""
    first: dict[str, int] = {}
    for row, sample in enumerate(samples):
        if pd.isna(sample) or not str(sample).strip():
            raise DataError(
                path, f"empty {ID_COLUMN}", location=locate(row), hint="every row needs a sample id"
            )
        if sample in first:
            raise DataError(
                path,
                f"sample {sample} appears twice ({locate(first[sample])} and {locate(row)})",
                location=locate(row),
                hint="keep one row per sample",
            )
        first[sample] = row


def _value_error(path: Path, column: str, row: int, sample: str, value: object, locate) -> None:
    raise DataError(
        path,
        f"value {str(value)!r} in column {column} is not a genotype",
        location=f"{locate(row)}, sample {sample}",
        hint=VALUE_HINT,
    )


def _check_columns(path: Path, columns: list[str]) -> None:
    """`sample_id` present once, every other column a distinct `chrom:pos:ref:alt` id."""
    if ID_COLUMN not in columns:
        raise DataError(
            path,
            f"no '{ID_COLUMN}' column; found columns {columns[:5]}",
            location="line 1",
            hint=f"the first column must be named {ID_COLUMN}, the others chrom:pos:ref:alt",
        )
    if columns.count(ID_COLUMN) > 1:
        raise DataError(
            path,
            f"'{ID_COLUMN}' appears more than once",
            location="line 1",
            hint=f"keep one {ID_COLUMN} column",
        )
    seen: dict[str, str] = {}
    for column in columns:
        if column == ID_COLUMN:
            continue
        try:
            variant_id = parse_variant_id(column).id
        except ValueError:
            raise DataError(
                path,
                f"column {column!r} is not a variant id",
                location="line 1",
                hint="name variant columns chrom:pos:ref:alt, e.g. 1:12345:A:G",
            ) from None
        if variant_id in seen:
            raise DataError(
                path,
                f"columns {seen[variant_id]!r} and {column!r} are the same variant",
                location="line 1",
                hint="keep one column per variant",
            )
        seen[variant_id] = column
    if not seen:
        raise DataError(
            path,
            "the table has no variant columns",
            location="line 1",
            hint=f"after {ID_COLUMN}, add one column per variant named chrom:pos:ref:alt",
        )


def _normalized(columns: pd.Index) -> list[str]:
    return [c if c == ID_COLUMN else parse_variant_id(c).id for c in columns]
