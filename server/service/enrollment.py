"""The federation's list of enrolled hospitals: who may connect, since when, and who was revoked.

Why (what the data-protection officer asks): "which machines can take part in training on our
patients' model, who added them, and when was access withdrawn?" The coordinator keeps one file,
`hospitals.json`, in its folder: for each enrolled hospital its name, its public key (OpenSSH, EC,
as Flower's SuperNode authentication needs), the key's SHA-256 fingerprint (to compare with the
hospital over a second channel), the cohort size it declares public (read out with the
fingerprint: every run holds it to that size; enrolling without one is an explicit choice) and
the enrolment time; revocations are not deleted but moved to a `revoked` list with the time, so
the history is auditable. A hospital's enrolled size changes only by `coordinator set-size` (its
cohort grew, or it was enrolled before the size was asked for), which keeps each earlier size
with the time it ended. A key is refused if it is malformed, not EC, already enrolled, or was
revoked before (a revoked key stays revoked: a hospital whose key leaked makes a new one). An
enrolment the coordinator never registered with its SuperLink (a mistyped name, the wrong key
file) is withdrawn by `unenroll` instead, which moves it to an `unenrolled` list and leaves its
key enrollable: revoking it burned the hospital's key, which then had to be rotated. Every
change is written atomically, so a crash never leaves a half-written list that could admit or
drop a hospital by accident. Every change also holds an exclusive lock on `hospitals.json.lock`
beside the list from its read to its write (`locked_registry`): two `coordinator enroll` run at
once each read the list, added their hospital and wrote it back, so one enrolment was lost while
both said "enrolled".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from genofed.common.deployment.keys import fingerprint, load_public_key, public_key_openssh
from genofed.common.errors import DataError, GenofedError
from genofed.common.util.atomic import exclusive_lock, write_text_atomic
from genofed.server.service.folder_files import HOSPITALS_FILE, NODES_FILE, STATUS_FILE, require_complete
from genofed.server.service.handover import require_not_handed_over

FORMAT = "genofed-hospitals/1"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class EnrollmentError(GenofedError):
    """An enrolment or revocation the coordinator must refuse."""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def empty_registry() -> dict[str, Any]:
    return {"format": FORMAT, "hospitals": [], "revoked": []}


def write_registry(folder: str | Path, registry: dict[str, Any]) -> None:
    write_text_atomic(Path(folder) / HOSPITALS_FILE, json.dumps(registry, indent=2) + "\n")


def load_registry(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / HOSPITALS_FILE
    if not path.is_file():
        _refuse_missing_registry(folder, path)
    try:
        registry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise EnrollmentError(f"{path}: cannot read the list of hospitals ({exc})") from None
    if not isinstance(registry, dict) or registry.get("format") != FORMAT:
        raise EnrollmentError(f"{path}: not a genofed hospitals list (format {FORMAT!r} expected)")
    check_registry(path, registry)
    return registry


@contextlib.contextmanager
def locked_registry(folder: str | Path) -> Iterator[dict[str, Any]]:
    """The list of hospitals, read while holding its lock (`hospitals.json.lock` beside it), which
    is held until the `with` block ends: a change reads, decides and writes the list (`write_registry`)
    inside the block, so that no other process's change made meanwhile is overwritten. Every writer
    of the list goes through it; reads that only display need not.

    A folder with no list is refused before the lock is taken, as `load_registry` refuses it: taking
    it would create the lock file (and its folder) in a folder that is no federation folder. A
    folder whose federation a second study took over is refused under the lock
    (server/service/handover.py): a revocation made in it would not reach the folder in use."""
    path = Path(folder) / HOSPITALS_FILE
    if not path.is_file():
        _refuse_missing_registry(folder, path)
    with exclusive_lock(path):
        # a folder a second study took over (`init --same-federation-as`): the change belongs there
        require_not_handed_over(folder, "enrol, revoke, unenrol and set sizes")
        yield load_registry(folder)


#: The fields every command reads from an entry, with their types: an enrolled hospital's, and a
#: revoked one's (a revoked entry is the enrolled entry with `revoked_at` added; its key is not read).
ENROLLED_FIELDS = {"name": str, "public_key": str, "fingerprint": str, "enrolled_at": str}
REVOKED_FIELDS = {"name": str, "fingerprint": str, "enrolled_at": str, "revoked_at": str}
#: An unenrolled entry (`unenroll`; the list is absent from files that never had one).
UNENROLLED_FIELDS = {"name": str, "fingerprint": str, "enrolled_at": str, "unenrolled_at": str}

_REGISTRY_FIX = (
    "undo the hand edit (or restore hospitals.json from a backup); the coordinator writes every entry "
    "itself (`genofed coordinator enroll`, `revoke`, `unenroll`, `set-size`)"
)


def check_registry(path: Path, registry: dict[str, Any]) -> None:
    """Refuse a hand-edited or damaged hospitals.json with one DataError naming the entry and field.

    Why here, at load: every command reads the list through `load_registry`, so a missing or
    mistyped field is reported before any command acts on it, instead of a KeyError halfway, e.g.
    `revoke` after it had rewritten the file, or `status` and `start` accepting an entry whose key
    the SuperLink would get as garbage. Checks the fields the commands read, no more: a field an
    older or newer genofed added is left alone."""
    for key in ("hospitals", "revoked"):
        if not isinstance(registry.get(key), list):
            raise DataError(
                path,
                f"{key!r} must be a list of entries, found {_kind(registry.get(key))}",
                hint=_REGISTRY_FIX,
            )
    if not isinstance(registry.get("unenrolled", []), list):
        raise DataError(
            path,
            f"'unenrolled' must be a list of entries, found {_kind(registry['unenrolled'])}",
            hint=_REGISTRY_FIX,
        )
    for key, fields in (
        ("hospitals", ENROLLED_FIELDS),
        ("revoked", REVOKED_FIELDS),
        ("unenrolled", UNENROLLED_FIELDS),
    ):
        for number, entry in enumerate(registry.get(key, []), 1):
            where = f"{key!r} entry {number}"
            if not isinstance(entry, dict):
                raise DataError(
                    path, f"the entry is {_kind(entry)}, not an object", location=where, hint=_REGISTRY_FIX
                )
            if isinstance(entry.get("name"), str):
                where += f" ({entry['name']!r})"
            for field, kind in fields.items():
                value = entry.get(field)
                if not isinstance(value, kind) or not value.strip():
                    problem = (
                        "is missing" if field not in entry else f"is {_kind(value)}, not a non-empty text"
                    )
                    raise DataError(path, f"field {field!r} {problem}", location=where, hint=_REGISTRY_FIX)
            if key == "hospitals":
                _check_entry_sizes(path, where, entry)


def _check_entry_sizes(path: Path, where: str, entry: dict[str, Any]) -> None:
    """`declared_size` (optional) a whole number; `size_history` (optional) a list of
    {"declared_size": number or null, "until": text}, as `set_size` writes them."""

    def refuse(problem: str) -> None:
        raise DataError(path, problem, location=where, hint=_REGISTRY_FIX)

    if "declared_size" in entry and not _is_int(entry["declared_size"]):
        refuse(f"field 'declared_size' is {_kind(entry['declared_size'])}, not a whole number")
    history = entry.get("size_history", [])
    if not isinstance(history, list):
        refuse(f"field 'size_history' is {_kind(history)}, not a list")
    for number, earlier in enumerate(history, 1):
        if (
            not isinstance(earlier, dict)
            or not (earlier.get("declared_size") is None or _is_int(earlier.get("declared_size")))
            or not isinstance(earlier.get("until"), str)
            or "declared_size" not in earlier
        ):
            refuse(
                f"field 'size_history' item {number} is {json.dumps(earlier)[:80]}, not "
                '{"declared_size": N or null, "until": "TIME"}'
            )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    """How an error names a JSON value that is not what was expected."""
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a text", bool: "true/false"}.get(
        type(value), f"the number {value}" if isinstance(value, (int, float)) else type(value).__name__
    )


def _refuse_missing_registry(folder: str | Path, path: Path) -> None:
    """No hospitals.json: a folder `coordinator init` never made, or one of its federation folders
    with the list deleted or not copied along; the refusal says which, what is missing and what to
    do (`require_complete`, as `coordinator status` and `start` say it). Never an empty list made
    anew: that would drop the revocations, and a revoked key could be enrolled again."""
    try:
        require_complete(folder)
    except GenofedError as refused:
        raise EnrollmentError(str(refused)) from None
    raise EnrollmentError(  # not reached: require_complete names a missing hospitals.json
        f"{path} not found: {folder} is not a federation folder (make one with `genofed coordinator init`)"
    )


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise EnrollmentError(
            f"hospital name {name!r}: use 1-63 lower-case letters, digits, '-' or '_', starting with a "
            "letter or digit"
        )
    return name


#: The largest cohort size a hospital may be enrolled with (`genofed.server.sites.MAX_DECLARED_SIZE`).
MAX_ENROLLED_SIZE = 10**6


def enroll(
    folder: str | Path, name: str, public_key_file: str | Path, *, declared_size: int | None
) -> dict[str, Any]:
    """Register a hospital's public key and the cohort size it declares public; returns its entry.

    `declared_size`: the number `genofed hospital check` printed as "declared public", read out
    with the key's fingerprint. A hospital enrolled with it must declare exactly that many
    patients in every run (`genofed.server.sites.describe_sites`): its declared size sets its
    FedAvg weight, its update-norm bound and, under SecAgg+, every hospital's weight, and was the
    hospital's word alone (a hospital declaring 10**6 took over the shared model). No default:
    None, given explicitly (`coordinator enroll --no-declared-size`), enrols without one and
    leaves that size unchecked (docs/robust-aggregation.md, "Known gap: declared cohort sizes")."""
    check_name(name)
    if declared_size is not None:
        _check_size(declared_size)
    with locked_registry(folder) as registry:  # first: a wrong folder is the first thing to report
        return _enroll(folder, registry, name, public_key_file, declared_size)


def _enroll(
    folder: str | Path,
    registry: dict[str, Any],
    name: str,
    public_key_file: str | Path,
    declared_size: int | None,
) -> dict[str, Any]:
    """`enroll`'s check and write, with the registry's lock held."""
    key = load_public_key(public_key_file)
    line = public_key_openssh(key)
    fp = fingerprint(key)
    for entry in registry["hospitals"]:
        if entry["name"] == name:
            raise EnrollmentError(
                f"hospital {name!r} is already enrolled (key {entry['fingerprint']}, since "
                f"{entry['enrolled_at']}); revoke it first to replace its key"
            )
        if entry["fingerprint"] == fp:
            raise EnrollmentError(
                f"{public_key_file}: this key ({fp}) is already enrolled as hospital {entry['name']!r}; "
                f"every hospital needs its own key"
            )
    for entry in registry["revoked"]:
        if entry["fingerprint"] == fp:
            raise EnrollmentError(
                f"{public_key_file}: this key ({fp}) was revoked for {entry['name']!r} on "
                f"{entry['revoked_at']}; a revoked key is never re-enrolled: the hospital makes a new key "
                "(`genofed hospital rotate-key SITE`, which keeps its ledger) and you enrol that"
            )
    entry = {
        "name": name,
        "public_key": line,
        "fingerprint": fp,
        "curve": key.curve.name,
        "enrolled_at": _now(),
        "source_file": str(Path(public_key_file).resolve()),
        **({"declared_size": int(declared_size)} if declared_size is not None else {}),
    }
    registry["hospitals"].append(entry)
    write_registry(folder, registry)
    return entry


#: The comment `genofed hospital init` writes on a hospital's public key.
INIT_COMMENT_RE = re.compile(r"genofed-hospital-([a-z0-9][a-z0-9_-]*)")


def key_comment_warning(folder: str | Path, name: str, public_key_file: str | Path) -> str | None:
    """A warning when the key's comment (free text after the key on its line) names another
    hospital than `name`: `genofed hospital init`'s `genofed-hospital-OTHER`, or the name of
    another hospital of this federation (enrolled or revoked) as a word, e.g. `astrakhan@host`
    enrolled as rostov: the files of two hospitals mixed up. A warning, not a refusal: comments
    are free text, and the fingerprint read out over the phone is what decides."""
    try:
        fields = Path(public_key_file).read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return None
    comment = " ".join(fields[2:])
    made_for = INIT_COMMENT_RE.fullmatch(comment)
    if made_for:
        others = [made_for.group(1)] if made_for.group(1) != name else []
    else:
        registry = load_registry(folder)
        known = {e["name"] for e in registry["hospitals"] + registry["revoked"]} - {name}
        words = set(re.findall(r"[a-z0-9][a-z0-9_-]*", comment.lower()))
        others = [] if name in words else sorted(known & words)
    if not others:
        return None
    return (
        f"{public_key_file}: the key's comment {comment!r} names hospital {others[0]!r}, not {name!r}: "
        f"check with {name} that this is its key (compare the fingerprint over the phone); a mistyped "
        f"name or a wrong file is undone with `genofed coordinator unenroll {folder} --name {name}`, "
        "which leaves the key enrollable (revoking would burn it)"
    )


def revoke(folder: str | Path, name: str) -> dict[str, Any]:
    """Remove a hospital from the enrolled list; keeps the revocation (with time) in the audit trail."""
    with locked_registry(folder) as registry:
        return _revoke(folder, registry, name)


def revoke_key(folder: str | Path, fingerprint: str) -> dict[str, Any]:
    """Revoke the hospital enrolled with the key `fingerprint`, whatever its name (`coordinator
    revoke --fingerprint`). Why: a hospital that rotates its key knows its old key's fingerprint,
    not the name the coordinator enrolled it under (a walkthrough's `rostv` for rostov: `revoke
    --name rostov`, as rotate-key advised, named no enrolment)."""
    with locked_registry(folder) as registry:
        return _revoke(folder, registry, _enrolled_name(registry, fingerprint))


def _revoke(folder: str | Path, registry: dict[str, Any], name: str) -> dict[str, Any]:
    """`revoke`'s change and write, with the registry's lock held."""
    entry = dict(_enrolled(registry, name), revoked_at=_now())
    registry["hospitals"] = [e for e in registry["hospitals"] if e["name"] != name]
    registry["revoked"].append(entry)
    write_registry(folder, registry)
    return entry


def _enrolled_name(registry: dict[str, Any], fingerprint: str) -> str:
    """The name the key with `fingerprint` is enrolled under; refused, saying what became of the
    key, when no enrolled hospital has it."""
    for entry in registry["hospitals"]:
        if entry["fingerprint"] == fingerprint:
            return str(entry["name"])
    for entry in registry["revoked"]:
        if entry["fingerprint"] == fingerprint:
            raise EnrollmentError(
                f"key {fingerprint} was already revoked (enrolled as {entry['name']!r}) on "
                f"{entry['revoked_at']}: nothing to revoke"
            )
    for entry in registry.get("unenrolled", []):
        if entry["fingerprint"] == fingerprint:
            raise EnrollmentError(
                f"key {fingerprint} was unenrolled (as {entry['name']!r}) on {entry['unenrolled_at']} and is "
                "not enrolled: nothing to revoke"
            )
    enrolled = ", ".join(f"{e['name']} {e['fingerprint']}" for e in registry["hospitals"]) or "none"
    raise EnrollmentError(
        f"no enrolled hospital has key {fingerprint} (enrolled: {enrolled}); copy the fingerprint from "
        "`genofed coordinator hospitals DIR`"
    )


def unenroll(folder: str | Path, name: str) -> dict[str, Any]:
    """Withdraw an enrolment no `coordinator start` ever registered, leaving its key enrollable.

    Why: an operator who enrolled rostov's key as `rostv` could only revoke it, and a revoked key
    is never enrolled again, so rostov had to rotate a key nothing was wrong with. Revocation burns
    the key because the hospital or its key may no longer be trusted; a mistyped name or a wrong
    key file is the operator's slip, and a key no SuperLink ever accepted cannot have connected or
    taken part. So `unenroll` is refused once the coordinator registered the key
    (`registration`): then only `revoke` withdraws it. The entry moves to the `unenrolled` list
    with the time, beside the revocations, so the audit trail keeps it."""
    with locked_registry(folder) as registry:
        entry = _enrolled(registry, name)
        seen = registration(folder, entry)
        if seen:
            raise EnrollmentError(
                f"hospital {name!r} cannot be unenrolled: {seen}, so it may have connected and taken "
                f"part; withdraw it with `genofed coordinator revoke {folder} --name {name}` (its key is "
                "then never enrolled again: the hospital makes a new one with `genofed hospital rotate-key "
                "SITE`)"
            )
        entry = dict(entry, unenrolled_at=_now())
        registry["hospitals"] = [e for e in registry["hospitals"] if e["name"] != name]
        registry.setdefault("unenrolled", []).append(entry)
        write_registry(folder, registry)
    return entry


