"""A user's privacy-ledger indexes, read as one.

The index (`ledgers.json`) maps every data file a ledger was bound to onto that ledger's state
folder (`genofed.client.agent.ledger_binding`). It lives in `$GENOFED_HOME`, else in the user's
default folder; so a user who set `GENOFED_HOME` in one shell and not in another had two indexes
that knew nothing of each other. Why this module: an outside audit checked a site with
`GENOFED_HOME=~/gh`, spent privacy, then checked the same files in a new site folder from a shell
without it, and got a fresh ledger with a fresh budget.

So every index a user binds a ledger in is listed in the user's registry, `indexes.json` in the
default folder (`$GENOFED_INDEX_REGISTRY` names another file: a test's own, or a federation on
one machine whose hospitals stand for separate machines), and each binding reads all of them
(`with_other_indexes`): the same data bound to another state folder in any of them is refused as
it is in one index, and a ledger's high-water mark is the latest recorded in any. The index beside
the registry (the default one) is always read, so an index used before this registry existed is
seen too. Each binding writes only its own index: the others are read, never changed.

What this does not stop: another user account (its own home, its own registry), an index never
used since this registry was added other than the default one, or an operator who sets
`GENOFED_INDEX_REGISTRY` as well: that separates the ledgers on purpose, as deleting an index does.
"""

from __future__ import annotations

import copy
import json
import os
import pwd
from pathlib import Path
from typing import Any

from genofed.common.errors import GenofedError
from genofed.common.util.atomic import exclusive_lock, write_text_atomic

INDEX_ENV = "GENOFED_HOME"
INDEX_FILE = "ledgers.json"
INDEX_FORMAT = "genofed-ledgers/1"
REGISTRY_ENV = "GENOFED_INDEX_REGISTRY"
REGISTRY_FILE = "indexes.json"
REGISTRY_FORMAT = "genofed-ledger-indexes/1"


class LedgerRefused(GenofedError):
    """The agent would start on a ledger that does not belong to its data."""


def default_folder() -> Path:
    """`.local/state/genofed` in the home folder that the password database gives the user running
    the command, not `$HOME`: `sudo -u genofed genofed hospital check` and the service find the
    same folder."""
    return Path(pwd.getpwuid(os.geteuid()).pw_dir) / ".local" / "state" / "genofed"


def index_path() -> Path:
    """The ledger index of the user running the agent: `$GENOFED_HOME/ledgers.json`, else in
    `default_folder()`."""
    if os.environ.get(INDEX_ENV):
        return Path(os.environ[INDEX_ENV]) / INDEX_FILE
    return default_folder() / INDEX_FILE


def registry_path() -> Path:
    """The user's list of ledger indexes: `$GENOFED_INDEX_REGISTRY`, else `indexes.json` in
    `default_folder()`."""
    if os.environ.get(REGISTRY_ENV):
        return Path(os.environ[REGISTRY_ENV])
    return default_folder() / REGISTRY_FILE


def empty_index() -> dict[str, Any]:
    return {"format": INDEX_FORMAT, "files": {}}


def read_index(path: Path) -> dict[str, Any]:
    """The index in `path` (empty when there is none); LedgerRefused when it cannot be read."""
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return empty_index()
    except PermissionError:
        raise LedgerRefused(not_this_users(path)) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise LedgerRefused(
            f"{path}: the ledger index is unreadable ({exc}); restore it from a backup"
        ) from None
    if index.get("format") != INDEX_FORMAT:
        raise LedgerRefused(f"{path}: not a genofed ledger index (format {INDEX_FORMAT!r} expected)")
    return index


def not_this_users(path: Path) -> str:
    """The refusal of a ledger file this user may not read: whose it is and what to do. An audit
    got "unreadable ([Errno 13] Permission denied); restore it from a backup" for a state folder
    of another user's, which is no lost file to restore."""
    me = pwd.getpwuid(os.geteuid()).pw_name
    try:
        owner = pwd.getpwuid(path.stat().st_uid).pw_name
    except (OSError, KeyError):
        owner = "another user"
    return (
        f"{path}: user {me} may not read it (it belongs to {owner}): run the command as the site's own user "
        "(the one its agent runs as, e.g. sudo -u genofed), not as another; nothing is lost"
    )


