"""The hospital's audit log: one line for every message this site hands to Flower to send.

Why (what the data-protection officer asks): "what exactly has left our building, when, for which
run, and how much privacy did it cost?" `audit_mod` is the outermost Flower client mod of the
deployed agent, so it sees each reply after every other mod (the outbound guard, SecAgg+'s
masking) has run: what it logs is what the SuperNode transmits. Each entry holds the time, run,
round, message type, and for every record its kind, keys, size in bytes and SHA-256, plus the
epsilon the site reported (and, under distributed DP, its coalition epsilon), read from the reply's
metrics whether they travel as a MetricRecord or, under SecAgg+, as the ConfigRecord
`fitres.metrics`; never the array values, so the log itself holds nothing to leak.
Entries are appended under a file lock and fsynced, one JSON object per line
(`genofed hospital audit DIR` prints them). The log is on only when the node config names it
(`audit-log=FILE`, set by `genofed hospital start`): a simulation writes none. The same log
holds the operator's ledger overrides (`"type": "ledger"`: `--new-ledger`, `--data-update`, with
their reason; genofed.client.agent.ledger_binding), so a reset budget is on record next to what was sent.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord
from flwr.clientapp.typing import ClientAppCallable

from genofed.common.errors import GenofedError

AUDIT_FILE = "audit.jsonl"
#: The node-config key naming the audit log file.
AUDIT_KEY = "audit-log"


def audit_mod(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Flower mod: log the reply that is about to leave the site (no-op without `audit-log`)."""
    reply = call_next(msg, context)
    path = str(context.node_config.get(AUDIT_KEY, "") or "")
    if path:
        append_entry(Path(path), audit_entry(msg, reply))
    return reply


def audit_entry(received: Message, reply: Message) -> dict[str, Any]:
    """What the log says about one outbound reply (sizes and hashes, not contents)."""
    meta = received.metadata
    entry: dict[str, Any] = {
        "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
        "run": int(meta.run_id),
        "round": _round(received),
        "type": str(meta.message_type),
        "reply_to": str(meta.message_id),
        "destination": "coordinator",
    }
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


def read_audit(path: str | Path) -> list[dict[str, Any]]:
    """All entries of an audit log; a damaged line is an error naming it (never skipped)."""
    path = Path(path)
    if not path.is_file():
        raise GenofedError(
            f"{path}: no audit log yet (it is written once the agent has sent its first message)"
        )
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise GenofedError(
                f"{path}, line {number}: not a JSON audit entry ({exc}); the log may have been edited"
            ) from None
    return entries
