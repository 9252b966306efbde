"""File checks every reader shares, so a missing or empty file reads the same whatever its format."""

from __future__ import annotations

import gzip
from pathlib import Path

from genofed.common.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"


def require_file(path: str | Path, what: str) -> Path:
    """The path, if it names a non-empty regular file; a DataError a user can act on otherwise.

    Checked before any library opens the file because htslib, pandas and bed-reader each word
    "not there" differently, and some (htslib) only print it on stderr.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(path, f"{what} file not found", hint="check the path and the working directory")
    if not path.is_file():
        raise DataError(path, f"expected a {what} file but this is a directory", hint="give the file itself")
    if path.stat().st_size == 0:
        raise DataError(path, f"{what} file is empty", hint="re-export it; the export may have failed")
    return path


def is_gzip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def open_text(path: Path):
    """A text handle on a plain or gzip/bgzip-compressed file, decided by content, not suffix."""
    if is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="")
    return path.open("r", encoding="utf-8", errors="replace", newline="")


def examples(items: list[str], limit: int = 5) -> str:
    """`a, b, c and 7 more`: enough to find the problem without flooding the terminal."""
    shown = ", ".join(items[:limit])
    rest = len(items) - limit
    return f"{shown} and {rest} more" if rest > 0 else shown