def registered_indexes(registry_file: Path) -> list[Path]:
    """The indexes the registry lists, and the one beside it (the default index), in that order
    and once each."""
    try:
        registry = json.loads(registry_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        registry = {"format": REGISTRY_FORMAT, "indexes": []}
    except PermissionError:
        raise LedgerRefused(not_this_users(registry_file)) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise LedgerRefused(_unreadable_registry(registry_file, str(exc))) from None
    listed = registry.get("indexes") if isinstance(registry, dict) else None
    if not isinstance(listed, list) or registry.get("format") != REGISTRY_FORMAT:
        raise LedgerRefused(_unreadable_registry(registry_file, f"not a {REGISTRY_FORMAT!r} file"))
    paths = [registry_file.parent / INDEX_FILE, *(Path(str(p)) for p in listed)]
    return list(dict.fromkeys(paths))


def register_index(index_file: Path, registry_file: Path) -> None:
    """List `index_file` in the registry (under its lock) unless it is there or is the index beside
    it; LedgerRefused when the registry cannot be written: an index no registry lists is one a
    command run with another `GENOFED_HOME` would not read."""
    index_file = index_file.resolve()
    if index_file in (p.resolve() for p in registered_indexes(registry_file)):
        return
    try:
        registry_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with exclusive_lock(registry_file):
            listed = [str(p) for p in registered_indexes(registry_file)[1:]]
            if str(index_file) not in listed:
                registry = {"format": REGISTRY_FORMAT, "indexes": [*listed, str(index_file)]}
                write_text_atomic(registry_file, json.dumps(registry, indent=2) + "\n")
    except OSError as exc:
        raise LedgerRefused(
            f"{registry_file}: cannot record the ledger index {index_file} in this user's list of ledger "
            f"indexes ({exc}); without it a command run with another {INDEX_ENV} would not see the "
            f"ledgers this index binds. Make the folder writable, or set {REGISTRY_ENV} to a file that "
            f"every genofed command of this user is given (e.g. ${INDEX_ENV}/{REGISTRY_FILE}). Nothing "
            "was bound, trained, written or charged."
        ) from None


def with_other_indexes(index: dict[str, Any], index_file: Path, registry_file: Path) -> dict[str, Any]:
    """`index` (read from `index_file`) as seen with every other index of the registry: a copy in
    which a data file bound in another index to another state folder, later than here, is bound
    there (the entry names that index, "index"), and a state folder's high-water mark is the latest
    recorded in any. `index` itself is unchanged: a command writes its own index only."""
    view = copy.deepcopy(index)
    files, marks = view["files"], view.setdefault("high_water", {})
    own = index_file.resolve()
    for other in registered_indexes(registry_file):
        if other.resolve() == own or not other.is_file():
            continue  # an index deleted is gone, as it is when it is the only one
        try:
            seen = read_index(other)
        except LedgerRefused as exc:
            raise LedgerRefused(
                f"{exc} (an index listed in {registry_file}, this user's list of ledger indexes: every "
                "command reads it, since the same data may be bound there; an index that holds no ledger "
                "still in use may be taken off that list, which forgets what it binds)"
            ) from None
        for sha, entry in seen.get("files", {}).items():
            here = files.get(sha)
            if here is None or (entry["state_dir"] != here["state_dir"] and _supersedes(entry, here)):
                files[sha] = dict(entry, index=str(other))
        for state_dir, mark in seen.get("high_water", {}).items():
            if state_dir not in marks or str(mark["at"]) > str(marks[state_dir]["at"]):
                marks[state_dir] = mark
    return view


def _supersedes(entry: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether the binding `entry` came after `other`: it records that it replaced it (`--new-ledger`
    in the same second), else it is the later one."""

    def replaced(a: dict[str, Any], b: dict[str, Any]) -> bool:
        return any(
            r.get("state_dir") == b["state_dir"] and r.get("bound_at") == b["bound_at"]
            for r in a.get("replaced") or []
        )

    if replaced(entry, other) or replaced(other, entry):
        return replaced(entry, other)
    return str(entry["bound_at"]) > str(other["bound_at"])


def _unreadable_registry(path: Path, why: str) -> str:
    return (
        f"{path}: this user's list of ledger indexes is unreadable ({why}): restore it from a backup, or "
        "remove it if no other ledger index was ever used (the ledgers it listed would no longer be seen)"
    )
