"""Which audit entries `genofed hospital audit` shows: those of one run, of a time span, the latest N.

Why: a federation that runs for months writes 100,000 entries to SITE/audit.jsonl, and the DPO's
questions are narrower ("what did we send in run X", "what happened since last Monday"); grepping
JSON by hand is no answer. The selection reads the log as `iter_audit` yields it, one entry at a
time, and keeps only what it shows (`--last N`: N entries), so a log of months is never held whole.

Times: every entry's `time` is UTC (`audit.entry_time`). A --since/--until value is an ISO date or
date-time; one without a UTC offset is read as UTC, like the entries; one with an offset
(`+01:00`, `Z`) is converted. A date alone is the whole day in UTC: `--since 2026-12-01` from its
00:00, `--until 2026-12-01` up to the end of it; a date-time is an instant, and both bounds include
it. Light: only the standard library, so the command line can parse the options without Flower.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from genofed.common.errors import GenofedError

#: What a --since/--until value may look like, for the refusal of one that is neither.
WHEN_EXAMPLE = "2026-12-01 (a day, UTC) or 2026-12-01T14:30 (UTC unless it ends in an offset such as +01:00)"


@dataclass(frozen=True)
class When:
    """A --since or --until value as typed, and the bounds it names in UTC: `start` (inclusive)
    and `end` (exclusive): a whole day for a date (`day`), one instant for a date-time."""

    text: str
    start: dt.datetime
    end: dt.datetime
    day: bool


def parse_when(text: str) -> When:
    """`text` as a `When`; ValueError, in words with an example, when it is no ISO date or date-time.
    A date is tried first: `datetime.fromisoformat` would read it as midnight, an instant."""
    value = text.strip()
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        pass
    else:
        start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
        return When(text, start, start + dt.timedelta(days=1), day=True)
    try:
        instant = _utc(dt.datetime.fromisoformat(value))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO date or date-time: give e.g. {WHEN_EXAMPLE}") from None
    # an instant's end: a microsecond on, the finest a time is written to
    return When(text, instant, instant + dt.timedelta(microseconds=1), day=False)


def _utc(moment: dt.datetime) -> dt.datetime:
    """`moment` in UTC; one without an offset is taken to be UTC already, as the log's times are."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


@dataclass(frozen=True)
class AuditFilter:
    """What to show of the log: the entries of `run` (a Flower run id or a plan id), at or after
    `since`, at or before `until`, and of those the latest `last`; None: no such condition.
    `plan_runs`: the Flower run ids the log shows under the plan id `run` (`plan_runs`), whose
    entries belong to it too: a SecAgg+ round's stage messages name no plan, only their run."""

    run: str | None = None
    since: When | None = None
    until: When | None = None
    last: int | None = None
    plan_runs: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        """Refuse a span that holds no time at all: an empty listing would read as a quiet log."""
        if self.since is not None and self.until is not None and self.since.start >= self.until.end:
            raise GenofedError(
                f"--since {self.since.text} is after --until {self.until.text}: no entry can be in between"
            )

    def given(self) -> bool:
        """Whether any condition was asked for (the unfiltered log is printed as it always was)."""
        return any(value is not None for value in (self.run, self.since, self.until, self.last))

    def words(self) -> str:
        """The conditions as the user gave them, with how a time was read (UTC), for the count line."""
        said = [f"--run {self.run}"] if self.run is not None else []
        if self.plan_runs:
            runs = sorted(self.plan_runs)
            said[0] += (
                f" (with every message of its Flower run{'s' if len(runs) > 1 else ''} {', '.join(runs)})"
            )
        if self.since is not None:
            said.append(f"--since {self.since.text} (from {_shown(self.since.start)})")
        if self.until is not None:
            until = self.until
            bound = f"before {_shown(until.end)}" if until.day else f"up to {_shown(until.start)}"
            said.append(f"--until {until.text} ({bound})")
        if self.last is not None:
            said.append(f"--last {self.last}")
        return ", ".join(said)

    def matches(self, entry: dict[str, Any], where: str) -> bool:
        """Whether `entry` (at `where`: the log and its line) is of the run and inside the span."""
        if self.run is not None and not _of_run(entry, self.run, self.plan_runs):
            return False
        if self.since is None and self.until is None:
            return True
        time = entry_moment(entry, where)
        if self.since is not None and time < self.since.start:
            return False
        return self.until is None or time < self.until.end