def registration(folder: str | Path, entry: dict[str, Any]) -> str | None:
    """How the coordinator's own files show that `coordinator start` registered enrolled entry
    `entry` with its SuperLink (None: they show nothing): the admission map (nodes.json) has its
    name or key, or the coordinator's state (coordinator.json) lists its name. A file that cannot be
    read counts as registered: what it held is not known."""
    folder = Path(folder)
    for file in (NODES_FILE, STATUS_FILE):
        try:
            data = json.loads((folder / file).read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
        except (OSError, ValueError):
            return f"{folder / file} cannot be read to tell whether its key was registered"
        known = data.get("hospitals") if file == STATUS_FILE and isinstance(data, dict) else data
        if not isinstance(known, dict):
            return f"{folder / file} cannot be read to tell whether its key was registered"
        for other, node in known.items():
            same_key = isinstance(node, dict) and node.get("fingerprint") == entry["fingerprint"]
            if other == entry["name"] or same_key:
                node_id = node.get("node_id") if isinstance(node, dict) else None
                return (
                    f"`genofed coordinator start` registered its key ({entry['fingerprint']}) with the "
                    f"SuperLink{f' as node {node_id}' if node_id else ''} ({file})"
                )
    return None


def set_size(folder: str | Path, name: str, declared_size: int) -> dict[str, Any]:
    """Record the cohort size enrolled hospital `name` now declares public; returns its entry.

    Why: a hospital's cohort grows (`hospital check --data-update`), or it was enrolled before the
    size was asked for, and re-enrolling is no way out: a revoked key is never enrolled again. The
    operator reads the new size out with the key's fingerprint, as at enrolment. The earlier size
    (None: none was enrolled) is kept in the entry's `size_history` with the time it ended, so the
    file shows every size a run held the hospital to. A run checks the sizes once, when it
    introduces the hospitals (`genofed.server.sites.describe_sites`), so the new size holds from the
    next run, or after the coordinator is restarted (it resumes from its last checkpoint)."""
    _check_size(declared_size)
    with locked_registry(folder) as registry:
        entry = _enrolled(registry, name)
        before = entry.get("declared_size")
        if before == declared_size:
            raise EnrollmentError(
                f"hospital {name!r} is already enrolled with size {declared_size}; nothing changed"
            )
        entry.setdefault("size_history", []).append({"declared_size": before, "until": _now()})
        entry["declared_size"] = int(declared_size)
        write_registry(folder, registry)
    return entry


def _enrolled(registry: dict[str, Any], name: str) -> dict[str, Any]:
    """Enrolled hospital `name`'s entry in `registry`; refused, saying when it was revoked if it
    was (a revoked hospital is no longer enrolled: it makes a new key and is enrolled again)."""
    for entry in registry["hospitals"]:
        if entry["name"] == name:
            return entry
    revoked = [e["revoked_at"] for e in registry["revoked"] if e["name"] == name]
    if revoked:
        raise EnrollmentError(
            f"hospital {name!r} was revoked on {revoked[-1]} and is not enrolled: to take it back, enrol a "
            "new key of the hospital's (`genofed coordinator enroll ... --declared-size N`)"
        )
    unenrolled = [e["unenrolled_at"] for e in registry.get("unenrolled", []) if e["name"] == name]
    if unenrolled:
        raise EnrollmentError(f"{name!r} was unenrolled on {unenrolled[-1]} and is not enrolled")
    enrolled = ", ".join(e["name"] for e in registry["hospitals"]) or "none"
    raise EnrollmentError(f"no enrolled hospital named {name!r} (enrolled: {enrolled})")


def _check_size(declared_size: int) -> None:
    if not 2 <= declared_size < MAX_ENROLLED_SIZE:
        raise EnrollmentError(
            f"--declared-size {declared_size}: give the cohort size the hospital declares public (2 to "
            f"{MAX_ENROLLED_SIZE - 1:,}), as `genofed hospital check` printed it"
        )


def hospitals(folder: str | Path) -> list[dict[str, Any]]:
    return list(load_registry(folder)["hospitals"])


def without_size(folder: str | Path) -> list[str]:
    """The enrolled hospitals with no enrolled cohort size (`--no-declared-size`, or enrolled
    before the size was asked for): the size each declares in a run is its word alone."""
    return [e["name"] for e in load_registry(folder)["hospitals"] if "declared_size" not in e]


def enrolled_sizes(folder: str | Path) -> dict[str, int]:
    """The declared cohort size each enrolled hospital was enrolled with (name -> size; hospitals
    enrolled without one are absent)."""
    return {
        e["name"]: int(e["declared_size"]) for e in load_registry(folder)["hospitals"] if "declared_size" in e
    }
