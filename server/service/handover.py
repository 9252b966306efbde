"""The mark a federation folder gets when a second study takes its federation over.

Why: `genofed coordinator init NEW_DIR --same-federation-as OLD_DIR` (server/service/same_federation.py)
copies OLD_DIR's CA and enrolments into NEW_DIR. From then on two folders could admit the same
hospitals under the same CA, and a revocation made in one would not reach the other: a key revoked
in NEW_DIR would still be registered by a `coordinator start OLD_DIR` (an unfinished run resumes),
and a key revoked in OLD_DIR would stay enrolled in NEW_DIR. So the federation's trust lives in one
folder at a time: OLD_DIR gets `handed-over.json`, and the commands that admit hospitals or change
who is enrolled (`coordinator start`, `enroll`, `revoke`, `unenroll`, `set-size`) refuse it, naming
the folder that holds the federation now.

The mark counts only while the successor confirms it (its federation.json names OLD_DIR and the
same handover id): a NEW_DIR whose creation failed after the mark was written, or one the operator
deleted before it ever ran, leaves OLD_DIR as it was. Standard library only, so that the enrolment
list (server/service/enrollment.py) can check it without importing the carrying.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from genofed.common.errors import GenofedError
from genofed.common.util.atomic import write_text_atomic

#: Written into the older folder; names the successor folder and the handover's id.
HANDOVER_FILE = "handed-over.json"
#: The key of NEW_DIR's federation.json that records where its federation came from.
PREDECESSOR_KEY = "same_federation_as"


@dataclass(frozen=True)
class Handover:
    """An older folder's federation, carried over to `successor` at `at` (UTC, ISO 8601)."""

    successor: Path
    at: str
    handover_id: str


def handed_over_to(folder: str | Path) -> Handover | None:
    """The folder that holds `folder`'s federation now, or None when `folder` still holds it (no
    mark, or a mark its successor does not confirm: never made, or deleted). A mark that cannot be
    read is refused: whether the federation moved on is not known, and guessing "no" would let a
    revoked key in."""
    folder = Path(folder)
    path = folder / HANDOVER_FILE
    try:
        mark = json.loads(path.read_text(encoding="utf-8"))
        handover = Handover(Path(mark["successor"]), str(mark["at"]), str(mark["handover_id"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GenofedError(
            f"{path}: cannot read it ({type(exc).__name__}: {exc}); it says which folder took this "
            "federation over (`coordinator init NEW_DIR --same-federation-as`): restore it from a backup, "
            "or delete it if that folder no longer exists"
        ) from None
    return handover if _confirmed(folder, handover) else None


def _confirmed(folder: Path, handover: Handover) -> bool:
    """Whether the successor's federation.json names `folder` as its predecessor, with this id."""
    try:
        successor = json.loads((handover.successor / "federation.json").read_text(encoding="utf-8"))
        record = successor[PREDECESSOR_KEY]
        return record["handover_id"] == handover.handover_id and Path(record["folder"]) == folder.resolve()
    except (OSError, ValueError, KeyError, TypeError):
        return False


def write_handover(folder: Path, successor: Path, at: str, handover_id: str) -> None:
    """Mark `folder` as carried over to `successor` (written atomically)."""
    mark = {"successor": str(successor.resolve()), "at": at, "handover_id": handover_id}
    write_text_atomic(folder / HANDOVER_FILE, json.dumps(mark, indent=2) + "\n")


def require_not_handed_over(folder: str | Path, doing: str) -> None:
    """Refuse `doing` (e.g. "enrol hospitals") in a folder whose federation a later study took over,
    naming that folder: a change made here would not reach it."""
    handover = handed_over_to(folder)
    if handover is None:
        return
    raise GenofedError(
        f"{folder}: this federation (its CA, enrolled hospitals and revocations) was carried over to "
        f"{handover.successor} on {handover.at} (`genofed coordinator init {handover.successor} "
        f"--same-federation-as {folder}`); {doing} there, not here: what is done here would not reach "
        "it (see `genofed coordinator hospitals " + str(handover.successor) + "`)"
    )
