"""A run that fails before its first round leaves nothing of itself in RUN.

Why: a simulation writes into RUN before its first round (a panel built from the hospitals'
variant summaries, the round-0 checkpoint, the privacy-ledger folders). When it then fails, for
example because too few hospitals can take part, those files used to stay behind, and RUN was
refused by the next `genofed simulate` ("already holds a run") and by `--force` too ("not a genofed
run": a lone panel.tsv is not one of a run's marks, and must not be, since a federation folder
holds one). A run that trained no round has nothing worth resuming, so whatever this invocation
added to RUN is removed again, and RUN itself (and the parents it created) when it did not exist
before and is left empty.

Never removed: what RUN held before the run started (a previous run being resumed, the cohorts
`genofed simulate` simulated into RUN/cohorts, a user's files), nor anything once a round
finished (the run is then resumable with --resume, or replaced with --force).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from genofed.server.checkpoint import CHECKPOINTS

logger = logging.getLogger(__name__)


@contextmanager
def discarded_unless_trained(out_dir: Path) -> Iterator[None]:
    """Run the body; if it raises (Ctrl-C included) before a new round was checkpointed in
    `out_dir`, remove what it added to `out_dir`, then re-raise."""
    out_dir = Path(out_dir)
    created = _first_missing(out_dir)
    before = set(os.listdir(out_dir)) if out_dir.is_dir() else set()
    rounds_before = trained_rounds(out_dir)
    try:
        yield
    except BaseException:
        if trained_rounds(out_dir) <= rounds_before:
            _remove_added(out_dir, before, created)
        raise


def trained_rounds(out_dir: Path) -> int:
    """The highest round checkpointed in `out_dir` (0: none trained; round 0 is the start model)."""
    rounds = [0]
    folder = Path(out_dir) / CHECKPOINTS
    if folder.is_dir():
        for path in folder.glob("round-*.pt"):
            digits = path.stem.removeprefix("round-")
            if digits.isdigit():
                rounds.append(int(digits))
    return max(rounds)


def _first_missing(path: Path) -> Path | None:
    """The outermost of `path` and its parents that does not exist yet (None: `path` exists)."""
    path = path.absolute()
    if path.exists():
        return None
    while not path.parent.exists():
        path = path.parent
    return path


def _remove_added(out_dir: Path, before: set[str], created: Path | None) -> None:
    """Remove the entries of `out_dir` not in `before`; then the empty folders this run created."""
    if out_dir.is_dir():
        for name in sorted(set(os.listdir(out_dir)) - before):
            path = out_dir / name
            try:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            except OSError as exc:  # the run's own error matters more than a leftover
                logger.warning("could not remove %s after the failed run: %s", path, exc)
    if created is None:
        return
    folder = out_dir.absolute()
    while True:
        try:
            folder.rmdir()  # only ever an empty folder
        except OSError:
            return
        if folder == created:
            return
        folder = folder.parent
