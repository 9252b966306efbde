"""A hospital's privacy ledger is bound to the data it was spent on.

Why (what the data-protection officer asks): "can anyone reset what our patients' data has
already spent?" The ledger lives in the site's state folder; without a binding, pointing the
agent at a new, empty state folder for the same cohort (or losing the folder) would start a
fresh ledger with a fresh budget, a fresh noise secret and a fresh validation split. So:

- STATE/data-binding.json, next to the ledger, records the SHA-256 of the genotypes and
  phenotypes files this ledger pays for (the hashes `genofed hospital check` also records in
  hospital.json) and of their patients' sorted sample ids (`cohort_sha256`: the same patients in
  a re-exported file), earlier ones after a data update, and when a ledger was first seen there;
- a machine-wide index, `ledgers.json` in `$GENOFED_HOME` (default: `.local/state/genofed` in
  the home folder that the password database gives the user running the agent, not `$HOME`,
  so `sudo -u genofed genofed hospital check` and the service find the same index), maps every
  data file hash a ledger was ever bound to onto that ledger's state folder.

`hospital check` and `hospital start` refuse, with a one-line reason and what to do:
- data whose genotypes or phenotypes file already has a ledger in another state folder;
- a state folder whose ledger was spent on other files (a data update is declared with
  `hospital check --data-update REASON`: the ledger carries over, nothing is forgotten);
- a ledger that the binding or the index says existed and that is gone.
Only `--new-ledger REASON` starts a new ledger for data that had one; the reason and what it
replaced go to the site's audit log. Both records are written atomically and fsynced, the index
under a file lock (several agents may share a machine).

What this does not stop: an operator who deletes the index, the binding and the ledger, or who
renames the patients in both files, or exports a different subset of them; it makes a reset a
deliberate, logged act, not an accident. What it refuses that it need not: two cohorts under one
index (one user account) whose patients carry the same ids (both numbered 1..100): they look like
one cohort; `--new-ledger REASON` (audited) or an index of their own (`GENOFED_HOME`) separates them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import pwd
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genofed.common.errors import GenofedError
from genofed.common.privacy.ledger import LEDGER_FILE
from genofed.common.util.atomic import exclusive_lock, write_text_atomic

INDEX_ENV = "GENOFED_HOME"
INDEX_FILE = "ledgers.json"
BINDING_FILE = "data-binding.json"
INDEX_FORMAT = "genofed-ledgers/1"
BINDING_FORMAT = "genofed-ledger-binding/1"
#: Files in a state folder that show a ledger was used there (the noise secret comes with the first round).
HISTORY_FILES = (LEDGER_FILE, "secret.key")


class LedgerRefused(GenofedError):
    """The agent would start on a ledger that does not belong to its data."""


@dataclass(frozen=True)
class DataHashes:
    """SHA-256 of the two files a ledger pays for, and of the patients in them.

    `phenotypes` is "" for a release that reads the genotypes only (`genofed hospital variants`):
    such a release is bound by its genotypes file alone, in the index; the state folder's own
    binding, which names both files, is written by `hospital check`, `synth` and the agent.
    `cohort` (`cohort_sha256`, "" when not computed) identifies the patients whatever the files'
    bytes: a re-exported file (recompressed, unzipped, re-saved) is new bytes for the same
    patients, and bound by its bytes alone it got a fresh ledger in a new folder (a security
    audit: the same 100 patients spent epsilon 3 + 3 + 20 in three ledgers).
    """

    genotypes: str
    phenotypes: str = ""
    cohort: str = ""

    @classmethod
    def from_files(cls, files: dict[str, dict[str, Any]]) -> DataHashes:
        """From hospital.json's `data.files` (role -> {"path", "sha256"})."""
        return cls(files["genotypes"]["sha256"], files["phenotypes"]["sha256"])

    def roles(self) -> dict[str, str]:
        """Role -> hash of what the command read (the genotypes only for a variant summary; the
        cohort when it was computed)."""
        roles = {"genotypes": self.genotypes, "phenotypes": self.phenotypes, "cohort": self.cohort}
        return {role: sha for role, sha in roles.items() if sha}

    def agrees_with(self, bound: DataHashes) -> bool:
        """True when everything read is what `bound` names for the roles both know."""
        known = bound.roles()
        return all(sha == known[role] for role, sha in self.roles().items() if role in known)

    def short(self) -> str:
        return ", ".join(f"{role} {sha[:12]}" for role, sha in self.roles().items())


@dataclass
class Decision:
    """What binding the data to the state folder does: `ok` (already bound), `bind` (first
    ledger for this data), `adopt` (a ledger from before bindings existed), `new-ledger` or
    `data-update` (the operator's overrides, audited)."""

    action: str
    reason: str = ""
    replaced: list[dict[str, Any]] = field(default_factory=list)  # index entries / bindings it supersedes


