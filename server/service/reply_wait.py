"""The ServerApp's word that an exchange of a deployed run waits for hospitals' replies, so the
coordinator says who it waits for and until when.

Why: every exchange (the first query, each round's training and evaluation, each SecAgg+ stage)
waits up to `round-timeout` (600 s by default) for its replies, and `genofed coordinator start`
said nothing meanwhile: an operator saw no output for minutes and could not tell which hospital
was slow. The ServerApp's grid (`genofed.server.app.AdmittedGrid`) knows which messages are
still unanswered and which enrolled hospital each went to; once an exchange has waited
`RECORD_AFTER_SECONDS` it keeps DIR/run/serverapp-replies.json (the exchange, the hospitals not
yet answered, since when and until when it waits, as UNIX times), rewritten when one answers and
removed when the exchange ends, so a quick round writes nothing. The coordinator reads it between
its polls, as it reads `run_wait`'s, and says it once a minute (`say_reply_wait`).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genofed.common.util.progress import Progress
from genofed.server.service.run_end import read_run_record, utc_clock, write_run_record

if TYPE_CHECKING:  # Flower is imported by the ServerApp, not by `coordinator start`
    from flwr.app import Message

#: In the run's output folder (DIR/run).
REPLY_WAIT_FILE = "serverapp-replies.json"
#: An exchange answered within this many seconds writes nothing (a deployed round takes seconds).
RECORD_AFTER_SECONDS = 5.0
#: How often `coordinator start` says that an exchange still waits (and how long it must have
#: waited before the first time).
SAY_SECONDS = 60.0


def record_reply_wait(run_dir: str | Path, run_id: int, wait: dict[str, Any] | None) -> None:
    """Write `wait` (`exchange`, `waiting_for`, `asked`, `since`, `until`, `timeout`) for run
    `run_id`, or remove the file when `wait` is None. A failure is ignored: the run matters more."""
    if wait is not None:
        write_run_record(run_dir, REPLY_WAIT_FILE, {"run_id": int(run_id), **wait})
        return
    with contextlib.suppress(OSError):
        (Path(run_dir) / REPLY_WAIT_FILE).unlink(missing_ok=True)


def reply_wait(run_dir: str | Path, run_id: int) -> dict[str, Any] | None:
    """What an exchange of run `run_id` waits for; None when none waits (or the file is another
    run's, unreadable or damaged)."""
    return read_run_record(run_dir, REPLY_WAIT_FILE, run_id)


def exchange_words(messages: Iterable[Message]) -> str:
    """What an exchange is, in the words of the coordinator's log: `round 3 training`, `round 3
    evaluation`, `the first query`. The round is the coordinator's config's `server-round` (the
    run's round, which genofed's strategies pass to Flower's), else Flower's group id (SecAgg+)."""
    first = next(iter(messages), None)
    if first is None:
        return "an exchange"
    kind = str(getattr(first.metadata, "message_type", ""))
    if kind == "query":  # Flower's MessageType.QUERY, .TRAIN, .EVALUATE
        return "the first query"
    what = {"train": "training", "evaluate": "evaluation"}.get(kind, kind)
    number = _round(first)
    return f"round {number} {what}" if number is not None else str(what)


def _round(msg: Message) -> int | None:
    if getattr(msg, "has_content", lambda: False)():
        for record in msg.content.config_records.values():
            if "server-round" in record:
                return int(record["server-round"])
    group = str(getattr(msg.metadata, "group_id", "") or "")
    return int(group) if group.isdigit() else None


class ExchangeWait:
    """One exchange's wait (`messages`, sent to `asked`: node -> enrolled name), put on record once
    it lasts `RECORD_AFTER_SECONDS` (`update` after each pull), and taken off it by `close`."""

    def __init__(
        self,
        record: Callable[[dict[str, Any] | None], None],
        messages: list[Message],
        asked: Mapping[int, str],
        timeout: float | None,
    ) -> None:
        self._record, self._messages, self._asked = record, messages, dict(asked)
        self._since = time.time()
        self._timeout = timeout if timeout is not None and math.isfinite(timeout) else None  # inf: none
        self._recorded: list[str] | None = None

    def update(self, pending: Iterable[int]) -> None:
        """The nodes still unanswered: recorded when the wait is long enough and they changed."""
        if time.time() - self._since < RECORD_AFTER_SECONDS:
            return
        names = sorted(self._asked.get(node, f"node {node}") for node in pending)
        if names == self._recorded:
            return
        self._recorded = names
        until = None if self._timeout is None else self._since + self._timeout
        self._record(
            {
                "exchange": exchange_words(self._messages),
                "waiting_for": names,
                "asked": len(self._asked),
                "since": self._since,
                "until": until,
                "timeout": self._timeout,
            }
        )

    def close(self) -> None:
        if self._recorded is not None:
            self._record(None)


def say_reply_wait(
    run_id: Any, wait: dict[str, Any] | None, said: float | None, say: Progress
) -> float | None:
    """While an exchange waits for replies (`reply_wait`), say every `SAY_SECONDS` (the first time
    once it has waited that long) which hospitals it waits for and until when; returns when it last
    said so (None: no wait, so the next wait starts afresh)."""
    if wait is None:
        return None
    moment = time.time()
    since = float(wait.get("since", moment))
    # said of an earlier exchange (the coordinator's poll, every 10 s, may miss the moment between
    # two exchanges without a record): this one is said once it has waited SAY_SECONDS too
    if moment - (said if said is not None and said >= since else since) < SAY_SECONDS:
        return said
    names = [str(name) for name in wait.get("waiting_for") or []]
    asked = int(wait.get("asked") or len(names))
    until = wait.get("until")
    timeout = wait.get("timeout")
    them = "them" if len(names) > 1 else "it"
    limit = (
        "it waits without a limit (round-timeout inf)"
        if until is None
        else f"it goes on without {them} at {utc_clock(until)} (round-timeout {float(timeout):g} s)"
    )
    say(
        f"run {run_id}: {wait.get('exchange', 'an exchange')} is waiting for {len(names)} of {asked} "
        f"hospital(s) to reply: {', '.join(names)}; {limit}. A hospital still computing says so in its "
        "agent's log (SITE/clientapp.log); one whose agent stopped is dropped once its heartbeats stop"
    )
    return moment
