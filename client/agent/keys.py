"""`genofed hospital init`: the site's own key pair, made at the hospital, never sent anywhere.

Why (what the data-protection officer asks): "how does our hospital prove to the coordinator that
it is us, and who else can use that proof?" The site makes an EC key pair here (P-384, in the
OpenSSH format flower-supernode's `--auth-supernode-private-key` loads with `load_ssh_private_key`).
The private key stays in the site folder, readable by the owner only (0600, written atomically);
only the public key (`supernode.pub`) and its SHA-256 fingerprint go to the coordinator, who enrols
it (`genofed coordinator enroll`). An existing key is never overwritten: replacing it silently
would lock the site out, or hide that a key was swapped; to rotate, the coordinator revokes the
old key and the site starts a new folder.
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
SITE_KEYS = frozenset({"name", "private_key", "public_key", "fingerprint", "created", "data"})
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
            f"{existing[0]} exists: refusing to overwrite this site's key (to rotate it, have the "
            "coordinator revoke the old one and run `genofed hospital init` in a new folder)"
        )
    _make_site_folder(folder)
    key = ec.generate_private_key(CURVE())
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    write_private_atomic(folder / PRIVATE_KEY, private)
    load_supernode_private_key(folder / PRIVATE_KEY)  # what flower-supernode will do: fail now, not at start
    line = public_key_openssh(key.public_key(), comment=f"genofed-hospital-{name}")
    write_text_atomic(folder / PUBLIC_KEY, line + "\n")
    info = {
        "name": name,
        "private_key": PRIVATE_KEY,
        "public_key": PUBLIC_KEY,
        "fingerprint": fingerprint(key.public_key()),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    write_text_atomic(folder / SITE_FILE, json.dumps(info, indent=2) + "\n", mode=SITE_FILE_MODE)
    return dict(info, public_key_line=line, folder=str(folder))


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
        "coordinator), or make a new site folder with `genofed hospital init` and have the coordinator "
        "revoke the old key"
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