def cohort_sha256(sample_ids: Iterable[str]) -> str:
    """SHA-256 of a cohort's sorted, distinct sample ids: the same for every export of the same
    patients, whatever the file format or its bytes."""
    return hashlib.sha256("\n".join(sorted({str(s) for s in sample_ids})).encode()).hexdigest()


def index_path() -> Path:
    """The machine-wide ledger index of the user running the agent: `$GENOFED_HOME/ledgers.json`,
    else in the user's home folder from the password database (the same for the service and for
    an operator's `sudo -u`, whatever `$HOME` says)."""
    if os.environ.get(INDEX_ENV):
        return Path(os.environ[INDEX_ENV]) / INDEX_FILE
    return Path(pwd.getpwuid(os.geteuid()).pw_dir) / ".local" / "state" / "genofed" / INDEX_FILE


def bind_ledger(
    state_dir: str | Path,
    data: DataHashes,
    *,
    site: str,
    command: str,
    new_ledger: str = "",
    data_update: str = "",
    index_file: Path | None = None,
    audit_log: Path | None = None,
) -> Decision:
    """Check that `state_dir`'s ledger belongs to `data` (refusing otherwise), then record the
    binding in the state folder and the index; returns what was done."""
    state_dir = Path(state_dir).resolve()
    index_file = index_file or index_path()
    for flag, value in (("--new-ledger", new_ledger), ("--data-update", data_update)):
        if value is not None and value != "" and not value.strip():
            raise LedgerRefused(
                f'{flag} needs a reason (it goes to the audit log), e.g. {flag} "restored site after disk '
                'loss"'
            )
    index_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with exclusive_lock(index_file):  # agents of several sites may share a machine
        index = _read_index(index_file)
        decision = decide(
            state_dir,
            data,
            index,
            new_ledger=new_ledger.strip(),
            data_update=data_update.strip(),
            command=command,
        )
        _record(state_dir, data, site, index, index_file, decision)
    if decision.action in ("new-ledger", "data-update") and audit_log is not None:
        _audit(audit_log, state_dir, data, decision, command)
    return decision


def decide(
    state_dir: Path,
    data: DataHashes,
    index: dict[str, Any],
    *,
    new_ledger: str = "",
    data_update: str = "",
    command: str = "check",
) -> Decision:
    """The rules, without writing anything (see the module docstring); raises LedgerRefused."""
    binding = read_binding(state_dir)
    history = any((state_dir / name).exists() for name in HISTORY_FILES)
    entries = {role: index["files"].get(sha) for role, sha in data.roles().items()}
    elsewhere = {role: e for role, e in entries.items() if e and Path(e["state_dir"]) != state_dir}
    known_here = any(e and Path(e["state_dir"]) == state_dir for e in entries.values())
    if binding is None:  # a folder charged by a genotypes-only release has index entries only
        binding = _unbound_spending(state_dir, data, index)
    if binding and not data.agrees_with(DataHashes(**binding["data"])):
        if not data_update:
            raise LedgerRefused(_mismatch(state_dir, binding, command))
        if not data.phenotypes:
            raise LedgerRefused(
                f"a data update is declared with both files: run `genofed hospital check --data-update "
                f"REASON` for {state_dir}'s site first, then `genofed hospital {command}` again"
            )
        if elsewhere and not new_ledger:
            raise LedgerRefused(_elsewhere(elsewhere))
        return Decision("data-update", data_update, [dict(binding["data"], bound_at=binding["bound_at"])])
    if elsewhere:
        if not new_ledger:
            raise LedgerRefused(_elsewhere(elsewhere))
        return Decision("new-ledger", new_ledger, [dict(e, role=role) for role, e in elsewhere.items()])
    lost = (binding and binding.get("ledger_seen_at") and not history) or (
        not binding and known_here and not history
    )
    if lost:
        if not new_ledger:
            seen = (binding or {}).get("ledger_seen_at") or next(e["bound_at"] for e in entries.values() if e)
            raise LedgerRefused(
                f"the privacy ledger of this data in {state_dir} is gone (it was there on {seen}): restore "
                f"{state_dir} from a backup; a new ledger would forget the privacy already spent. To start "
                "one on purpose: --new-ledger REASON (written to the audit log)"
            )
        return Decision("new-ledger", new_ledger, [{"state_dir": str(state_dir), "lost": True}])
    if binding:
        return Decision("ok")
    return Decision("adopt" if history else "bind")


def _unbound_spending(state_dir: Path, data: DataHashes, index: dict[str, Any]) -> dict[str, Any] | None:
    """A state folder without a binding whose ledger the index gives to OTHER genotypes (a variant
    summary of other genotypes charged it): their hash, shaped like a binding for the checks and
    `_mismatch`; None when there is none."""
    for sha, entry in index["files"].items():
        if Path(entry["state_dir"]) == state_dir and entry["role"] == "genotypes" and sha != data.genotypes:
            return {"data": {"genotypes": sha}, "bound_at": entry["bound_at"]}
    return None


