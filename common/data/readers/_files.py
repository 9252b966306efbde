"""File checks every reader shares, so a missing, damaged or mis-encoded file reads the same
whatever its format.

Text inputs (VCF, CSV/TSV tables, phenotypes, .bim/.fam) are read through `iter_lines`, which holds
them to one rule set before any parser sees them:
- gzip is decided by content, never by suffix; a gzip or bgzip stream must be complete and pass its
  checksums (Python's gzip module checks every member's CRC-32 and length), and a bgzip file's
  block structure must be intact (`check_bgzf_blocks`), because htslib reads bgzip by its block
  sizes while Python ignores them;
- a container genofed does not open (a zip archive, bzip2/xz/zstd, a gzip file compressed a second
  time) is named as such (`check_container`), since its bytes would otherwise be reported as a
  garbled first line or control characters, which sends the user looking for damage that is not there;
- text is UTF-8; a byte-order mark (BOM) at the very start is dropped, as Windows editors write one;
- a line ends in LF or CRLF; a carriage return or another control character (NUL, ...) inside a line
  is refused, since htslib, pandas and the csv module each treat them differently (pandas ends a
  value at a NUL) and a file that holds them is damaged or binary.
"""

from __future__ import annotations

import gzip
import os
import re
import struct
import zipfile
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
#: Containers that are not plain text or (b)gzip, by their first bytes: (what it is, what to do).
#: bzip2's magic is checked with its block signature (`_is_bzip2`), since 'BZh' alone can start text.
FOREIGN_CONTAINERS = {
    b"PK\x03\x04": (
        "a zip archive",
        "unzip it first (`unzip FILE`) and give the file inside",
    ),  # see _zip_hint
    b"\xfd7zXZ\x00": ("compressed with xz", "decompress it first (`unxz FILE`)"),
    b"\x28\xb5\x2f\xfd": ("compressed with zstd", "decompress it first (`unzstd FILE`)"),
}
BZIP2_HINT = "decompress it first (`bunzip2 FILE`)"
#: Apache Parquet files start (and end) with these bytes.
PARQUET_MAGIC = b"PAR1"
#: The folder of an Excel workbook (.xlsx, itself a zip archive) that holds its sheets.
XLSX_FOLDER = "xl/"
EMPTY_HINT = "re-export it; the export may have failed"


def require_file(path: str | Path, what: str) -> Path:
    """The path, if it names a non-empty regular file; a DataError a user can act on otherwise.

    Checked before any library opens the file because htslib, pandas and bed-reader each word
    "not there" differently, and some (htslib) only print it on stderr.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(path, f"{what} file not found", hint="check the path and the working directory")
    if path.is_dir():
        raise DataError(path, f"expected a {what} file but this is a directory", hint="give the file itself")
    if not path.is_file():  # a FIFO (`<(zcat ...)`), a socket or a device: readers open a file more than once
        raise DataError(
            path,
            f"expected a {what} file but this is not a regular file (a pipe, socket or device)",
            hint="write the data to a file first and give that file; genofed reads its inputs "
            "more than once, which a pipe or process substitution <(...) cannot serve",
        )
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


def check_container(path: Path, *, parquet: bool = False) -> None:
    """Refuse, by name, a zip archive, a bzip2/xz/zstd file or a gzip file compressed twice, and a
    Parquet file unless `parquet` (the reader of .parquet genotype tables).

    Such a file is intact, so without this check it fails later as "not a VCF: it starts with ..."
    or "control character 0x03 in line 1", which reads like damage and shows binary bytes. Only the
    first bytes are looked at (after one gzip layer), so the check costs one small read.
    """
    try:
        with path.open("rb") as handle:
            start = handle.read(16)
    except OSError:
        return  # unreadable: the reader's own open says so, with its hint
    _refuse_foreign(path, start, "", parquet=parquet)
    if start[:2] != GZIP_MAGIC:
        return
    try:
        with gzip.open(path, "rb") as handle:
            inner = handle.read(16)
    except (EOFError, OSError, zlib.error):
        return  # a damaged stream: the reader that reads it to its end says how
    if inner[:2] == GZIP_MAGIC:
        # never `gunzip -c x.gz > x.gz`: the shell empties the input before gunzip reads it
        once = path.name[:-3] if path.name.lower().endswith(".gz.gz") else f"once_{path.name}"
        raise DataError(
            path,
            "the file is gzip-compressed twice (a gzip file inside a gzip file)",
            hint=f"decompress it once (`gunzip -c {path.name} > {once}`) and give the result; "
            "genofed reads gzip and bgzip files directly",
        )
    _refuse_foreign(path, inner, " inside its gzip compression")


def _refuse_foreign(path: Path, start: bytes, where: str, *, parquet: bool = False) -> None:
    for magic, (kind, hint) in FOREIGN_CONTAINERS.items():
        if start.startswith(magic):
            if magic == b"PK\x03\x04" and not where:
                if _is_xlsx(path):  # "unzip it" would hand the user a folder of XML
                    raise DataError(
                        path,
                        "the file is an Excel workbook (.xlsx), not text genofed can read",
                        hint="open it in Excel and save it as 'CSV UTF-8 (Comma delimited)' (.csv), "
                        "then give that file",
                    )
                hint = _zip_hint(path) or hint
            raise DataError(path, f"the file is {kind}{where}, not text genofed can read", hint=hint)
    # a .parquet genotype table is read by pandas (`parquet`); anywhere else its bytes would be
    # reported as a control character on line 1
    if start.startswith(PARQUET_MAGIC) and (where or not parquet):
        raise DataError(
            path,
            f"the file is a Parquet table{where}, not text genofed can read",
            hint="phenotypes must be CSV/TSV text: save it as CSV (e.g. pandas: "
            "pd.read_parquet(FILE).to_csv('phenotypes.csv', index=False)); a genotype table may be "
            "Parquet when its name ends in .parquet",
        )
    if _utf16(start):
        raise DataError(
            path,
            f'the file is UTF-16 text{where} (what Excel\'s "Unicode Text" and some Windows tools save); '
            "genofed reads UTF-8",
            hint=f'save it as "CSV UTF-8", or convert it: '
            f"`iconv -f UTF-16 -t UTF-8 {path.name} > utf8_{path.name}`",
        )
    if start[:3] == b"BZh" and start[4:10] == b"1AY&SY":
        raise DataError(
            path, f"the file is compressed with bzip2{where}, not text genofed can read", hint=BZIP2_HINT
        )


def _utf16(start: bytes) -> bool:
    """UTF-16 by its byte-order mark, or, without one, by a NUL in every other byte of ASCII text."""
    if start[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return True
    even, odd = start[0:8:2], start[1:8:2]
    return len(start) >= 8 and (set(odd) == {0} and 0 not in even or set(even) == {0} and 0 not in odd)


def _is_xlsx(path: Path) -> bool:
    """A zip archive that is an Excel workbook (by its `xl/` members, whatever the file is named)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.startswith(XLSX_FOLDER) for name in archive.namelist())
    except (OSError, zipfile.BadZipFile, ValueError):
        return False