def _shown(moment: dt.datetime) -> str:
    """A bound in the log's own form (UTC, ISO), so it reads against the entries' times."""
    return moment.isoformat()


def _of_run(entry: dict[str, Any], run: str, plan_runs: frozenset[str] = frozenset()) -> bool:
    """Whether `entry` belongs to `run`: its Flower run id (every message sent), or its plan id (a
    local release, and a message whose coordinator named its plan), as text; or, `run` being a
    plan id, one of the plan's Flower runs (`plan_runs`)."""
    if any(entry.get(key) is not None and str(entry[key]) == run for key in ("run", "plan_id")):
        return True
    return entry.get("run") is not None and str(entry["run"]) in plan_runs


def plan_runs(numbered: Iterable[tuple[int, dict[str, Any]]]) -> dict[str, frozenset[str]]:
    """Every plan id of the entries of `numbered` (`audit.iter_audit`) with the Flower run ids of the
    entries that name it: one pass over the log, one entry at a time, before `selected` (an
    `AuditFilter`'s `plan_runs` is the asked plan's).

    Why: `--run PLAN` is the name `hospital ledger` shows, but only the messages whose request named
    the plan carry it; the SecAgg+ stages around a masked round (setup, shares, unmasking) name only
    their Flower run, and a DPO asking "what did we send for plan X" missed them. A Flower run
    belongs to one plan (its ServerApp's); a resumed plan is several runs, all of them included."""
    runs: dict[str, set[str]] = {}
    for _, entry in numbered:
        if entry.get("plan_id") is not None:
            named = runs.setdefault(str(entry["plan_id"]), set())
            if entry.get("run") is not None:
                named.add(str(entry["run"]))
    return {plan: frozenset(ids) for plan, ids in runs.items()}


def full_plan_id(plans: Iterable[str], asked: str) -> str:
    """The plan id `asked` stands for among `plans` (`plan_runs`' keys): itself when it is one (or
    matches none), else the one plan id that `asked` abbreviates as `hospital ledger` prints it
    (`head...tail`, its ends kept) or begins (a prefix of 4 characters or more).

    Why: `--run` takes "the name `hospital ledger` shows", and the ledger shortens long plan ids;
    pasted as shown they selected nothing, and a DPO read "0 of 51 entries" as no audit trail (a
    deployment walkthrough). Several plans matching are refused, naming them."""
    head, dots, tail = asked.partition("...")
    plans = set(plans)
    if asked in plans or (not dots and len(asked) < 4):
        return asked
    matching = sorted(p for p in plans if p.startswith(head) and p.endswith(tail if dots else ""))
    if len(matching) > 1:
        raise GenofedError(
            f"--run {asked} matches {len(matching)} plan ids of this audit log ({', '.join(matching)}); "
            "give one of them whole (`genofed hospital ledger --json` lists them)"
        )
    return matching[0] if matching else asked


def entry_moment(entry: dict[str, Any], where: str) -> dt.datetime:
    """An entry's `time` in UTC; an entry without a readable one is an error naming `where` (never
    skipped: it would vanish from every span)."""
    try:
        return _utc(dt.datetime.fromisoformat(str(entry["time"])))
    except (KeyError, ValueError):
        raise GenofedError(
            f"{where}: the audit entry has no ISO time ({entry.get('time')!r}); the log may have been edited"
        ) from None


@dataclass
class Tally:
    """How many entries the log held and how many were shown, counted as they are read."""

    total: int = 0
    shown: int = 0

    def line(self, selection: AuditFilter, log: str) -> str:
        """The closing line of a filtered listing: an empty selection is not an empty log."""
        return f"{self.shown} of {self.total} entries of {log} shown, selected by {selection.words()}"


def selected(
    numbered: Iterable[tuple[int, dict[str, Any]]], selection: AuditFilter, log: str, tally: Tally
) -> Iterator[dict[str, Any]]:
    """The entries of `numbered` (line number, entry; `audit.iter_audit`) that `selection` shows,
    yielded as they are read; with `last`, the latest `last` once the log is read (the only ones
    kept). `tally` counts them all."""
    kept: deque[dict[str, Any]] | None = deque(maxlen=selection.last) if selection.last is not None else None
    for number, entry in numbered:
        tally.total += 1
        if not selection.matches(entry, f"{log}, line {number}"):
            continue
        if kept is None:
            tally.shown += 1
            yield entry
        else:
            kept.append(entry)
    for entry in kept or ():
        tally.shown += 1
        yield entry
