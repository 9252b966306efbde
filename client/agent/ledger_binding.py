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
  data file hash a ledger was ever bound to onto that ledger's state folder; every other index
  the user bound a ledger in is read with it (`genofed.client.agent.ledger_indexes`).

`hospital check` and `hospital start` refuse, with a one-line reason and what to do:
- data whose genotypes or phenotypes file already has a ledger in another state folder;
- a state folder whose ledger was spent on other files (a data update is declared with
  `hospital check --data-update REASON`: the ledger carries over, nothing is forgotten);
- a ledger that is gone while something says it existed, or below its high-water mark (an older
  copy or an edited one): each check, start and agent stop records the mark in the binding and the
  index (`high_water`); what tells either is `genofed.client.agent.high_water`'s.
Only `--new-ledger REASON` starts a new ledger for data that had one, or goes on with a ledger
that is gone or below its mark; the reason and what it replaced (the mark included) go to the
site's audit log. Both records are written atomically and fsynced, the index under a file lock
(several agents may share a machine). The binding also records the site's budget and guarded
settings as `hospital check` set them (`BUDGET_KEY`: `genofed.client.agent.site_settings_record`).

What this does not stop: an operator who deletes the index, the binding, the ledger and the audit
log, or the ledger and the audit log before any check, start or stop recorded a mark, or who
renames the patients in both files, or exports a different subset of them; it makes a reset a
deliberate, logged act, not an accident (and see `high_water` for a restored copy it does not tell
apart). What it refuses that it need not: two cohorts of one user account whose patients carry the
same ids (both numbered 1..100): they look like one cohort; `--new-ledger REASON` (audited), or an
index and an index registry of their own (`GENOFED_HOME` and `GENOFED_INDEX_REGISTRY`), separates
them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genofed.client.agent.high_water import (
    DEFAULT_DELTA,
    below_mark_refusal,
    charges_text,
    epsilon_text,
    forgotten_marks,
    is_below,
    mark_delta,
    mark_of,
    mark_size,
    recorded_marks,
    set_index_mark,
    set_mark,
)
from genofed.client.agent.keys import SITE_FILE
from genofed.client.agent.ledger_indexes import (
    REGISTRY_FILE,
    LedgerRefused,
    index_path,
    not_this_users,
    read_index,
    register_index,
    registry_lock,
    registry_path,
    with_other_indexes,
)
from genofed.client.agent.site_layout import AUDIT_FILE, STATE_DIR
from genofed.common.errors import GenofedError
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger
from genofed.common.util.atomic import exclusive_lock, write_text_atomic
from genofed.common.util.hashing import file_sha256

