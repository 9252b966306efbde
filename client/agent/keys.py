"""`genofed hospital init`: the site's own key pair, made at the hospital, never sent anywhere.

Why (what the data-protection officer asks): "how does our hospital prove to the coordinator that
it is us, and who else can use that proof?" The site makes an EC key pair here (P-384, in the
OpenSSH format flower-supernode's `--auth-supernode-private-key` loads with `load_ssh_private_key`).
The private key stays in the site folder, readable by the owner only (0600, written atomically);
only the public key (`supernode.pub`) and its SHA-256 fingerprint go to the coordinator, who enrols
it (`genofed coordinator enroll`). An existing key is never overwritten by `init`: replacing it
silently would lock the site out, or hide that a key was swapped. To rotate it (a key that may have
leaked, a routine change), `genofed hospital rotate-key` replaces the pair in the same folder
(`rotate_site_key`): the site keeps its ledger, budget and audit log, hospital.json records the old
fingerprint under `rotated`, the audit log says so, and the coordinator revokes the old key and
enrols the new one. (A new site folder would have started the data's privacy ledger anew, which
`hospital check` refuses without `--new-ledger`: an operator's walkthrough followed the old advice
and was one flag from a fresh budget for patients who had spent theirs.)
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from genofed.common.deployment.keys import (
    CURVE,
    fingerprint,
    load_public_key,
    load_supernode_private_key,
    public_key_openssh,
    write_private_atomic,
)
from genofed.common.errors import GenofedError
from genofed.common.util.atomic import write_text_atomic

PRIVATE_KEY, PUBLIC_KEY, SITE_FILE = "supernode.key", "supernode.pub", "hospital.json"
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")
#: The site folder and hospital.json are the owner's only: hospital.json comes to hold the exact
#: patient and case counts (`hospital check`) and the cohort paths, which never leave the site.
SITE_FOLDER_MODE, SITE_FILE_MODE = 0o700, 0o600
#: Every key genofed writes in hospital.json: `hospital init`'s at the top, `hospital check`'s under
#: "data" (`check.check_site`). Anything else was added by hand and is refused
#: (`_require_known_keys`): an audit's typo `"require_secag": true` was silently ignored, so the
#: operator believed secure aggregation was required while it was not.
SITE_KEYS = frozenset({"name", "private_key", "public_key", "fingerprint", "created", "rotated", "data"})
DATA_KEYS = frozenset(
    {
        "files",
        "epsilon_budget",
        "delta",
        "require_secagg",
        "declared_size",
        "model_digest",
        "model",
        "max_evaluations",
        "checked_at",
        "summary",
        "alignment",
        "label_column",
        "max_coalition_epsilon",
        "synthetic",
        "earlier_budgets",
        "budget_set_at",
    }
)


def init_site(folder: str | Path, name: str) -> dict[str, Any]:
    """Make the site's key pair in `folder`; returns name, paths, public key line and fingerprint."""
    folder = Path(folder)
    if not name or len(name) > 63 or not set(name) <= NAME_CHARS or name[0] in "-_":
        raise GenofedError(
            f"hospital name {name!r}: use 1-63 lower-case letters, digits, '-' or '_', starting with a "
            "letter or digit"
        )
    existing = [p for p in (folder / PRIVATE_KEY, folder / PUBLIC_KEY, folder / SITE_FILE) if p.exists()]
    if existing:
        raise GenofedError(
            f"{existing[0]} exists: refusing to overwrite this site's key (to rotate it, run `genofed "
            f"hospital rotate-key {folder}`: the site keeps its ledger)"
        )
    _make_site_folder(folder)
    line, print_ = _write_key_pair(folder, name)
    info = {
        "name": name,
        "private_key": PRIVATE_KEY,
        "public_key": PUBLIC_KEY,
        "fingerprint": print_,
        "created": _now(),
    }
    write_text_atomic(folder / SITE_FILE, json.dumps(info, indent=2) + "\n", mode=SITE_FILE_MODE)
    return dict(info, public_key_line=line, folder=str(folder))


