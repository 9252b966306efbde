"""The hospital's audit log: one line for every message this site hands to Flower to send.

Why (what the data-protection officer asks): "what exactly has left our building, when, for which
run, and how much privacy did it cost?" `audit_mod` is the outermost Flower client mod of the
deployed agent, so it sees each reply after every other mod (the outbound guard, SecAgg+'s
masking) has run: what it logs is what the site hands its SuperNode to transmit (`handed_to`), not a
record of delivery, which only the coordinator has: a reply handed over as the agent stops may never
leave (its SuperNode stops without sending it; a deployment walkthrough's round 6, trained, charged
and audited, was recorded by the coordinator as "no heartbeat"). Each entry holds the time, run,
round, message type, and for every record its kind, keys, size in bytes and SHA-256, plus the
epsilon the site reported (and, under distributed DP, its coalition epsilon), read from the reply's
metrics whether they travel as a MetricRecord or, under SecAgg+, as the ConfigRecord
`fitres.metrics`; never the array values, so the log itself holds nothing to leak.
Entries are appended under a file lock and fsynced, one JSON object per line
(`genofed hospital audit DIR` prints them). The log is on only when the node config names it
(`audit-log=FILE`, set by `genofed hospital start`): a simulation writes none. The same log
holds the operator's ledger overrides (`"type": "ledger"`: `--new-ledger`, `--data-update`, with
their reason; genofed.client.agent.ledger_binding), so a reset budget is on record next to what was sent,
and the hospital's local releases (`"type": "release"`: `genofed synth --epsilon`, `genofed hospital
variants`, and the exact numbers it declared public: a rounded variant summary, a synthetic batch's
verdict; genofed.client.local_release_audit.audit_release), written by the command that released them when its
state folder is the site's, so what the hospital released by hand is on record beside the rounds; and a
synthetic cohort made WITHOUT differential privacy (`genofed synth` without `--epsilon`, kind `no-dp`:
charged nothing, its records carry the real patients) when the run is tied to the site (its state
folder, or its files bound to the site; genofed.client.local_release_audit.audit_unprotected_release); and,
after a release whose output could not be written once it was charged, a line that says so (kind
`output-not-written`, genofed.client.local_release_audit.audit_output_lost); and the agent's warnings
(`"type": "warning"`: an approved bundle recording other code than the site's own). Every
entry, whatever its type, has the keys `time`, `type`, `status`, `run`, `round`, `records`, `bytes` and
`epsilon` (the site's epsilon after it, None when it reports none), so one reader reads them all;
a message's entry also has `plan_id` when the coordinator's message named its plan (a local
release's entry always has it). `iter_audit` reads the log a line at a time (a site's log of months
is not held in memory); `genofed hospital audit --run/--since/--until/--last` selects from it
(genofed.client.agent.audit_filter).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord
from flwr.clientapp.typing import ClientAppCallable

from genofed.client.agent.site_layout import AUDIT_FILE
from genofed.client.outward_words import outward_reason
from genofed.common.errors import GenofedError

#: The node-config key naming the audit log file.
AUDIT_KEY = "audit-log"
#: The entry type of a local release (written by `genofed synth` or `genofed hospital variants`, or
#: a verdict declared public by `genofed hospital check --synthetic`, not by the agent).
RELEASE_TYPE = "release"
#: The entry type of an operator's ledger override (`ledger_binding`).
LEDGER_TYPE = "ledger"
#: The event of a `ledger` entry that records a change of the site's budget or delta (`hospital
#: check --change-budget REASON`, or a stricter setting), with the old and new values.
BUDGET_CHANGE_EVENT = "budget-change"
#: The event of a `ledger` entry that records a rotated site key (`genofed hospital rotate-key`).
KEY_ROTATED_EVENT = "key-rotated"
#: A release's `input_digest_of` when its input digest is the genotypes file's SHA-256.
GENOTYPES_FILE = "the genotypes file"
#: The kind of a local release made without differential privacy (`genofed synth` without
#: `--epsilon`): nothing charged, no plan; its records carry the real patients.
NO_DP_KIND = "no-dp"
#: The kind of the entry that follows a local release whose output was not written after its
#: charge (the disk filled at the final write): the release's own entry, written before the output,
#: named where it would go; this one says it is not there and that the charge stands.
OUTPUT_LOST_KIND = "output-not-written"
#: Where a message's entry says its reply went (`handed_to`): to the site's SuperNode, which sends it
#: on to the coordinator. Whether it arrived is the coordinator's record (results.json `refusals`,
#: the report): the SuperNode gives no sign to the ClientApp that it sent a reply.
HANDED_TO = "supernode"
#: The entry type of a warning the agent gives the site's operator about what it serves, not a
#: message sent: an approved bundle (`--approved-app`) that records other code than the site's own
#: (genofed.client.agent.pinning.other_code_warning).
WARNING_TYPE = "warning"


def audit_mod(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Flower mod: log the reply that is about to leave the site (no-op without `audit-log`)."""
    reply = call_next(msg, context)
    path = str(context.node_config.get(AUDIT_KEY, "") or "")
    if path:
        entry = audit_entry(msg, reply)
        if reply.has_error():  # the full reason stays here; what went out is beside it, if other
            sent = outward_reason(entry["error"], context.node_config)
            if sent != entry["error"]:
                entry["error_sent"] = sent
        append_entry(Path(path), entry)
    return reply


