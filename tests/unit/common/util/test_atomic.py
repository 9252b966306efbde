"""`atomic_path`: a path that is a folder (or lies below a file) is refused before the block runs,
with an error the CLI prints as one line, and nothing is left behind."""

from __future__ import annotations

import pytest

from genofed.common.errors import GenofedError
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