BINDING_FILE = "data-binding.json"
BINDING_FORMAT = "genofed-ledger-binding/1"
#: The binding's record of the site's budget and delta, and its other privacy settings, as
#: `hospital check` last set them ({"epsilon_budget", "delta", ..., "set_at"}:
#: `site_settings_record.record_site_settings`), which hospital.json must match.
BUDGET_KEY = "budget"


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
    `data-update` (the operator's overrides, audited; `replaced` also names a ledger that is gone,
    `lost`, or below its high-water mark, `below_mark`, with the mark it forgets)."""

    action: str
    reason: str = ""
    replaced: list[dict[str, Any]] = field(default_factory=list)  # index entries / bindings it supersedes


def cohort_sha256(sample_ids: Iterable[str]) -> str:
    """SHA-256 of a cohort's sorted, distinct sample ids: the same for every export of the same
    patients, whatever the file format or its bytes."""
    return hashlib.sha256("\n".join(sorted({str(s) for s in sample_ids})).encode()).hexdigest()


def bind_ledger(
    state_dir: str | Path,
    data: DataHashes,
    *,
    site: str,
    command: str,
    new_ledger: str = "",
    data_update: str = "",
    index_file: Path | None = None,
    registry_file: Path | None = None,
    audit_log: Path | None = None,
    delta: float | None = None,
    record: bool = True,
) -> Decision:
    """Check that `state_dir`'s ledger belongs to `data` and holds what it held (refusing
    otherwise), then record the binding and the ledger's high-water mark (its epsilon at `delta`,
    the site's; None: the delta of the mark already recorded) in the state folder and the index;
    returns what was done. The index is `index_file` read with the other indexes of
    `registry_file`, in which it is then listed (`index_file` None: `index_path()` and
    `registry_path()`; an `index_file` given alone, a harness's or a test's, is read with the
    registry beside it: a world of its own). `audit_log`: the site's, where an override is written
    and which tells whether the agent has spent anything (a lost ledger). `record` False: the
    checks alone, nothing written (a release that may still be refused for other reasons checks
    first and binds only once nothing else can refuse it: an audit found a refused `synth` had
    bound the patients to a fresh folder, and the site's own `hospital check` was then refused)."""
    state_dir = Path(state_dir).resolve()
    index_file, registry_file = _index_and_registry(index_file, registry_file)
    for flag, value in (("--new-ledger", new_ledger), ("--data-update", data_update)):
        if value is not None and value != "" and not value.strip():
            raise LedgerRefused(
                f'{flag} needs a reason (it goes to the audit log), e.g. {flag} "restored site after disk '
                'loss"'
            )
    index_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # the user's registry, then the index (agents of several sites may share a machine): two
    # commands under two indexes must not both bind the same data
    with registry_lock(registry_file, index_file), exclusive_lock(index_file):
        index = read_index(index_file)
        view = with_other_indexes(index, index_file, registry_file)
        decision = decide(
            state_dir,
            data,
            view,
            new_ledger=new_ledger.strip(),
            data_update=data_update.strip(),
            command=command,
            audit_log=audit_log,
        )
        logs = _override_logs(decision, audit_log)
        _require_appendable_logs(logs)  # before anything is recorded: an override is never unlogged
        if not record:
            return decision
        register_index(index_file, registry_file)
        _record(state_dir, data, site, index, view, index_file, decision, delta)
    for log in logs:
        _audit(log, state_dir, data, decision, command, moved_away=log != audit_log)
    return decision


def _index_and_registry(index_file: Path | None, registry_file: Path | None) -> tuple[Path, Path]:
    """The index a command writes and the registry of the indexes it reads (see `bind_ledger`)."""
    if index_file is None:
        return index_path(), registry_file or registry_path()
    return index_file, registry_file or index_file.parent / REGISTRY_FILE


def _override_logs(decision: Decision, audit_log: Path | None) -> list[Path]:
    """The audit logs an override is written to: the site's whose folder the data's ledger is now
    in (`audit_log`), and that of every site whose state folder it replaces. Why: an audit moved a
    site's genotypes to a ledger in a folder that is no site's (a fresh budget of 100 beside the
    site's 3, of which 1.42 was spent) and the site's own audit log said nothing of it."""
    if decision.action not in ("new-ledger", "data-update"):
        return []
    logs = [Path(audit_log)] if audit_log is not None else []
    for replaced in decision.replaced:
        left = audit_log_beside(Path(str(replaced.get("state_dir", ""))))
        if left is not None and left not in logs:
            logs.append(left)
    return logs


def audit_log_beside(state_dir: Path) -> Path | None:
    """SITE/audit.jsonl when `state_dir` is a site's state folder (SITE/state beside a
    SITE/hospital.json), else None (a ledger of local releases outside a site). Not
    `launch.site_audit_log`, which takes a site folder and refuses any other path."""
    if state_dir.name != STATE_DIR or not (state_dir.parent / SITE_FILE).is_file():
        return None
    return state_dir.parent / AUDIT_FILE


def _require_appendable_logs(logs: Iterable[Path]) -> None:
    """Refuse an override (LedgerRefused) that could not be written to every log it belongs in."""
    from genofed.client.agent.audit import appendable_problem

    for log in logs:
        problem = appendable_problem(log)
        if problem is not None:
            raise LedgerRefused(
                f"{log}: the site's audit log cannot be appended to ({problem}), and this ledger override "
                "must be written to it: run the command as the site's user (the agent's), or repair the "
                "log. Nothing was bound, trained, written or charged."
            )


def decide(
    state_dir: Path,
    data: DataHashes,
    index: dict[str, Any],
    *,
    new_ledger: str = "",
    data_update: str = "",
    command: str = "check",
    audit_log: Path | None = None,
) -> Decision:
    """The rules, without writing anything (see the module docstring); raises LedgerRefused."""
    binding = read_binding(state_dir)
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
        forgotten = forgotten_marks(state_dir, binding, known_here, entries, index, audit_log, new_ledger)
        replaced = [dict(binding["data"], bound_at=binding["bound_at"]), *forgotten]
        return Decision("data-update", data_update, replaced)
    if elsewhere:
        if not new_ledger:
            raise LedgerRefused(_elsewhere(elsewhere))
        forgotten = forgotten_marks(state_dir, binding, known_here, entries, index, audit_log, new_ledger)
        spent: dict[str, dict[str, Any] | None] = {}
        for e in elsewhere.values():  # what each ledger left behind held, once per folder
            if e["state_dir"] not in spent:
                spent[e["state_dir"]] = ledger_spent(Path(e["state_dir"]), index)
        replaced = [dict(e, role=role, spent=spent[e["state_dir"]]) for role, e in elsewhere.items()]
        return Decision("new-ledger", new_ledger, [*replaced, *forgotten])
    forgotten = forgotten_marks(state_dir, binding, known_here, entries, index, audit_log, new_ledger)
    if forgotten:
        return Decision("new-ledger", new_ledger, forgotten)
    if binding:
        return Decision("ok")
    return Decision("adopt" if (state_dir / LEDGER_FILE).exists() else "bind")


def ledger_spent(state_dir: Path, index: dict[str, Any]) -> dict[str, Any] | None:
    """What the ledger in `state_dir` holds, for an override's record: its number of charges and
    its epsilon at the delta of its high-water mark (else the site's delta, else `DEFAULT_DELTA`);
    None when there is no ledger, {"unreadable": why} when it cannot be read."""
    path = state_dir / LEDGER_FILE
    if not path.is_file():
        return None
    mark = index.get("high_water", {}).get(str(state_dir)) or {}
    delta = mark.get("delta") or site_delta(state_dir) or DEFAULT_DELTA
    try:
        ledger = PrivacyLedger(path)
        epsilon = ledger.epsilon(float(delta)) if ledger.charges else 0.0
    except (GenofedError, OSError, ValueError) as exc:
        return {"unreadable": str(exc)}
    return {"charges": len(ledger.charges), "epsilon": epsilon, "delta": float(delta)}


def site_delta(state_dir: Path) -> float | None:
    """The delta a site declared in its hospital.json (`genofed hospital check --delta`), when
    `state_dir` is its state folder; None otherwise, or when it declared none readable."""
    if audit_log_beside(state_dir) is None:
        return None
    try:
        site = json.loads((state_dir.parent / SITE_FILE).read_text(encoding="utf-8"))
        delta = float(site["data"]["delta"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return delta if 0 < delta < 1 else None


def require_high_water(
    state_dir: Path, index_file: Path | None = None, registry_file: Path | None = None
) -> None:
    """Refuse (LedgerRefused) the ledger in `state_dir` when it is gone or holds less than the
    high-water mark its binding or the machine-wide index recorded; reads only, writes nothing.

    Why: `hospital ledger`, which the data-protection officer reads, showed an emptied or edited
    ledger at face value ("nothing spent yet"), while the spending commands refused it; it runs
    the same check (`forgotten_marks`), without an override."""
    state_dir = Path(state_dir).resolve()
    index_file, registry_file = _index_and_registry(index_file, registry_file)
    index = read_index(index_file)
    view = with_other_indexes(index, index_file, registry_file)
    marks = recorded_marks(read_binding(state_dir), view, state_dir)
    if not marks:
        return
    path = state_dir / LEDGER_FILE
    if not path.exists():
        mark = max(marks, key=mark_size)
        raise LedgerRefused(
            f"the privacy ledger {path} is gone (it held epsilon {epsilon_text(mark['epsilon'])} in "
            f"{charges_text(mark['charges'])} on {mark['at']}, at delta {float(mark['delta']):g}): restore "
            f"{state_dir} from its latest backup"
        )
    ledger = PrivacyLedger(path)  # an edited or damaged charge is refused (DataError)
    for mark in marks:
        now = mark_of(ledger, float(mark["delta"]), marks)
        if is_below(now, mark):
            raise LedgerRefused(below_mark_refusal(path, mark, now))


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
    except PermissionError:
        raise LedgerRefused(not_this_users(path)) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise LedgerRefused(f"{path}: unreadable ({exc}); restore it from a backup") from None
    if binding.get("format") != BINDING_FORMAT:
        raise LedgerRefused(f"{path}: not a genofed ledger binding (format {BINDING_FORMAT!r} expected)")
    return binding


def files_changed_since_check(state_dir: str | Path, genotypes: Path, phenotypes: Path) -> list[Path]:
    """Those of the two data files whose SHA-256 is not the one `genofed hospital check` bound to the
    ledger in `state_dir`, compared as `hospital start` compares them (`DataHashes.agrees_with`);
    [] when no binding is there (nothing to hold the files to). Hashes both files: the running
    agent's ClientApp calls it when their stat changed (`genofed.client.site`)."""
    binding = read_binding(Path(state_dir))
    if binding is None:
        return []
    bound = DataHashes(**binding["data"])
    read = [
        (genotypes, DataHashes(file_sha256(genotypes))),
        (phenotypes, DataHashes("", phenotypes=file_sha256(phenotypes))),
    ]
    return [path for path, hashes in read if not hashes.agrees_with(bound)]


def _record(
    state_dir: Path,
    data: DataHashes,
    site: str,
    index: dict[str, Any],
    view: dict[str, Any],
    index_file: Path,
    decision: Decision,
    delta: float | None = None,
) -> None:
    """Write the binding (state folder) and the entries of `index` (read from `index_file`), with
    the ledger's high-water mark (`decide` refused a ledger below it, unless told `--new-ledger`:
    then it is the ledger as it is); unchanged files are not rewritten. `view`: `index` with the
    user's other indexes (`with_other_indexes`), whose marks and entries are what was known."""
    now = binding_time()
    binding = read_binding(state_dir)
    known = recorded_marks(binding, view, state_dir)
    delta = mark_delta(delta, known)
    if binding is None or decision.action in ("new-ledger", "data-update"):
        previous = list((binding or {}).get("previous", []))
        if decision.action == "data-update" and binding:
            previous.append(
                dict(binding["data"], bound_at=binding["bound_at"], until=now, reason=decision.reason)
            )
        budget = (binding or {}).get(BUDGET_KEY)  # a new ledger keeps the site's budget
        binding = {
            "format": BINDING_FORMAT,
            "site": site,
            "data": data.roles(),
            "bound_at": now,
            "previous": previous,
            "ledger_seen_at": None,
            **({BUDGET_KEY: budget} if budget else {}),
        }
    changed = decision.action != "ok"
    path = state_dir / LEDGER_FILE
    mark = mark_of(PrivacyLedger(path), delta, known) if path.exists() else None
    changed |= set_mark(binding, mark, now)
    index_changed = set_index_mark(index, state_dir, mark, now)
    if changed and data.phenotypes:  # a genotypes-only release is bound in the index alone
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_text_atomic(state_dir / BINDING_FILE, json.dumps(binding, indent=2) + "\n")
    for role, sha in data.roles().items():
        entry = index["files"].get(sha)
        if entry and Path(entry["state_dir"]) == state_dir:
            continue
        seen = view["files"].get(sha)
        if seen and Path(seen["state_dir"]) != state_dir:
            entry = seen  # the ledger it had, in whichever index recorded it last
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


def record_spent(
    state_dir: str | Path, *, delta: float | None = None, index_file: Path | None = None
) -> bool:
    """Raise the high-water mark of the ledger in `state_dir` to what it holds now (the agent calls
    it when it stops: it charges without updating the mark); returns whether anything was written.

    Only raised, never lowered, and only for a folder `bind_ledger` bound: a ledger below its mark
    (an older copy put in place while the agent ran) is left for the next `check` or `start` to
    refuse. `delta`: the site's (None: the mark's)."""
    state_dir = Path(state_dir).resolve()
    index_file = index_file or index_path()
    path = state_dir / LEDGER_FILE
    if not path.exists() or not index_file.parent.is_dir():
        return False
    with exclusive_lock(index_file):
        index = read_index(index_file)
        binding = read_binding(state_dir)
        known = any(Path(e["state_dir"]) == state_dir for e in index["files"].values())
        if binding is None and not known:
            return False
        ledger = PrivacyLedger(path)
        marks = recorded_marks(binding, index, state_dir)
        if any(is_below(mark_of(ledger, float(m["delta"]), marks), m) for m in marks):
            return False
        mark, now = mark_of(ledger, mark_delta(delta, marks), marks), binding_time()
        changed = binding is not None and set_mark(binding, mark, now)
        if changed:
            write_text_atomic(state_dir / BINDING_FILE, json.dumps(binding, indent=2) + "\n")
        if set_index_mark(index, state_dir, mark, now):
            write_text_atomic(index_file, json.dumps(index, indent=2) + "\n")
            changed = True
    return changed


def _audit(
    audit_log: Path,
    state_dir: Path,
    data: DataHashes,
    decision: Decision,
    command: str,
    *,
    moved_away: bool = False,
) -> None:
    """The operator's override, in the site's audit log next to the messages sent. `moved_away`:
    `audit_log` is that of a site whose ledger the data left (its entry says so: `moved_away`, and
    names the folder the ledger is now in, `state_dir`); it does not end what that site spent
    (`high_water._audit_spent`)."""
    from genofed.client.agent.audit import append_entry, entry_time

    extra = {"moved_away": True} if moved_away else {}
    append_entry(
        audit_log,
        {
            **extra,
            "time": entry_time(),
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
    where = f", recorded in the ledger index {entry['index']}" if entry.get("index") else ""
    return (
        f"{what} {verb} a privacy ledger in {entry['state_dir']} (site {entry['site']}, bound "
        f"{entry['bound_at']}{where}): run the agent with that site folder (or restore it); a new ledger "
        "would forget the privacy already spent. To start a new ledger on purpose: --new-ledger REASON "
        "(written to the audit log)"
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


def binding_time() -> str:
    """Now, as the binding records its times (UTC, ISO, to the second)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
