"""A privacy ledger's high-water mark, and what else tells that a ledger was there.

Why (what the data-protection officer asks): "can anyone reset what our patients' data has
already spent?" A ledger can be taken back without being deleted: an older copy (a backup
restored) or an edited one forgets the privacy spent since. So each `hospital check`, `hospital
start` and agent stop records in the ledger's binding and in the machine-wide index
(`high_water`, written by `genofed.client.agent.ledger_binding`) the ledger's number of charges,
its epsilon at the site's delta and a digest of its charges (`mark_of`); a ledger with fewer
charges, other charges in the same number, or (other charges and) a lower epsilon is below its
mark (`is_below`), and is refused unless `--new-ledger REASON` goes on with it on purpose (the mark
it forgets goes to the site's audit log).

A ledger that is gone is refused while something says it existed (`_evidence`): the binding saw
it (`ledger_seen_at`, or a high-water mark), the index bound these files to this folder, the audit
log records a reply that spent privacy since the last `--new-ledger` (`_audit_spent`), or the
agent's noise secret (`secret.key`, written at its first message) is there beside an audit log
that cannot be read. `forgotten_marks` applies both rules for the binding's `decide`; the binding's
`require_high_water` and `record_spent` read and raise the marks of a bound folder.

What this does not stop: a ledger restored from a copy taken after the last check, start or stop
of the agent is not told apart: the mark does not know the charges since (the agent charges
without updating it; a killed agent, SIGKILL or power loss, records nothing at its stop).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from genofed.client.agent.ledger_indexes import LedgerRefused
from genofed.common.errors import GenofedError
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger

#: The agent's noise secret, written when it handles its first message (`genofed.client.site.site_secret`).
SECRET_FILE = "secret.key"
#: The delta where a site's own is not known (a site's default, 1e-5): a local release's, the high-water
#: mark such a command records, and `hospital ledger`'s epsilon of a ledger that records no delta.
DEFAULT_DELTA = 1e-5
#: How much lower than its mark a ledger's epsilon may be computed (floating point) before it is refused.
EPSILON_TOLERANCE = 1e-9


def forgotten_marks(
    state_dir: Path,
    binding: dict[str, Any] | None,
    known_here: bool,
    entries: dict[str, dict[str, Any] | None],
    index: dict[str, Any],
    audit_log: Path | None,
    new_ledger: str,
) -> list[dict[str, Any]]:
    """[] when the ledger in `state_dir` holds everything it is known to have held; else refused
    (LedgerRefused: gone, or below its high-water mark), or, with `new_ledger` (the operator's
    reason), what is forgotten, for the audit log."""
    path = state_dir / LEDGER_FILE
    marks = recorded_marks(binding, index, state_dir)
    if not path.exists():
        why = _evidence(state_dir, binding, known_here, entries, marks, audit_log)
        if why is None:
            return []
        if not new_ledger:
            raise LedgerRefused(
                f"the privacy ledger of this data in {state_dir} is gone ({why}): restore {state_dir} from "
                "its latest backup; a new ledger would forget the privacy already spent. To start one on "
                "purpose: --new-ledger REASON (written to the audit log)"
            )
        mark = max(marks, key=mark_size, default=None)
        return [{"state_dir": str(state_dir), "lost": True, "high_water": mark}]
    ledger = PrivacyLedger(path)  # an unreadable ledger is refused (DataError: restore it), never reset
    for mark in marks:
        now = mark_of(ledger, float(mark["delta"]), marks)
        if is_below(now, mark):
            if not new_ledger:
                raise LedgerRefused(below_mark_refusal(path, mark, now))
            return [{"state_dir": str(state_dir), "below_mark": True, "high_water": mark, "now": now}]
    return []


def _evidence(
    state_dir: Path,
    binding: dict[str, Any] | None,
    known_here: bool,
    entries: dict[str, dict[str, Any] | None],
    marks: list[dict[str, Any]],
    audit_log: Path | None,
) -> str | None:
    """Why a ledger must be in `state_dir`, whose ledger file is missing, in words; None: nothing
    says one was ever there."""
    if marks:
        mark = max(marks, key=mark_size)
        return (
            f"it held epsilon {epsilon_text(mark['epsilon'])} in {charges_text(mark['charges'])} on "
            f"{mark['at']}, at delta {float(mark['delta']):g}"
        )
    if binding and binding.get("ledger_seen_at"):
        return f"it was there on {binding['ledger_seen_at']}"
    if not binding and known_here:
        return f"this data was bound to it on {next(e['bound_at'] for e in entries.values() if e)}"
    spent = _audit_spent(audit_log)
    if spent:
        return f"the audit log {audit_log} records a reply that spent privacy on {spent}"
    # the secret alone is no evidence: a test harness (simulations/local/loopback.py) or an operator
    # may place one before the first start; with an audit log that cannot be read, it is
    if (
        spent is None
        and audit_log is not None
        and Path(audit_log).exists()
        and (state_dir / SECRET_FILE).exists()
    ):
        return (
            f"the agent's noise secret {state_dir / SECRET_FILE} shows it has answered the coordinator, "
            f"and its audit log {audit_log} cannot be read to say it spent nothing"
        )
    return None


def _audit_spent(audit_log: Path | None) -> str | None:
    """The time of the last reply in the site's audit log that reported a finite, positive epsilon
    (the agent had charged its ledger) since the last `--new-ledger` (or a data update that forgot a
    lost ledger); "" when there is none; None when the log cannot tell (none given, missing,
    unreadable, or a line that is not a JSON entry). Read a line at a time (`audit.iter_audit`): a
    site's log of months holds 100,000 entries, and read whole it took half a gigabyte."""
    if audit_log is None:
        return None
    from genofed.client.agent.audit import iter_audit  # lazily: it imports Flower

    last = ""
    try:
        for _number, entry in iter_audit(audit_log):
            last = _spent_after(entry, last)
    except (GenofedError, OSError, UnicodeDecodeError):
        return None
    return last