def rotate_site_key(folder: str | Path) -> dict[str, Any]:
    """Replace the site's key pair in `folder` with a new one, keeping everything else of the site.

    Works whatever the old key's state (lost, leaked, swapped for another site's: a new key of the
    site's own is the way out of each), only while no agent or check holds the folder. The old
    public key, when there is one, stays as `supernode.pub.retired-TIME`; the old private key is
    overwritten (a key being retired must not stay usable from this folder). hospital.json gets the
    new fingerprint and the one it recorded before under `rotated` (the key the coordinator enrolled
    and now revokes); the audit log an entry. Returns name, the old and new fingerprints, the public
    key line and the retired public key's path (None without one)."""
    from genofed.client.agent.audit import require_appendable
    from genofed.client.agent.site_lock import hold_site

    folder = Path(folder)
    load_site_file(folder)  # a site folder, before its lock is made in it
    with hold_site(folder, why=ROTATE_WHILE_RUNNING, command="genofed hospital rotate-key"):
        site = load_site_file(folder)  # read under the lock: a check finishing before it is kept
        old = str(site.get("fingerprint") or "")
        require_appendable(folder, "a key rotation")
        retired = None
        if (folder / PUBLIC_KEY).is_file():
            retired = _unused(folder / f"{PUBLIC_KEY}.retired-{_now().replace(':', '')}")
            retired.write_bytes((folder / PUBLIC_KEY).read_bytes())
        line, new = _write_key_pair(folder, str(site["name"]))
        rotated = [
            *list(site.get("rotated") or []),
            {"fingerprint": old, "until": _now(), "public_key": retired.name if retired else None},
        ]
        write_text_atomic(
            folder / SITE_FILE,
            json.dumps({**site, "fingerprint": new, "rotated": rotated}, indent=2) + "\n",
            mode=SITE_FILE_MODE,
        )
        _audit_rotation(folder, old, new)
    return {
        "name": site["name"],
        "old": old,
        "fingerprint": new,
        "public_key_line": line,
        "retired": None if retired is None else str(retired),
    }


#: Why `rotate-key` needs the site to itself: the running agent's SuperNode holds the old key.
ROTATE_WHILE_RUNNING = (
    "the running agent's SuperNode authenticates with the key being replaced; stop the agent, rotate the "
    "key, have the coordinator enrol the new one, then start the agent again"
)


def _write_key_pair(folder: Path, name: str) -> tuple[str, str]:
    """A fresh EC key pair in `folder` (the private key 0600, atomically); (public key line, fingerprint)."""
    key = ec.generate_private_key(CURVE())
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    write_private_atomic(folder / PRIVATE_KEY, private)
    load_supernode_private_key(folder / PRIVATE_KEY)  # what flower-supernode will do: fail now, not at start
    line = public_key_openssh(key.public_key(), comment=f"genofed-hospital-{name}")
    write_text_atomic(folder / PUBLIC_KEY, line + "\n")
    return line, fingerprint(key.public_key())


def _unused(path: Path) -> Path:
    """`path`, or `path-2`, `path-3`, ... when it exists (two rotations within one second)."""
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}-{number}")
    return candidate


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _audit_rotation(folder: Path, old: str, new: str) -> None:
    from genofed.client.agent.audit import (
        AUDIT_FILE,
        KEY_ROTATED_EVENT,
        LEDGER_TYPE,
        append_entry,
        entry_time,
    )

    append_entry(
        folder / AUDIT_FILE,
        {
            "time": entry_time(),
            "type": LEDGER_TYPE,
            "status": "ok",
            "event": KEY_ROTATED_EVENT,
            "command": "hospital rotate-key",
            "reason": f"site key rotated: fingerprint {old} -> {new}",
            "old_fingerprint": old,
            "new_fingerprint": new,
            "run": None,
            "round": None,
            "records": [],
        },
    )


