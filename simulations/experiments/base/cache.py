"""The piece cache: a finished piece of an experiment is kept in OUT and read back on a rerun.

An interrupted experiment picks up where it stopped; a piece's file name says what it depends
on, so a piece of another configuration is another file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genofed.common.util.atomic import write_text_atomic

Rows = list[dict[str, Any]]


def cached(path: Path, compute: Callable[[], Rows]) -> Rows:
    """The rows stored at `path`, or `compute()`'s, written there atomically first.

    Args:
        path: the piece's JSON file.
        compute: what makes the rows when the piece is not there yet (called at most once).
    """
    from genofed.server.results import json_default  # torch comes with it: only when writing

    if path.exists():
        return json.loads(path.read_text())
    rows = compute()
    write_text_atomic(path, json.dumps(rows, indent=1, default=json_default) + "\n")
    return rows
