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
seen too. Each binding writes only its own index: the others are read, never changed. A binding
holds the registry's lock from its reading to its writing, so two commands under two indexes
cannot both bind the same data (a red-team audit did, with two at the same instant).

A listed index that is gone (its folder renamed, moved or deleted) is refused, not passed over: a
red-team audit renamed one and the same patients got a fresh ledger. `genofed hospital indexes`
lists them; `--forget PATH --reason TEXT` takes one off the list on purpose, recorded in the
registry with the reason (`forget_index`).

What this does not stop: another user account (its own home, its own registry), an index never
used since this registry was added other than the default one, or an operator who sets
`GENOFED_INDEX_REGISTRY` as well, or forgets an index: that separates the ledgers on purpose.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import os
import pwd
from collections.abc import Iterator
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
    same folder. A user the database does not know (a container's `--user 4242`) has `$HOME`'s;
    without one either, refused (LedgerRefused) saying what to set."""
    try:
        home = pwd.getpwuid(os.geteuid()).pw_dir
    except KeyError:
        home = os.environ.get("HOME", "")
        if not home:
            raise LedgerRefused(
                f"user id {os.geteuid()} has no entry in the password database and HOME is not set: set "
                f"{INDEX_ENV} to the folder of this site's ledger index and {REGISTRY_ENV} to the file "
                "listing this user's ledger indexes (e.g. $GENOFED_HOME/indexes.json)"
            ) from None
    return Path(home) / ".local" / "state" / "genofed"


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
    try:
        me = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        me = f"id {os.geteuid()}"
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
    return _listed_with_default(registry_file, _read_registry(registry_file))


def _listed_with_default(registry_file: Path, registry: dict[str, Any]) -> list[Path]:
    """The default index beside `registry_file`, then those `registry` lists, once each."""
    beside = registry_file.parent / INDEX_FILE
    return list(dict.fromkeys([beside, *(Path(p) for p in registry["indexes"])]))


def _read_registry(registry_file: Path) -> dict[str, Any]:
    """The registry's content ({"format", "indexes", "forgotten"}); an empty one when there is none."""
    try:
        registry = json.loads(registry_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"format": REGISTRY_FORMAT, "indexes": [], "forgotten": []}
    except PermissionError:
        raise LedgerRefused(not_this_users(registry_file)) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise LedgerRefused(_unreadable_registry(registry_file, str(exc))) from None
    listed = registry.get("indexes") if isinstance(registry, dict) else None
    if not isinstance(listed, list) or registry.get("format") != REGISTRY_FORMAT:
        raise LedgerRefused(_unreadable_registry(registry_file, f"not a {REGISTRY_FORMAT!r} file"))
    return {
        "format": REGISTRY_FORMAT,
        "indexes": [str(p) for p in listed],
        "forgotten": list(registry.get("forgotten") or []),
    }


@contextlib.contextmanager
def registry_lock(registry_file: Path, index_file: Path) -> Iterator[None]:
    """Hold the registry's lock (a binding holds it from reading every index to writing its own:
    one user's commands under two indexes bind one at a time); LedgerRefused when its folder
    cannot be made or written."""
    with contextlib.ExitStack() as held:
        try:  # only the lock's own failure is the registry's: an OSError of the body is the caller's
            registry_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            held.enter_context(exclusive_lock(registry_file))
        except OSError as exc:
            raise LedgerRefused(_unwritable_registry(registry_file, index_file, exc)) from None
        yield


def is_gone(index: Path, registry_file: Path) -> bool:
    """Whether `index`, listed in `registry_file`, is missing: every listed index but the default
    one beside the registry (absent until it is first used) must exist."""
    return not index.exists() and index != registry_file.parent / INDEX_FILE


def register_index(index_file: Path, registry_file: Path) -> None:
    """List `index_file` (its absolute path as given: a symlinked GENOFED_HOME is followed where it
    points each time) in the registry unless it is there or is the index beside it; call it under
    `registry_lock`. LedgerRefused when the registry cannot be written: an index no registry lists
    is one a command run with another `GENOFED_HOME` would not read."""
    index_file = Path(os.path.abspath(index_file))
    registry = _read_registry(registry_file)
    if any(_same_file(index_file, p) for p in _listed_with_default(registry_file, registry)):
        return
    registry["indexes"].append(str(index_file))
    try:
        write_text_atomic(registry_file, json.dumps(registry, indent=2) + "\n")
    except OSError as exc:
        raise LedgerRefused(_unwritable_registry(registry_file, index_file, exc)) from None


def forget_index(index_file: Path, reason: str, registry_file: Path | None = None) -> Path:
    """Take `index_file` off the user's list of ledger indexes on purpose (`genofed hospital indexes
    --forget PATH --reason TEXT`), recording when, the path and `reason` in the registry; returns the
    registry. What it binds is no longer read: the same data may then get a fresh ledger, which is
    why a reason is required and kept. LedgerRefused when it is not listed."""
    registry_file = registry_file or registry_path()
    if not reason.strip():
        raise LedgerRefused('--reason needs a text (it is kept in the list), e.g. --reason "moved to /srv"')
    with registry_lock(registry_file, index_file):
        registry = _read_registry(registry_file)
        kept = [p for p in registry["indexes"] if not _same_file(Path(p), index_file)]
        if len(kept) == len(registry["indexes"]):
            raise LedgerRefused(
                f"{index_file} is not on {registry_file}'s list of ledger indexes (`genofed hospital "
                "indexes` lists them)"
            )
        registry["indexes"] = kept
        registry["forgotten"].append(
            {"index": str(index_file), "reason": reason.strip(), "at": _now(), "user": os.geteuid()}
        )
        write_text_atomic(registry_file, json.dumps(registry, indent=2) + "\n")
    return registry_file


def _same_file(a: Path, b: Path) -> bool:
    """The same path, written alike or resolving alike (a missing file compares by its path)."""
    return os.path.abspath(a) == os.path.abspath(b) or a.resolve() == b.resolve()


def with_other_indexes(index: dict[str, Any], index_file: Path, registry_file: Path) -> dict[str, Any]:
    """`index` (read from `index_file`) as seen with every other index of the registry: a copy in
    which a data file bound in another index to another state folder, later than here, is bound
    there (the entry names that index, "index"), and a state folder's high-water mark is the latest
    recorded in any. `index` itself is unchanged: a command writes its own index only."""
    view = copy.deepcopy(index)
    files, marks = view["files"], view.setdefault("high_water", {})
    own = index_file.resolve()
    for other in registered_indexes(registry_file):
        if other.resolve() == own:
            continue
        if is_gone(other, registry_file):
            raise LedgerRefused(_gone(other, registry_file))
        if not other.exists():
            continue  # the default index, listed or not: absent until it is first used
        try:
            seen = read_index(other)
        except LedgerRefused as exc:
            raise LedgerRefused(
                f"{exc} (an index listed in {registry_file}, this user's list of ledger indexes: every "
                "command reads it, since the same data may be bound there; an index that holds no ledger "
                f"still in use may be taken off the list with `genofed hospital indexes --forget {other} "
                "--reason TEXT`, which forgets what it binds)"
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
        f"{path}: this user's list of ledger indexes is unreadable ({why}): if it was damaged, restore it "
        f"from a backup; if the path is wrong, set {REGISTRY_ENV} to this user's list (removing the file "
        "forgets every ledger index it listed)"
    )


def _unwritable_registry(registry_file: Path, index_file: Path, exc: OSError) -> str:
    return (
        f"{registry_file}: cannot record the ledger index {index_file} in this user's list of ledger "
        f"indexes ({exc.strerror or exc}); without it a command run with another {INDEX_ENV} would not see "
        f"the ledgers this index binds. Make the folder writable, or set {REGISTRY_ENV} to a file that "
        f"every genofed command of this user is given (e.g. ${INDEX_ENV}/{REGISTRY_FILE}). Nothing was "
        "bound, trained, written or charged."
    )


def _gone(index: Path, registry_file: Path) -> str:
    return (
        f"{index}: a ledger index on this user's list ({registry_file}) is gone, and the ledgers it bound "
        "cannot be checked: if its folder was moved or renamed, put it back (or link the old path to the "
        "new place); if it is truly gone, take it off the list on purpose: `genofed hospital indexes "
        f"--forget {index} --reason TEXT` (what it bound may then get a fresh ledger). Nothing was bound, "
        "trained, written or charged."
    )


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
