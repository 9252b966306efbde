"""Who trained in a deployed run's rounds and who was left out, and why, in the words
`coordinator start` ends a run with and `coordinator status` shows while it runs.

Its own module, free of Flower and torch, because both commands read it: `status` from the run's
round progress (`genofed.server.checkpoint.PROGRESS`) or results.json, `start` from results.json.
Why: an operator checking on a run with `status` was not told that an enrolled, online hospital
was declining every round (its budget spent); only `start`'s final output and the report named it
(a deployment walkthrough).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def who_took_part(record: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """From a run's record (results.json's `rounds`, `refusals`, `not_connected`, `turned_away`, or
    the same fields of the round progress file): the line naming how many rounds each hospital
    trained in, and one line per enrolled hospital that did not train in every round, with each
    reason and the rounds it was given for. None before a training round is on record."""
    rounds = [r for r in record.get("rounds") or [] if isinstance(r, dict) and r.get("round", 0) > 0]
    if not rounds:
        return None
    trained: dict[str, int] = {}
    for entry in rounds:
        for name in entry.get("participants") or []:
            trained[name] = trained.get(name, 0) + 1
    absent = [f"{name}: turned away ({why})" for name, why in (record.get("turned_away") or {}).items()]
    absent += [f"{name}: not connected when the run started" for name in record.get("not_connected") or []]
    refused: dict[str, dict[str, list[int]]] = {}  # name -> reason -> rounds
    for round_, reasons in (record.get("refusals") or {}).items():
        for name, why in (reasons or {}).items():
            refused.setdefault(name, {}).setdefault(str(why), []).append(_round_number(round_))
    # `refusals` holds every round a hospital did not count in: a refusal, no reply, a screened-out
    # update, not connected when the round started
    absent += [
        f"{name}: left out of {sum(map(len, whys.values()))} of {len(rounds)} round(s) ({_by_reason(whys)})"
        for name, whys in sorted(refused.items())
    ]
    absent += [
        f"{name}: trained in {count} of {len(rounds)} round(s) (no reason recorded for the others)"
        for name, count in sorted(trained.items())
        if count < len(rounds) and name not in refused
    ]
    each = ", ".join(f"{name} {count} of {len(rounds)}" for name, count in sorted(trained.items()))
    return f"hospitals that trained (rounds): {each or 'none'}", absent


def _round_number(key: object) -> int:
    try:
        return int(str(key))
    except ValueError:
        return 0


def _by_reason(whys: dict[str, list[int]]) -> str:
    """Each reason after the rounds it was given for, in round order, e.g. `round 2: its agent
    stopped or lost its connection (no heartbeat); rounds 3-6: not connected when the round started
    (...)`: an operator's walkthrough saw only the last reason of a hospital whose agent stopped, and
    took it for the whole story."""
    parts = sorted((sorted(rounds), why) for why, rounds in whys.items())
    return "; ".join(f"{_rounds_label(rounds)}: {why}" for rounds, why in parts)


def _rounds_label(rounds: list[int]) -> str:
    """`round 2`, `rounds 3-6`, `rounds 1, 3-4`."""
    spans: list[list[int]] = []
    for r in rounds:
        if spans and r == spans[-1][1] + 1:
            spans[-1][1] = r
        else:
            spans.append([r, r])
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
    return f"round {text}" if len(rounds) == 1 else f"rounds {text}"