def _zip_hint(path: Path) -> str | None:
    """ "unzip it first (`unzip x.zip` gives calls.vcf) ...": the archive's members, when readable."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [name for name in archive.namelist() if not name.endswith("/")]
    except (OSError, zipfile.BadZipFile, ValueError):
        return None
    if not names:
        return "the zip archive holds no file: export the data again"
    return f"unzip it first (`unzip {path.name}` gives {examples(names, 3)}) and give the file inside"


def shown_start(data: bytes, limit: int = 40) -> str:
    """The start of a file as an error may quote it: its first line, quoted, when it is text; else
    "binary data (first bytes 50 4b 03 04 ...)". Raw binary in a message garbles the terminal and
    tells the user nothing."""
    head = data[:limit]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a character cut by `limit` is still text; an invalid byte earlier is not
        cut = len(data) > limit and exc.start >= len(head) - 3
        text = head[: exc.start].decode("utf-8") if cut and exc.start > 0 else None
    if text is not None:
        line = text.split("\n", 1)[0].removesuffix("\r")
        if line and not CONTROL.search(line.encode("utf-8")):
            return repr(line)
    return f"binary data (first bytes {data[:8].hex(' ')})"


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
    check_container(path)
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


def header_line(path: Path, lines: Iterator[tuple[int, str]], what: str) -> tuple[int, str]:
    """The first line of a table (`iter_lines`' numbering), which must be its header.

    A file with no text (an empty gzip stream, only empty lines) is "empty", as `require_file`
    says of a 0-byte file, rather than a header of no columns; an empty first line is refused
    because the federation-folder rule reads a table's columns from its first line.
    """
    first = next(lines, None)
    if first is not None and first[1].strip():
        return first
    header = next(((number, line) for number, line in lines if line.strip()), None)
    if header is None:
        only = " (it holds only empty lines)" if first is not None else ""
        after = " after decompressing" if is_gzip(path) else ""
        raise DataError(path, f"{what} file is empty{after}{only}", hint=EMPTY_HINT)
    number, line = header
    shown = line if len(line) <= 40 else line[:37] + "..."
    raise DataError(
        path,
        f"the file starts with an empty line; the first text, {shown!r}, is on line {number}",
        location="line 1",
        hint="delete the empty line(s) before the header: its first line must be the header (sample_id, ...)",
    )


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


def require_utf8_path(path: Path) -> None:
    """Refuse (DataError) a path whose name holds bytes that are not UTF-8 (a folder named in
    cp1251 by an older Russian system, say): Python keeps such bytes as surrogates, which htslib's
    and bed-reader's path arguments, Ray's messages and the terminal cannot carry, so an intact file
    read as "corrupt or not a VCF", and in `genofed simulate` the hospital's worker died and took a
    healthy hospital's round with it (an audit). The name is shown with the odd bytes escaped."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        shown = Path(os.fsencode(path).decode("utf-8", "backslashreplace"))
        raise DataError(
            shown,
            "the name holds bytes that are not UTF-8 (written in another encoding, e.g. cp1251)",
            hint="rename the file or folder in UTF-8 (e.g. `convmv -f cp1251 -t utf-8 --notest NAME`)",
        ) from None
