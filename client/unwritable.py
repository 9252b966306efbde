"""Why a site's own files could not be written, in words a refusal may carry.

A hospital's ledger, secret, plans and audit log live in its state folder and audit log; when the
storage refuses a write (read-only, full, over quota, not the agent's), the round is refused in
words that name the file and the reason, which hold no patient data, instead of a traceback and
"internal error" (an operator's audit, stop 47). Used by `client.app`.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

#: Why the site's own files (ledger, state, audit log) could not be written, by errno: the operator
#: can fix each (free space, remount, fix the folder's owner or mode), and the words name no patient.
UNWRITABLE = {
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left",
    errno.EDQUOT: "no space left: disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}
#: Of those, the errors only a write gives; a permission error counts only on the site's own files
#: (reading a data file the agent may not read is no state problem).
_WRITE_ONLY = frozenset({errno.EROFS, errno.ENOSPC, errno.EDQUOT})


def unwritable_reason(exc: OSError, own: list[Path], fallback: Path | None, outcome: str) -> str | None:
    """The site's refusal when `exc` is a failure to write its own files, else None.

    A read-only file system, a full disk or quota, or a permission error on one of `own` (the
    site's state folder, its audit log): "cannot write PATH (why): `outcome`". PATH is the file
    the error names, else `fallback` (a full disk fails a write of an open file, which names none)."""
    why = UNWRITABLE.get(exc.errno) if exc.errno is not None else None
    path = Path(os.fsdecode(exc.filename)) if isinstance(exc.filename, (str, bytes, os.PathLike)) else None
    if why is None or (exc.errno not in _WRITE_ONLY and not (path and any(_inside(path, p) for p in own))):
        return None
    where = path or fallback
    if where is None:
        return None
    return f"cannot write {where} ({why}): {outcome}"


def _inside(path: Path, folder: Path) -> bool:
    path, folder = Path(os.path.abspath(path)), Path(os.path.abspath(folder))
    return path == folder or folder in path.parents
