"""File checks every reader shares, so a missing, damaged or mis-encoded file reads the same
whatever its format.

Text inputs (VCF, CSV/TSV tables, phenotypes, .bim/.fam) are read through `iter_lines`, which holds
them to one rule set before any parser sees them:
- gzip is decided by content, never by suffix; a gzip or bgzip stream must be complete and pass its
  checksums (Python's gzip module checks every member's CRC-32 and length), and a bgzip file's
  block structure must be intact (`check_bgzf_blocks`), because htslib reads bgzip by its block
  sizes while Python ignores them;
- text is UTF-8; a byte-order mark (BOM) at the very start is dropped, as Windows editors write one;
- a line ends in LF or CRLF; a carriage return or another control character (NUL, ...) inside a line
  is refused, since htslib, pandas and the csv module each treat them differently (pandas ends a
  value at a NUL) and a file that holds them is damaged or binary.
"""

from __future__ import annotations

import gzip
import re
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from genofed.common.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"
#: The empty block every bgzip file ends with; its absence means the file was cut.
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
#: Control characters other than TAB; LF ends a line and a CR is allowed only right before it.
CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")
#: The same bytes for `bytes.translate`, which tells whether a line holds any six times faster than the regex.
CONTROL_BYTES = bytes(range(0x00, 0x09)) + bytes(range(0x0B, 0x20)) + b"\x7f"
ENCODING_HINT = (
    "save the file as UTF-8 (Excel: 'CSV UTF-8'; a Windows Cyrillic file: iconv -f CP1251 -t UTF-8 IN > OUT)"
)
COPY_HINT = "copy or download the file again; check it with `gzip -t` (or `bgzip -t` for bgzip)"


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


def is_bgzf(path: Path) -> bool:
    """A gzip file whose first member carries bgzip's `BC` block-size field."""
    with path.open("rb") as handle:
        start = handle.read(18)
    return start[:4] == b"\x1f\x8b\x08\x04" and start[12:14] == b"BC"


def open_binary(path: Path) -> BinaryIO:
    """A binary handle on the decompressed content: gzip/bgzip decided by content, not suffix."""
    return gzip.open(path, "rb") if is_gzip(path) else path.open("rb")


def compressed_error(path: Path, exc: BaseException) -> DataError:
    """The DataError for a gzip stream that cannot be read to its end."""
    kind = "truncated" if isinstance(exc, EOFError) else "corrupt"
    return DataError(path, f"the gzip-compressed file is {kind} ({exc})", hint=COPY_HINT)


def check_bgzf_blocks(path: Path) -> None:
    """Walk a bgzip file's blocks by their sizes, as htslib reads it, and require the end marker.

    Python's gzip module decodes a bgzip file as plain gzip members and never looks at the block
    sizes, so a damaged size field would pass it and only fail later inside htslib, far from its
    cause; and a file cut exactly at a block boundary is a shorter, valid gzip stream: only the
    missing end-of-file block tells. A plain (non-bgzip) file passes untouched.
    """
    if not is_bgzf(path):
        return
    size = path.stat().st_size
    with path.open("rb") as handle:
        offset = 0
        while offset < size:
            handle.seek(offset)
            header = handle.read(18)
            block_size = _bgzf_block_size(header)
            if len(header) < 18 or (block_size is not None and offset + block_size > size):
                raise DataError(
                    path,
                    f"the bgzip file is truncated: it ends inside the block at byte {offset}",
                    hint=COPY_HINT,
                )
            if block_size is None:
                raise DataError(
                    path, f"the bgzip file is corrupt: the block at byte {offset} is damaged", hint=COPY_HINT
                )
            offset += block_size
        handle.seek(size - len(BGZF_EOF))
        if size < len(BGZF_EOF) or handle.read() != BGZF_EOF:
            raise DataError(
                path,
                "the bgzip file is truncated (its end-of-file marker is missing or damaged)",
                hint=COPY_HINT,
            )


def _bgzf_block_size(header: bytes) -> int | None:
    """Total size of the bgzip block that starts with `header` (18 bytes); None if it is not one."""
    if len(header) < 18 or header[:4] != b"\x1f\x8b\x08\x04":
        return None
    (extra_length,) = struct.unpack("<H", header[10:12])
    if extra_length != 6 or header[12:14] != b"BC" or header[14:16] != b"\x02\x00":
        return None  # htslib reads only the standard single BC subfield
    return struct.unpack("<H", header[16:18])[0] + 1


def read_to_end(path: Path) -> None:
    """Decompress a gzip/bgzip file to its end, raising DataError if it is truncated or corrupt."""
    if not is_gzip(path):
        return
    check_bgzf_blocks(path)
    try:
        with gzip.open(path, "rb") as handle:
            while handle.read(1 << 20):
                pass
    except (EOFError, OSError, zlib.error) as exc:
        raise compressed_error(path, exc) from None


@contextmanager
def damage_first(path: Path) -> Iterator[None]:
    """Report a problem found in a gzip file's text as the damage behind it, when there is damage.

    A flipped byte in a compressed stream garbles the text from there on; the garbled line fails
    its check long before the gzip checksum, read only at the end of the member, would tell. So on
    a DataError the stream is read to its end, and a damaged stream is reported instead.
    """
    try:
        yield
    except DataError:
        read_to_end(path)
        raise


def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number from 1, text without its line ending) of a plain or gzip text file.

    Lines end at LF; a CR right before it is dropped. Raises DataError, naming the line, for bytes
    that are not UTF-8 and for control characters, and, naming the file, for a truncated or corrupt
    gzip stream: so a caller that reads to the end has seen every byte of the file intact.
    """
    check_bgzf_blocks(path)
    handle = _open_checked(path)
    try:
        with handle:
            for number, raw in enumerate(handle, start=1):
                yield number, decode_line(path, number, raw)
    except (EOFError, OSError, zlib.error) as exc:
        if not isinstance(handle, gzip.GzipFile):
            raise DataError(
                path, f"cannot read the file ({exc})", hint="check the disk and copy the file again"
            ) from None
        raise compressed_error(path, exc) from None


def _open_checked(path: Path) -> BinaryIO:
    try:
        return open_binary(path)
    except OSError as exc:
        raise DataError(
            path,
            f"cannot open the file ({exc.strerror or exc})",
            hint="check that the file is readable by this user",
        ) from None


def decode_line(path: Path, number: int, raw: bytes) -> str:
    """One line's text, checked: see `iter_lines`."""
    if raw.endswith(b"\n"):
        raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
    if number == 1 and raw.startswith(BOM):
        raw = raw[len(BOM) :]
    control = CONTROL.search(raw) if len(raw.translate(None, CONTROL_BYTES)) != len(raw) else None
    if control:
        character = control.group()[0]
        name = "a carriage return (CR)" if character == 0x0D else f"the control character 0x{character:02X}"
        raise DataError(
            path,
            f"{name} at byte {control.start() + 1} of the line",
            location=f"line {number}",
            hint="lines must end in LF or CRLF and hold no control characters other than tabs; "
            "the file may be damaged or binary: export it again as plain text",
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            path,
            f"byte 0x{raw[exc.start]:02X} at byte {exc.start + 1} of the line is not UTF-8 text",
            location=f"line {number}",
            hint=ENCODING_HINT,
        ) from None


def examples(items: list[str], limit: int = 5) -> str:
    """`a, b, c and 7 more`: enough to find the problem without flooding the terminal."""
    shown = ", ".join(items[:limit])
    rest = len(items) - limit
    return f"{shown} and {rest} more" if rest > 0 else shown