def audit_entry(received: Message, reply: Message) -> dict[str, Any]:
    """What the log says about one outbound reply (sizes and hashes, not contents)."""
    meta = received.metadata
    entry: dict[str, Any] = {
        "time": entry_time(),
        "run": int(meta.run_id),
        "round": _round(received),
        "type": str(meta.message_type),
        "reply_to": str(meta.message_id),
        "destination": "coordinator",
        "handed_to": HANDED_TO,
    }
    plan_id = _plan_id(received)
    if plan_id is not None:  # the run's name in the site's ledger (`hospital audit --run PLAN_ID`)
        entry["plan_id"] = plan_id
    if reply.has_error():
        entry.update(
            status="error",
            error_code=int(reply.error.code),
            error=str(reply.error.reason),
            records=[],
            bytes=0,
        )
        return entry
    records = [_describe_record(name, record) for name, record in reply.content.items()]
    entry.update(status="ok", records=records, bytes=sum(r["bytes"] for r in records))
    entry["sha256"] = hashlib.sha256("".join(r["sha256"] for r in records).encode()).hexdigest()
    entry["epsilon"] = _reported(records, "epsilon")
    coalition = _reported(records, "coalition-epsilon")
    if coalition is not None:  # distributed DP: against the coordinator and all other sites colluding
        entry["coalition_epsilon"] = coalition
    return entry


def _reported(records: list[dict[str, Any]], key: str) -> Any:
    """The value the reply reports under `key`, from a MetricRecord (a plain reply) or, failing
    that, a ConfigRecord: under SecAgg+ the train reply's metrics travel as `fitres.metrics`, a
    ConfigRecord (Flower 1.42's secaggplus_mod), and a SecAgg+ round's epsilon must be logged too."""
    for kind in ("metrics", "config"):
        for record in records:
            value = record.get("values", {}).get(key) if record["kind"] == kind else None
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return value
    return None


def _round(msg: Message) -> int | None:
    """The server round: from the coordinator's config when it sent one, else Flower's group id."""
    if msg.has_content():
        for record in msg.content.values():
            if isinstance(record, ConfigRecord) and "server-round" in record:
                return int(record["server-round"])
    group = str(msg.metadata.group_id or "")
    return int(group) if group.isdigit() else None


def _plan_id(msg: Message) -> str | None:
    """The coordinator's plan id the message was sent under (its config's `plan-id`, the key of the
    run's charges in the site's ledger), so a DPO can ask for a run by the name `hospital ledger`
    shows; None when the message carries none (such entries are found by their Flower run id)."""
    if msg.has_content():
        for record in msg.content.values():
            if isinstance(record, ConfigRecord) and "plan-id" in record:
                return str(record["plan-id"])
    return None


