"""`atomic_path`: a path that is a folder (or lies below a file) is refused before the block runs,
with an error the CLI prints as one line, and nothing is left behind."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from genofed.common.errors import GenofedError
from genofed.common.util import atomic
from genofed.common.util.atomic import (
    NotAFileTargetError,
    atomic_path,
    require_file_target,
    write_text_atomic,
)


def test_a_folder_is_refused_before_the_work(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    ran = []
    with pytest.raises(NotAFileTargetError, match="is a folder: give the path of a file") as refused:
        with atomic_path(folder):
            ran.append("the work")
    assert (
        ran == [] and isinstance(refused.value, GenofedError) and isinstance(refused.value, IsADirectoryError)
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary file left


def test_a_path_below_a_file_is_refused(tmp_path):
    (tmp_path / "table.csv").write_text("x\n")
    with pytest.raises(NotAFileTargetError, match="table.csv is a file, not a folder"):
        require_file_target(tmp_path / "table.csv" / "deeper" / "out.csv")


def test_a_file_is_written_and_replaced(tmp_path):
    path = tmp_path / "new" / "out.txt"
    assert require_file_target(path) == path
    write_text_atomic(path, "one")
    write_text_atomic(path, "two")
    assert path.read_text() == "two" and sorted(p.name for p in path.parent.iterdir()) == ["out.txt"]


def test_a_folder_the_storage_refuses_is_named_as_asked_not_by_its_staging_folder(tmp_path, monkeypatch):
    """An operator's audit: `error: /tmp/x/.c._9wj4d98.partial: Read-only file system`."""

    def refused(**kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(Path(kwargs["dir"]) / ".c.abc.partial"))

    monkeypatch.setattr(atomic.tempfile, "mkdtemp", refused)
    with pytest.raises(OSError) as raised, atomic.atomic_dir(tmp_path / "c"):
        pass
    assert raised.value.filename == str(tmp_path / "c") and raised.value.errno == errno.EROFS