def _make_site_folder(folder: Path) -> None:
    """The site folder, made 0700 if missing and set to 0700 if it exists; a path that cannot be one
    (an existing file, a path through a file) is refused by name before any key is made, not with
    Python's FileExistsError."""
    if folder.exists() and not folder.is_dir():
        raise GenofedError(
            f"{folder} is a file, not a folder: give `genofed hospital init` a new folder name (it is made) "
            "or an existing folder"
        )
    try:
        if folder.exists():  # made beforehand (e.g. `install -d -m 0755`): made the owner's only
            folder.chmod(SITE_FOLDER_MODE)
        else:
            folder.mkdir(parents=True, mode=SITE_FOLDER_MODE)
    except OSError as exc:
        raise GenofedError(
            f"{folder}: cannot make the site folder, or make it readable by its owner only ({exc.strerror}"
            + (f": {exc.filename}" if exc.filename and str(exc.filename) != str(folder) else "")
            + "); give a folder under one you can write to, owned by the user the agent runs as"
        ) from None


def load_site_file(folder: str | Path) -> dict[str, Any]:
    """DIR/hospital.json; a path that is not a site folder is refused, saying what it is instead."""
    folder = Path(folder)
    path = folder / SITE_FILE
    if not path.is_file():
        what = "it does not exist" if not folder.exists() else "it is a file" if not folder.is_dir() else ""
        raise GenofedError(
            f"{folder} is not a site folder (made by `genofed hospital init`): "
            + (what or f"it holds no {SITE_FILE}")
            + f"; make one with `genofed hospital init {folder} --name NAME`, or give the site folder"
        )
    try:
        site = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GenofedError(f"{path}: cannot read this site file ({exc})") from None
    if not isinstance(site, dict):
        raise GenofedError(f"{path}: not a site file (a JSON object expected); restore it from a backup")
    _require_known_keys(path, site)
    return site


def _require_known_keys(path: Path, site: dict[str, Any]) -> None:
    """Refuse a key genofed never writes (`SITE_KEYS`, `DATA_KEYS`), naming it, the closest known
    key when one is obvious, and the known ones: an unknown key is ignored by everything that reads
    the file, so a typo would silently leave a setting at its old value."""
    data = site.get("data")
    sections: list[tuple[str, dict[str, Any], frozenset[str]]] = [("", site, SITE_KEYS)]
    if isinstance(data, dict):
        sections.append(("data.", data, DATA_KEYS))
    for prefix, section, known in sections:
        for key in sorted(set(section) - known):
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {prefix}{close[0]!r}?)" if close else ""
            raise GenofedError(
                f"{path}: unknown key {prefix}{key!r}{hint}; genofed writes only "
                f"{', '.join(sorted(known))} there, and ignores nothing silently. Remove it: settings are "
                f"changed with `genofed hospital check {path.parent} ...`, not by editing this file"
            )


def require_site_key(folder: str | Path, site: dict[str, Any]) -> None:
    """Refuse a site key that is not the one `hospital init` made: its public half must be
    DIR/supernode.pub (what the coordinator enrolled) and have the fingerprint in hospital.json.

    Why: an audit copied another site's supernode.key over a site's; `check` accepted it and
    `start` connected as the other hospital, answering for it with this site's patients."""
    folder = Path(folder)
    private, public = folder / PRIVATE_KEY, folder / PUBLIC_KEY
    if not private.is_file():
        raise GenofedError(f"{private} not found: this folder has no site key (genofed hospital init)")
    key = load_supernode_private_key(private).public_key()  # KeyFileError names the file
    actual = fingerprint(key)
    restore = (
        "restore this site's own key pair from its backup (the one whose fingerprint you confirmed to the "
        f"coordinator), or make a new one with `genofed hospital rotate-key {folder}` (the site keeps its "
        "ledger; the coordinator revokes the old key and enrols the new one)"
    )
    if public.is_file() and fingerprint(load_public_key(public)) != actual:
        raise GenofedError(
            f"{private}: this private key is not the one of {public} (the public key sent to the "
            f"coordinator: fingerprint {fingerprint(load_public_key(public))}; this key's is {actual}): "
            f"it was replaced, perhaps by another site's; {restore}"
        )
    recorded = site.get("fingerprint")
    if recorded and recorded != actual:
        raise GenofedError(
            f"{private}: this key's fingerprint {actual} is not the one {folder / SITE_FILE} recorded at "
            f"`genofed hospital init` ({recorded}): the key was replaced, perhaps by another site's; "
            f"{restore}"
        )