def _describe_record(name: str, record: Any) -> dict[str, Any]:
    digest = hashlib.sha256()
    size = 0
    described: dict[str, Any] = {"name": name}
    if isinstance(record, ArrayRecord):
        described["kind"] = "arrays"
        for key in sorted(record.keys()):
            data = record[key].numpy().tobytes()
            digest.update(key.encode())
            digest.update(data)
            size += len(data)
        described["keys"] = len(record)
    elif isinstance(record, (MetricRecord, ConfigRecord)):
        described["kind"] = "metrics" if isinstance(record, MetricRecord) else "config"
        values: dict[str, Any] = {}
        for key in sorted(record.keys()):
            value = record[key]
            raw = _value_bytes(value)
            digest.update(key.encode())
            digest.update(raw)
            size += len(raw)
            # numbers and short text are shown; byte strings (SecAgg+ keys, shares) only by size
            values[key] = value if isinstance(value, (int, float, bool, str)) else f"<{len(raw)} bytes>"
        described["values"] = values
    else:
        described["kind"] = type(record).__name__
    described.update(bytes=size, sha256=digest.hexdigest())
    return described


def _value_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, list):
        return b"".join(_value_bytes(v) for v in value)
    return repr(value).encode()


def entry_time() -> str:
    """An entry's `time`: now, UTC, to the millisecond."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def require_appendable(folder: Path, what: str) -> None:
    """Refuse (`GenofedError`), before anything changes, an operator's act on the site that its
    audit log could not record (`what`, e.g. "a budget change")."""
    log = folder / AUDIT_FILE
    problem = appendable_problem(log)
    if problem is not None:
        raise GenofedError(
            f"{log}: the site's audit log cannot be appended to ({problem}), and {what} must be written to "
            "it: run the command as the site's user, or repair the log. Nothing was changed."
        )


def appendable_problem(path: Path) -> str | None:
    """Why `path` (an audit log) cannot be appended to by this process, in words; None when it can.

    Proven, not guessed: `os.access` passes for root whatever the mode, and for a directory in the
    log's place (an audit found a release computed and charged, then stopped at its audit entry).
    An existing log must be a regular file that opens for append (O_APPEND, nothing written); an
    absent one needs a folder in which a file can be created (a trial file, removed at once)."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not path.is_file():
            return "it is a folder, not a regular file" if path.is_dir() else "it is not a regular file"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
        except OSError as exc:
            return f"it cannot be opened for append: {exc.strerror}"
        return None
    folder = path.parent
    while not folder.exists() and folder != folder.parent:  # append_entry makes missing folders
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is not a folder"
    try:
        fd, trial = tempfile.mkstemp(prefix=".audit-trial-", dir=folder)
    except OSError as exc:
        return f"no file can be created in {folder}: {exc.strerror}"
    os.close(fd)
    os.unlink(trial)
    return None