def _spent_after(entry: dict[str, Any], last: str) -> str:
    """`_audit_spent`'s answer once `entry` is read, `last` its answer before it."""
    if entry.get("type") == "ledger":  # an override: after a new ledger, what was spent is the old one's
        forgot = any(isinstance(r, dict) and r.get("lost") for r in entry.get("replaced") or [])
        if entry.get("moved_away"):  # the data left this site's ledger: what it spent stands
            return last
        return "" if entry.get("event") == "new-ledger" or forgot else last
    epsilon = entry.get("epsilon")
    if entry.get("status") == "ok" and isinstance(epsilon, (int, float)) and 0 < epsilon < math.inf:
        return str(entry.get("time", "?"))
    return last


def recorded_marks(
    binding: dict[str, Any] | None, index: dict[str, Any], state_dir: Path
) -> list[dict[str, Any]]:
    """The high-water marks recorded for the ledger in `state_dir`: the binding's and the index's."""
    marks = [(binding or {}).get("high_water"), index.get("high_water", {}).get(str(state_dir))]
    return [mark for mark in marks if mark]


def mark_of(ledger: PrivacyLedger, delta: float, known: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    """A ledger's size: its number of charges, its epsilon at `delta` and a digest of its charges
    (what each released and how: not its time or its epsilon total, which a re-run restamps). The
    epsilon of a `known` mark of the same charges at the same delta is taken as it is (the
    accountant imports Opacus, seconds at every start and stop)."""
    charges = sorted(
        json.dumps([c.plan_id, c.kind, c.round, c.noise_multiplier, c.sample_rate, c.steps])
        for c in ledger.charges
    )
    digest = hashlib.sha256("\n".join(charges).encode()).hexdigest()
    same = [m for m in known if m["digest"] == digest and float(m["delta"]) == delta]
    epsilon = float(same[0]["epsilon"]) if same else ledger.epsilon(delta)
    return {"charges": len(ledger.charges), "epsilon": epsilon, "delta": delta, "digest": digest}


def is_below(now: dict[str, Any], mark: dict[str, Any]) -> bool:
    """True when a ledger (`now`, at the mark's delta) holds less than its high-water mark: fewer
    charges, other charges in the same number, or other charges and a lower epsilon. A ledger only
    ever gains charges (a re-run replaces one with the same release), so none of it happens to the
    ledger the agent keeps; the same charges are never below (whatever the accountant computes)."""
    if now["digest"] == mark["digest"]:
        return False
    if now["charges"] <= int(mark["charges"]):
        return True
    marked = float(mark["epsilon"])
    if math.isinf(marked):
        return not math.isinf(now["epsilon"])
    return now["epsilon"] < marked - EPSILON_TOLERANCE * max(1.0, marked)


def below_mark_refusal(path: Path, mark: dict[str, Any], now: dict[str, Any]) -> str:
    """The refusal of a ledger (`now`) below its high-water `mark`: what it held, what it holds, and
    what to do."""
    same = " (other charges than it had)" if now["charges"] == int(mark["charges"]) else ""
    delta = float(mark["delta"])
    return (
        f"the privacy ledger {path} holds less than this site has spent: this site had spent epsilon "
        f"{epsilon_text(mark['epsilon'])} in {charges_text(mark['charges'])} on {mark['at']}; the ledger now "
        f"holds {epsilon_text(now['epsilon'])} in {charges_text(now['charges'])}{same} (epsilon at delta "
        f"{delta:g}). It is an older copy (a backup restored) or was edited, and forgets the privacy spent "
        "since: restore its latest copy. To go on with this ledger on purpose: --new-ledger REASON "
        "(written to the audit log, with the mark it forgets)"
    )


def mark_size(mark: dict[str, Any]) -> tuple[int, float]:
    """A mark's (charges, epsilon), to pick the largest of several."""
    return int(mark["charges"]), float(mark["epsilon"])


def epsilon_text(value: float) -> str:
    return f"{float(value):.4g}"


def charges_text(count: int) -> str:
    return f"{int(count)} charge" + ("" if int(count) == 1 else "s")


def mark_delta(delta: float | None, marks: list[dict[str, Any]]) -> float:
    """The delta a high-water mark is recorded at: the site's, else the one already recorded."""
    if delta is not None:
        return float(delta)
    return float(marks[0]["delta"]) if marks else DEFAULT_DELTA


def _same_mark(old: dict[str, Any] | None, new: dict[str, Any] | None) -> bool:
    keys = ("charges", "digest", "delta")
    return (old is None) == (new is None) and (new is None or all(old[k] == new[k] for k in keys))


def set_mark(binding: dict[str, Any], mark: dict[str, Any] | None, now: str) -> bool:
    """Record `mark` (None: no ledger file) in the binding, and when a ledger was first seen;
    returns whether the binding changed. The mark's time is when the ledger came to hold that."""
    changed = False
    if binding.get("ledger_seen_at") is None and mark is not None:
        binding["ledger_seen_at"] = now
        changed = True
    if not _same_mark(binding.get("high_water"), mark):
        if mark is None:
            binding.pop("high_water", None)
        else:
            binding["high_water"] = dict(mark, at=now)
        changed = True
    return changed


def set_index_mark(index: dict[str, Any], state_dir: Path, mark: dict[str, Any] | None, now: str) -> bool:
    """The same in the index (`high_water`: state folder -> mark); returns whether it changed."""
    marks = index.setdefault("high_water", {})
    if _same_mark(marks.get(str(state_dir)), mark):
        return False
    if mark is None:
        del marks[str(state_dir)]
    else:
        marks[str(state_dir)] = dict(mark, at=now)
    return True