def read_binding(state_dir: Path) -> dict[str, Any] | None:
    path = state_dir / BINDING_FILE
    try:
        binding = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise LedgerRefused(f"{path}: unreadable ({exc}); restore it from a backup") from None
    if binding.get("format") != BINDING_FORMAT:
        raise LedgerRefused(f"{path}: not a genofed ledger binding (format {BINDING_FORMAT!r} expected)")
    return binding


def _record(
    state_dir: Path, data: DataHashes, site: str, index: dict[str, Any], index_file: Path, decision: Decision
) -> None:
    """Write the binding (state folder) and the index entries; unchanged files are not rewritten."""
    now = _now()
    binding = read_binding(state_dir)
    if binding is None or decision.action in ("new-ledger", "data-update"):
        previous = list((binding or {}).get("previous", []))
        if decision.action == "data-update" and binding:
            previous.append(
                dict(binding["data"], bound_at=binding["bound_at"], until=now, reason=decision.reason)
            )
        binding = {
            "format": BINDING_FORMAT,
            "site": site,
            "data": data.roles(),
            "bound_at": now,
            "previous": previous,
            "ledger_seen_at": None,
        }
    changed = decision.action != "ok"
    if binding.get("ledger_seen_at") is None and (state_dir / LEDGER_FILE).exists():
        binding["ledger_seen_at"] = now
        changed = True
    if changed and data.phenotypes:  # a genotypes-only release is bound in the index alone
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_text_atomic(state_dir / BINDING_FILE, json.dumps(binding, indent=2) + "\n")
    index_changed = False
    for role, sha in data.roles().items():
        entry = index["files"].get(sha)
        if entry and Path(entry["state_dir"]) == state_dir:
            continue
        replaced = []
        if entry:  # a new ledger for data that had one: the old entry stays on record
            replaced = [
                *entry.get("replaced", []),
                dict(
                    {k: v for k, v in entry.items() if k != "replaced"},
                    replaced_at=now,
                    reason=decision.reason,
                ),
            ]
        index["files"][sha] = {
            "role": role,
            "state_dir": str(state_dir),
            "site": site,
            "bound_at": now,
            "replaced": replaced,
        }
        index_changed = True
    if index_changed:
        write_text_atomic(index_file, json.dumps(index, indent=2) + "\n")


def _read_index(path: Path) -> dict[str, Any]:
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"format": INDEX_FORMAT, "files": {}}
    except (OSError, json.JSONDecodeError) as exc:
        raise LedgerRefused(
            f"{path}: the ledger index is unreadable ({exc}); restore it from a backup"
        ) from None
    if index.get("format") != INDEX_FORMAT:
        raise LedgerRefused(f"{path}: not a genofed ledger index (format {INDEX_FORMAT!r} expected)")
    return index


def _audit(audit_log: Path, state_dir: Path, data: DataHashes, decision: Decision, command: str) -> None:
    """The operator's override, in the site's audit log next to the messages sent."""
    from genofed.client.agent.audit import append_entry

    append_entry(
        audit_log,
        {
            "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
            "type": "ledger",
            "status": "ok",
            "event": decision.action,
            "reason": decision.reason,
            "command": f"hospital {command}",
            "state_dir": str(state_dir),
            "data": data.roles(),
            "replaced": decision.replaced,
            "run": None,
            "round": None,
            "records": [],
            "bytes": 0,
            "epsilon": None,
        },
    )


def _elsewhere(elsewhere: dict[str, dict[str, Any]]) -> str:
    role, entry = next(iter(elsewhere.items()))
    what = "these patients (the same sample ids, in other files)" if role == "cohort" else f"this {role} file"
    verb = "already have" if role == "cohort" else "already has"
    return (
        f"{what} {verb} a privacy ledger in {entry['state_dir']} (site {entry['site']}, bound "
        f"{entry['bound_at']}): run the agent with that site folder (or restore it); a new ledger would "
        "forget the privacy already spent. To start a new ledger on purpose: --new-ledger REASON (written "
        "to the audit log)"
    )


def _mismatch(state_dir: Path, binding: dict[str, Any], command: str) -> str:
    spent_on = DataHashes(**binding["data"]).short()
    if command == "variants":
        return (
            f"the privacy ledger in {state_dir} was spent on other data ({spent_on}, bound "
            f"{binding['bound_at']}): if these genotypes are an update of that cohort, declare it first with "
            "`genofed hospital check --data-update REASON`; if they are another cohort, give them their own "
            "state folder"
        )
    if command == "start":
        return (
            f"the privacy ledger in {state_dir} was spent on other data ({spent_on}) than the files this "
            "site is bound to: run `genofed hospital check` again (with --data-update REASON if the files "
            "are an update of that cohort)"
        )
    return (
        f"the privacy ledger in {state_dir} was spent on other data ({spent_on}, bound "
        f"{binding['bound_at']}): if these files are an update of that cohort, add --data-update REASON (the "
        "ledger carries over); if they are another cohort, give them their own site folder"
    )


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