def append_entry(path: Path, entry: dict[str, Any]) -> None:
    """Append one line atomically with respect to other ClientApp processes, and fsync it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(entry, sort_keys=True, default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class LocalRelease:
    """A local release, as its audit entry records it (`release_entry`).

    Args:
        command: the command that released it ("synth", "hospital variants --release dp").
        what: what was released, in the ledger's words (the charge's note).
        kind: the ledger kind ("train" for a generator, "variants", "declared-public"), or
            `NO_DP_KIND` for a release made without differential privacy (in no ledger).
        plan_id: the release's plan id in the ledger (its charges' key; "" for `NO_DP_KIND`).
        input_digest: the SHA-256 the ledger records of what it was computed from.
        epsilon_spent: the epsilon it spent, at `release_delta` (0: declared public, exact, or
            `NO_DP_KIND`, charged nothing).
        release_delta: the delta it was calibrated at (its `--delta`; the site's for a declared one;
            None for `NO_DP_KIND`).
        epsilon: the site's epsilon once it is charged, at `delta`.
        delta: the site's delta (what `genofed hospital ledger` totals at).
        coalition_epsilon: against the coordinator and all other sites colluding, at `delta`, when the
            ledger holds a distributed-DP round (None: the same as `epsilon`).
        output: the file or folder it was written to.
        state_dir: the ledger's folder.
        input_digest_of: what `input_digest` is the SHA-256 of, in words (a variant summary's is
            the genotypes file's, which `sha256sum` reproduces; a generator's is of the data it
            read and its settings, in memory, which no file on disk reproduces).
        genotypes_sha256: the genotypes file's SHA-256 (of the .bed for a PLINK prefix), "" when
            not recorded.
        validation: a synthetic batch's verdict ({"passed", "failed_checks", "records_written"}),
            None for a release that is not validated.
    """

    command: str
    what: str
    kind: str
    plan_id: str
    input_digest: str
    epsilon_spent: float
    release_delta: float | None
    epsilon: float
    delta: float
    coalition_epsilon: float | None
    output: str
    state_dir: str
    input_digest_of: str = GENOTYPES_FILE
    genotypes_sha256: str = ""
    validation: dict[str, Any] | None = None


def release_entry(release: LocalRelease) -> dict[str, Any]:
    """The audit entry of a local release: the log's common keys (no run, round or records: nothing
    was handed to Flower) and what `LocalRelease` holds. Its `epsilon` is the site's epsilon after
    the release, as a round's entry reports it (and, when positive, evidence that the ledger was
    spent: `ledger_binding`)."""
    entry: dict[str, Any] = {
        "time": entry_time(),
        "type": RELEASE_TYPE,
        "status": "ok",
        "run": None,
        "round": None,
        "records": [],
        "bytes": 0,
        "command": release.command,
        "what": release.what,
        "kind": release.kind,
        "plan_id": release.plan_id,
        "input_digest": release.input_digest,
        "input_digest_of": release.input_digest_of,
        "epsilon_spent": release.epsilon_spent,
        "release_delta": release.release_delta,
        "epsilon": release.epsilon,
        "delta": release.delta,
        "output": release.output,
        "state_dir": release.state_dir,
    }
    if release.coalition_epsilon is not None:
        entry["coalition_epsilon"] = release.coalition_epsilon
    if release.genotypes_sha256:
        entry["genotypes_sha256"] = release.genotypes_sha256
    if release.validation is not None:
        entry["validation"] = release.validation
    return entry


def warning_entry(run: Any, text: str) -> dict[str, Any]:
    """The audit entry of an agent's warning (`WARNING_TYPE`), with the keys every entry has; `run`:
    the Flower run it concerns, None when it concerns none yet (the agent's start)."""
    return {
        "time": entry_time(),
        "type": WARNING_TYPE,
        "status": "ok",
        "run": run,
        "round": None,
        "records": [],
        "bytes": 0,
        "epsilon": None,
        "warning": text,
    }


def audit_line(entry: dict[str, Any]) -> str:
    """One entry for people: an outbound message, an operator's ledger override, a local release or
    an agent's warning."""
    if entry["type"] == LEDGER_TYPE:  # an operator's override, not a message
        return _override_line(entry)
    if entry["type"] == WARNING_TYPE:  # nothing sent: what the agent warned the site's operator of
        run = "" if entry.get("run") is None else f" run {entry['run']}"
        return f"{entry['time']}{run} WARNING: {entry.get('warning')}"
    coalition = entry.get("coalition_epsilon")
    if entry["type"] == RELEASE_TYPE and entry.get("kind") == NO_DP_KIND:
        return _unprotected_line(entry)
    if entry["type"] == RELEASE_TYPE and entry.get("kind") == OUTPUT_LOST_KIND:
        return (
            f"{entry['time']} local release ({entry['command']}): plan {entry['plan_id']} NOT written to "
            f"{entry['output']} ({entry['what']}); its charge above stands: site "
            f"epsilon={entry['epsilon']:.3f} at delta {entry['delta']:g}"
        )
    if entry["type"] == RELEASE_TYPE:  # released by hand at the site, not sent by the agent
        spent = (
            "spent epsilon=0 (declared public)"
            if entry.get("kind") == "declared-public"
            else f"spent at most epsilon={entry['epsilon_spent']:.3f} at delta {entry['release_delta']:g}"
        )
        after = f"epsilon={entry['epsilon']:.3f} at delta {entry['delta']:g}"
        if coalition is not None:
            after += f" coalition_epsilon={coalition:.3f}"
        return (
            f"{entry['time']} local release ({entry['command']}): {entry['what']}; {spent}; site {after}; "
            f"plan {entry['plan_id']}, {_inputs(entry)}, {_written(entry)}"
        )
    what = ", ".join(
        f"{r['name']} ({r['kind']}, {r['bytes']} B, sha256 {r['sha256'][:12]})" for r in entry["records"]
    )
    if entry["status"] != "ok":
        what = f"ERROR {entry.get('error_code')}: {_sentence(entry.get('error'))}"
    eps = "" if entry.get("epsilon") is None else f" epsilon={entry['epsilon']:.3f}"
    if coalition is not None:  # distributed DP: against the coordinator and all others
        eps += f" coalition_epsilon={coalition:.3f}"
    # a message outside the rounds (the first query, a refused bundle) has no round: none is named
    where = "" if entry.get("round") is None else f" round {entry['round']}"
    return f"{entry['time']} run {entry['run']}{where} {entry['type']}: {what}{eps}"


#: Flower's wording of an exception (`str(type(ex)) + ":<'" + str(ex) + "'>"`), which the worker
#: sent and logged for genofed's own errors until 2026-12-07: shown as the sentence inside it.
_CLASS_REPR = re.compile(r"^<class '[\w.]+'>:<'(.*)'>$", re.DOTALL)


def _sentence(error: Any) -> Any:
    """An error reason as a sentence: an older entry's class repr unwrapped (see _CLASS_REPR)."""
    match = _CLASS_REPR.match(error) if isinstance(error, str) else None
    return match.group(1) if match else error


def _unprotected_line(entry: dict[str, Any]) -> str:
    """A local release made without differential privacy: what, that nothing protects the patients
    in it and nothing was charged, the site's epsilon as its ledger stood, and where it went."""
    after = f"epsilon={entry['epsilon']:.3f} at delta {entry['delta']:g}"
    if entry.get("coalition_epsilon") is not None:
        after += f" coalition_epsilon={entry['coalition_epsilon']:.3f}"
    return (
        f"{entry['time']} local release ({entry['command']}, no DP): {entry['what']}; no differential "
        f"privacy: the records carry the real patients; nothing charged; site {after} (unchanged); "
        f"{_inputs(entry)}, {_written(entry, charged=False)}"
    )


def _inputs(entry: dict[str, Any]) -> str:
    """What a release was computed from: "input sha256 X" when that is the genotypes file's hash
    (entries written before `input_digest_of` existed: a variant summary's was; a generator's was
    not, and is worded as such when it names its generator), else the digest, labelled as what it
    is, and the genotypes file's own SHA-256 when recorded."""
    digest = str(entry.get("input_digest", ""))[:12]
    of = entry.get("input_digest_of")
    if of is None and str(entry.get("command", "")).startswith("synth"):
        of = "the data read and the generator's settings, not a file"
    if of is None or of == GENOTYPES_FILE:
        return f"input sha256 {digest}"
    text = f"input digest {digest} (of {of})"
    if entry.get("genotypes_sha256"):
        text += f", genotypes file sha256 {str(entry['genotypes_sha256'])[:12]}"
    return text


def _written(entry: dict[str, Any], *, charged: bool = True) -> str:
    """Where the release went, and for a synthetic batch whether it passed validation: a failed
    batch is charged (its generator saw the patients; `charged` False: a release without DP) but
    writes no records."""
    verdict = entry.get("validation")
    if not isinstance(verdict, dict):
        return f"to {entry['output']}"
    if verdict.get("passed"):
        written = verdict.get("records_written", "?")
        return f"batch passed validation: {written} records written to {entry['output']}"
    failed = ", ".join(str(c) for c in verdict.get("failed_checks") or []) or "?"
    return f"batch FAILED validation ({failed}): no records written (report only, in {entry['output']})" + (
        "; charged all the same" if charged else ""
    )


def coalition_cap_words(cap: Any) -> str:
    """A coalition cap as the audit log and `hospital check` print it: a number, inf, or none
    (distributed DP refused)."""
    if cap is None:
        return "none (distributed DP refused)"
    return format(float(cap), "g") if isinstance(cap, (int, float)) else str(cap)


def _override_line(entry: dict[str, Any]) -> str:
    """An operator's ledger override: its reason, the ledger(s) it replaces and what each had spent
    (`replaced`), and where the data's ledger is now, so a budget moved away from the site shows in
    the site's own log."""
    if entry.get("event") == BUDGET_CHANGE_EVENT:
        old, new = entry.get("old") or {}, entry.get("new") or {}
        caps = ("max_coalition_epsilon" in old or "max_coalition_epsilon" in new) and old.get(
            "max_coalition_epsilon"
        ) != new.get("max_coalition_epsilon")
        old_cap = f", coalition cap {coalition_cap_words(old.get('max_coalition_epsilon'))}" if caps else ""
        new_cap = f", coalition cap {coalition_cap_words(new.get('max_coalition_epsilon'))}" if caps else ""
        return (
            f"{entry['time']} budget changed ({entry['command']}): epsilon {old.get('epsilon_budget')} "
            f"at delta {old.get('delta')}{old_cap} (since {old.get('since') or '?'}) -> "
            f"epsilon {new.get('epsilon_budget')} at delta {new.get('delta')}{new_cap}; "
            f"reason: {entry.get('reason') or '(none: a stricter setting)'}"
        )
    if entry.get("event") == KEY_ROTATED_EVENT:
        return (
            f"{entry['time']} site key rotated ({entry['command']}): fingerprint "
            f"{entry.get('old_fingerprint') or '?'} -> {entry.get('new_fingerprint')}; the ledger is kept"
        )
    line = f"{entry['time']} ledger {entry['event']} ({entry['command']}): {entry['reason']}"
    replaced = [_replaced_words(r) for r in entry.get("replaced") or [] if isinstance(r, dict)]
    replaced = list(dict.fromkeys(r for r in replaced if r))  # one per ledger, not per file role
    if replaced:
        line += "; replaces " + "; ".join(replaced)
    if entry.get("state_dir"):
        line += f"; ledger now in {entry['state_dir']}"
    return line


def _replaced_words(replaced: dict[str, Any]) -> str:
    """One replaced ledger in words: its folder, and what it held (`spent`, or the high-water mark
    of a ledger that was lost or below it)."""
    where = str(replaced.get("state_dir", "?"))
    if replaced.get("lost"):
        what = "lost"
    elif replaced.get("below_mark"):
        what = "below its high-water mark"
    else:
        what = f"site {replaced['site']}" if replaced.get("site") else ""
    spent = replaced.get("spent") or replaced.get("high_water")
    if isinstance(spent, dict) and spent.get("epsilon") is not None:
        charges = int(spent.get("charges", 0))
        held = (
            f"had spent epsilon {float(spent['epsilon']):.3g} at delta {float(spent['delta']):g} in "
            f"{charges} charge{'' if charges == 1 else 's'}"
        )
    elif "spent" in replaced:
        held = "held no ledger"
    else:
        held = "spent: not recorded"
    return f"the ledger in {where} ({', '.join(w for w in (what, held) if w)})"


def read_audit(path: str | Path) -> list[dict[str, Any]]:
    """All entries of an audit log; a damaged line is an error naming it (never skipped). For the
    callers that need them all at once; `iter_audit` reads a log of months without holding it."""
    return [entry for _number, entry in iter_audit(path)]


def iter_audit(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each entry of an audit log with its line number, read one line at a time: a site's log of
    months (100,000 entries) is printed without being held in memory. A damaged line, or one that
    is not a JSON object, is an error naming the file and the line (never skipped: the log is the
    site's evidence); the entries before it have been yielded by then."""
    path = Path(path)
    if not path.is_file():
        raise GenofedError(
            f"{path}: no audit log yet (it is written once the agent has sent its first message, or the "
            "hospital made its first local release)"
        )
    with path.open("rb") as lines:  # decoded line by line: a byte that is not UTF-8 is named as any damage
        for number, line in enumerate(lines, start=1):
            if line.strip():
                yield number, _parsed(path, number, line)


def _parsed(path: Path, number: int, line: bytes) -> dict[str, Any]:
    """One line of the log as its entry; anything else is refused in the log's and the line's name."""
    try:
        entry = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as exc:
        problem = f"not UTF-8 text: {exc.reason} at byte {exc.start}"
    except json.JSONDecodeError as exc:
        problem = str(exc)
    else:
        if isinstance(entry, dict):
            return entry
        problem = f"a JSON {type(entry).__name__}, not an object"
    raise GenofedError(
        f"{path}, line {number}: not a JSON audit entry ({problem}); the log may have been edited"
    )
