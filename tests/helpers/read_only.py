"""A folder that takes no new file, as on a read-only mount. Tests run as root here, and root
ignores permission bits, so a chmod would not do it: new files in the folder fail instead where
genofed makes them (`tempfile.mkstemp`: the writability probe and every atomic write)."""

from __future__ import annotations

import errno
import tempfile
from pathlib import Path

import pytest


def make_read_only(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """From now on every new file in `folder` fails with EROFS; other folders work as before."""
    mkstemp = tempfile.mkstemp

    def refuse(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).resolve() == folder.resolve():
            raise OSError(errno.EROFS, "Read-only file system")
        return mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
