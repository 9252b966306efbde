"""`genofed hospital ledger DIR`: what this hospital has spent, read from its own privacy ledger.

Why (what the data-protection officer asks): "how much of our patients' privacy budget is gone,
on what, and how much is left?" The ledger (DIR/state/privacy-ledger.json,
`genofed.common.privacy.ledger.PrivacyLedger`) records every release the site paid for: DP-SGD
training rounds, noisy evaluations, distributed-DP rounds (with the site's own noise share), the
local releases of `genofed synth` and `genofed hospital variants`, and the exact numbers the
hospital declared public (`declared-public`, epsilon 0), each with the delta it was calibrated at
(none for entries written before the ledger recorded it). It holds no budget: that is the site's
own, in DIR/hospital.json (`genofed hospital check --epsilon-budget E --delta D
[--max-coalition-epsilon W]`). This module reads both and composes the whole history at the
site's delta, twice: against the coordinator (`PrivacyLedger.epsilon`) and against the
coordinator and all other hospitals colluding (`PrivacyLedger.coalition_epsilon`, the one a
distributed-DP cap bounds).

A ledger outside any site (`genofed synth` or `genofed hospital variants --release dp` given
`--state-dir DIR --budget B` with a DIR that is no site's state folder) is shown too: its charges,
totalled against the `--budget` its releases recorded beside it (`BUDGET_FILE`, written by
`genofed.client.local_budget_record.record_budget`). An audit found such a ledger unreadable by any command,
and `hospital ledger DIR` advising `hospital init DIR`, which would make DIR a site whose ledger is
DIR/state, not the one spent.

It reads only: no lock is taken (the ledger is rewritten atomically, so a read sees a whole
ledger), nothing is written, and flwr is never imported (the accountant imports Opacus once a
release spent anything).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

from genofed.client.agent.high_water import DEFAULT_DELTA
from genofed.client.agent.keys import SITE_FILE, load_site_file
from genofed.client.agent.ledger_binding import require_high_water
from genofed.client.agent.site_layout import STATE_DIR
from genofed.client.agent.site_settings_record import require_settings_as_recorded
from genofed.common.errors import ConfigError, GenofedError
from genofed.common.privacy.ledger import DECLARED_PUBLIC, LEDGER_FILE, Charge, PrivacyLedger

#: How the table names a release kind ("variants": `hospital variants --release dp`; a generator's
#: DP training is charged as "train" and told apart by its note).
KIND_WORDS = {"train": "training", "evaluate": "evaluation", DECLARED_PUBLIC: "declared public"}
#: A synthetic-data generator's DP release (`genofed synth`, and each simulated hospital's) is charged
#: as kind "train" under a plan named "synth-..." (`client.synth`); the table calls it "generator",
#: read from the plan, so ledgers written before this label are shown the same way.
GENERATOR_PLAN_PREFIX = "synth-"
GENERATOR_WORDS = "generator"
#: What each kind label's releases were, for `spent_on` ("3 synthetic-data generator releases").
SPENT_ON_WORDS = {
    GENERATOR_WORDS: "synthetic-data generator release",
    "training": "training run",
    "evaluation": "evaluation run",
    "variants": "variant-summary release",
}


def kind_label(kind: str, plan_id: str) -> str:
    """How the table names a release: "generator" for a synthetic-data generator's, else
    `KIND_WORDS`'s word for its kind."""
    if kind == "train" and str(plan_id).startswith(GENERATOR_PLAN_PREFIX):
        return GENERATOR_WORDS
    return KIND_WORDS.get(kind, kind)


def spent_on(report: dict[str, Any]) -> str:
    """What took a ledger's epsilon, by kind, counting each plan once: "3 synthetic-data generator
    releases and 1 training run" ("" when nothing was charged but declared-public entries)."""
    plans: dict[str, set[str]] = {}
    for release in report["releases"]:
        if not release["declared_public"]:
            plans.setdefault(release["label"], set()).add(release["plan_id"])
    parts = []
    for label, ids in plans.items():
        words = SPENT_ON_WORDS.get(label, f"{label} release")
        parts.append(f"{len(ids)} {words}{'' if len(ids) == 1 else 's'}")
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1] if parts else ""


#: Who the coalition epsilon is against.
COALITION = "the coordinator and all other hospitals colluding"
NOTE_WIDTH = 48
PLAN_WIDTH = 20
#: Beside a ledger, the lifetime cap (`--budget`) its local releases were given, when the ledger's
#: folder is no site's (a site's budget is in its hospital.json): {"format", "budget", "delta",
#: "command", "recorded_at", "earlier": [the caps given before, when they differed]}.
BUDGET_FILE = "ledger-budget.json"
BUDGET_FORMAT = "genofed-ledger-budget/1"


def site_folder(folder: str | Path) -> Path:
    """The site folder `folder` names: itself, or, for a site's state folder (SITE/state beside a
    SITE/hospital.json, the folder every release command takes as `--state-dir`), its site SITE.
    Why: `hospital ledger SITE/state` was refused with the advice to run `hospital init SITE/state`,
    which would make a second site, with its own key pair, inside the first one's state folder."""
    folder = Path(folder)
    if (
        folder.name == STATE_DIR
        and not (folder / SITE_FILE).exists()
        and (folder.resolve().parent / SITE_FILE).is_file()
    ):
        return folder.resolve().parent
    return folder


def bare_ledger_folder(folder: str | Path) -> bool:
    """Whether `folder` is a privacy ledger's folder outside any site: it holds a ledger (or the
    `--budget` record of one) and is neither a site folder nor a site's state folder (SITE/state)."""
    folder = Path(folder)
    if not folder.is_dir() or (folder / SITE_FILE).exists() or site_folder(folder) != folder:
        return False
    return (folder / LEDGER_FILE).is_file() or (folder / BUDGET_FILE).is_file()


def recorded_budget(state_dir: str | Path) -> dict[str, Any] | None:
    """The `--budget` record beside the ledger in `state_dir` (`BUDGET_FILE`), None when there is
    none; an unreadable one is refused (GenofedError), never read as no cap."""
    path = Path(state_dir) / BUDGET_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        float(record["budget"]), float(record["delta"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GenofedError(f"{path}: cannot read this ledger's budget record ({exc}); restore it") from None
    return record


def site_ledger(folder: str | Path) -> dict[str, Any]:
    """The site's releases and totals at its own delta, against its own budget and cap.

    `folder`: the site folder, or its state folder (`site_folder`), or a ledger's folder outside any
    site (`bare_ledger_folder`: `ledger_outside_a_site`). Refused (GenofedError) for a folder that is
    none of these, a site never checked (no budget recorded, neither by `hospital check` nor by a
    release's `--budget`) and an unreadable ledger; a site whose ledger does not exist yet has
    `releases == []` and `nothing_spent` true.
    """
    if bare_ledger_folder(folder):
        return ledger_outside_a_site(folder)
    folder = site_folder(folder)
    site = load_site_file(folder)
    name, data = str(site.get("name", "")), site.get("data") or {}
    path = folder / STATE_DIR / LEDGER_FILE
    if "epsilon_budget" in data and "delta" in data:
        budget, delta, cap = _recorded_numbers(folder / SITE_FILE, data)
        require_settings_as_recorded(folder, site)  # a budget edited by hand is never shown as the site's
        return _report(name, path, budget, delta, cap)
    given = recorded_budget(folder / STATE_DIR)  # a site never checked, whose releases gave --budget
    if given is None:
        raise GenofedError(
            f"{folder}: hospital {site.get('name', '?')!r} records no privacy budget yet (its data was "
            f"never checked); run `genofed hospital check {folder} ... --epsilon-budget E` first"
        )
    report = _report(name, path, float(given["budget"]), float(given["delta"]), math.inf)
    report["budget"].update(source="--budget", recorded_at=given.get("recorded_at"))
    return report


def _recorded_numbers(path: Path, data: dict[str, Any]) -> tuple[float, float, float | None]:
    """The budget, delta and coalition cap `hospital check` recorded in hospital.json (`path`);
    a value that is not a number (an edited file) is refused naming it, never a traceback."""
    values: list[float | None] = []
    for key in ("epsilon_budget", "delta", "max_coalition_epsilon"):
        raw = data.get(key)
        if raw is None and key == "max_coalition_epsilon":
            values.append(None)
            continue
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = math.nan
        if not value > 0 or (key == "delta" and value >= 1):
            raise ConfigError(
                f"{path}: its {key} {raw!r} is not a valid value (the file was edited or damaged); restore "
                f"it from a backup, or check the site again with `genofed hospital check {path.parent} ...`"
            )
        values.append(value)
    return values[0], values[1], values[2]  # type: ignore[return-value]


def ledger_outside_a_site(folder: str | Path) -> dict[str, Any]:
    """The releases and totals of a ledger outside any site (`bare_ledger_folder`), at the delta and
    against the `--budget` its releases recorded (`BUDGET_FILE`); a ledger whose releases recorded
    none (written before they did) is totalled at the delta of its last charge that has one, with
    its budget None (unknown). No distributed round is ever charged there (only a site's agent
    takes one), so its coalition epsilon is its epsilon, with no cap but the budget."""
    folder = Path(folder)
    given = recorded_budget(folder)
    path = folder / LEDGER_FILE
    if given is not None:
        budget, delta = float(given["budget"]), float(given["delta"])
    else:
        charges = PrivacyLedger(path).charges
        deltas = [c.delta for c in charges if c.delta is not None]
        budget, delta = None, float(deltas[-1]) if deltas else DEFAULT_DELTA
    report = _report("", path, budget, delta, math.inf)
    report["outside_a_site"] = str(folder)
    if given is not None:
        report["budget"].update(source="--budget", recorded_at=given.get("recorded_at"))
    return report


def _report(site: str, path: Path, budget: float | None, delta: float, cap: float | None) -> dict[str, Any]:
    """The ledger at `path` totalled at `delta` against `budget` (None: unknown) and the coalition
    `cap` (None: distributed DP refused; inf: no cap). A ledger below the high-water mark the
    binding and the index recorded (gone, emptied, edited, an older copy) is refused as the spending
    commands refuse it (`require_high_water`): the DPO must never read a reset ledger at face value."""
    require_high_water(path.parent)
    ledger = PrivacyLedger(path)  # an unreadable ledger is refused (DataError), never read as empty
    charges = ledger.charges
    spent = ledger.epsilon(delta) if charges else 0.0
    coalition = ledger.coalition_epsilon(delta) if charges else 0.0
    return {
        "site": site,
        "ledger": str(path),
        "ledger_exists": path.is_file(),
        "outside_a_site": None,
        "budget": {
            "epsilon": None if budget is None else _number(budget),
            "delta": delta,
            "max_coalition_epsilon": None if cap is None else _number(float(cap)),
            "distributed_dp": "refused" if cap is None else "no cap" if math.isinf(float(cap)) else "capped",
        },
        "releases": _releases(charges, delta),
        "spent": {
            "epsilon": spent,
            "coalition_epsilon": coalition,
            "left": None if budget is None else _number(budget - spent),
        },
        "nothing_spent": not charges,
    }


def _releases(charges: list[Charge], delta: float) -> list[dict[str, Any]]:
    """One row per charge, in the ledger's order, with the epsilon of the history up to it at the
    site's delta (the ledger's own `epsilon_after` was computed at the releasing command's delta,
    `delta`: None for a charge written before the ledger recorded it)."""
    from genofed.common.privacy.accountant import epsilons_after_each

    totals = epsilons_after_each([charge.step for charge in charges], delta)
    rows = []
    for charge, total in zip(charges, totals, strict=True):
        rows.append(
            {
                "time": charge.time,
                "kind": charge.kind,
                "label": kind_label(charge.kind, charge.plan_id),
                "plan_id": charge.plan_id,
                "round": charge.round,
                "noise_multiplier": charge.noise_multiplier,
                "coalition_noise_multiplier": charge.coalition_noise_multiplier,
                "sample_rate": charge.sample_rate,
                "steps": charge.steps,
                "delta": charge.delta,
                "declared_public": charge.kind == DECLARED_PUBLIC,
                "epsilon_after": charge.epsilon_after,
                "epsilon_total": total,
                "note": charge.note,
            }
        )
    return rows


def _number(value: float) -> float | str:
    """A float for JSON, with infinity as "inf" (strict JSON has no Infinity; `--epsilon-budget inf`)."""
    return "inf" if math.isinf(value) else value


#: How many releases `ledger_lines` lists unless told to list all: the latest ones.
SHOWN_RELEASES = 50


def ledger_lines(report: dict[str, Any], shown: int | None = SHOWN_RELEASES) -> list[str]:
    """The report for people: a header, one row per release (the latest `shown`, None: all), and
    the totals, always of every release. Why the limit: a federation that ran for months printed
    one row per charge, 2,000 lines and more, with the totals after them all."""
    budget, whose = report["budget"], _whose(report)
    if report["nothing_spent"]:
        where = (
            "holds no release"
            if report["ledger_exists"]
            else "does not exist yet (it is written at the site's first release)"
        )
        left = ", all of it left" if budget["epsilon"] is not None else ""
        return [
            f"{whose}: nothing spent yet: {report['ledger']} {where}; budget {_budget_words(report)}{left}"
        ]
    releases = report["releases"]
    lines = [f"{whose}: {len(releases)} release(s) in {report['ledger']}"]
    if report.get("outside_a_site"):
        lines.append(
            "  a ledger outside any site folder (its releases were given --state-dir "
            f"{report['outside_a_site']}): no hospital.json declares its budget and no audit log is kept "
            "there; its cap is the --budget its releases were given"
        )
    if shown is not None and len(releases) > shown:
        lines.append(
            f"  the latest {shown} of {len(releases)} releases (`genofed hospital ledger --all` lists every "
            "one; the totals below are of them all)"
        )
        releases = releases[-shown:]
    header = ("time", "kind", "plan", "round", "noise", "sample rate", "steps", "delta", "eps total", "note")
    table = [header] + [_row(r) for r in releases]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    numeric = {3, 5, 6, 7, 8}
    for row in table:
        cells = [
            cell.rjust(width) if i in numeric else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row[:-1], widths, strict=True))
        ]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    unrecorded = "" if all(r["delta"] is not None for r in releases) else " (-: an older entry recorded none)"
    owner = "the ledger's" if report.get("outside_a_site") else "the site's"
    lines.append(
        f"  eps total: {owner} epsilon after each release, at its delta; noise: the release's noise "
        "multiplier (own: the site's share of it under distributed DP, where the coordinator faces the "
        f"sites' shares together); delta: the one the release was calibrated at{unrecorded}; the same "
        "release again under its plan (a summary declared twice, a round rerun on the same noise) is one row"
    )
    public = sum(1 for r in report["releases"] if r["declared_public"])
    if public:
        lines.append(f"  declared public: {public} exact release(s) the hospital let out at epsilon 0")
    lines.append(totals_line(report))
    return lines


def _row(release: dict[str, Any]) -> tuple[str, ...]:
    if release["declared_public"]:
        noise, rate = "exact", "-"
    else:
        noise = f"{release['noise_multiplier']:.3g}"
        if release["coalition_noise_multiplier"] is not None:
            noise += f" (own {release['coalition_noise_multiplier']:.3g})"
        rate = f"{release['sample_rate']:.3g}"
    return (
        _time(release["time"]),
        release.get("label") or kind_label(release["kind"], release["plan_id"]),
        _shortened(release["plan_id"], PLAN_WIDTH, keep_end=True),
        str(release["round"]),
        noise,
        rate,
        str(release["steps"]),
        "-" if release["delta"] is None else f"{release['delta']:g}",
        f"{release['epsilon_total']:.3g}",
        _shortened(release["note"], NOTE_WIDTH),
    )


def _whose(report: dict[str, Any]) -> str:
    """Whose ledger the report is: "hospital NAME", or "the ledger in DIR" outside any site."""
    outside = report.get("outside_a_site")
    return f"the ledger in {outside}" if outside else f"hospital {report['site']}"


def _budget_words(report: dict[str, Any]) -> str:
    """ "epsilon B at delta D", saying where a budget that no `hospital check` declared comes from
    (the `--budget` its releases were given), or that none was recorded."""
    budget = report["budget"]
    if budget["epsilon"] is None:
        return (
            "not recorded beside this ledger (a local release given --budget records it; a simulated "
            "hospital's budget was its run's epsilon, in the run's results.json), "
            f"totals at delta {budget['delta']:g}"
        )
    words = f"epsilon {_g(budget['epsilon'])} at delta {budget['delta']:g}"
    if budget.get("source") == "--budget":
        when = f", {_time(budget['recorded_at'])}" if budget.get("recorded_at") else ""
        words += f" (the --budget its last DP release was given{when})"
    return words


def totals_line(report: dict[str, Any]) -> str:
    """ "spent epsilon X of budget Y at delta D; against ...colluding: Z (cap W); left: Y - X"; outside
    a site, where no distributed round is ever charged, without the coalition part."""
    budget, spent = report["budget"], report["spent"]
    if report.get("outside_a_site") or budget.get("source") == "--budget":
        left = spent["left"]
        if left is None:
            return f"spent epsilon {spent['epsilon']:.3g}; budget {_budget_words(report)}"
        over = "" if left == "inf" or left >= 0 else " (OVER the budget)"
        return (
            f"spent epsilon {spent['epsilon']:.3g} of budget {_budget_words(report)}; "
            f"left: {_g(left, '.3g')}{over}"
        )
    distributed = budget["distributed_dp"]
    cap = (
        f"cap {_g(budget['max_coalition_epsilon'])}{_cap_exceeded(budget, spent)}"
        if distributed == "capped"
        else "distributed DP refused"
        if distributed == "refused"
        else "no cap"
    )
    left = spent["left"]
    over = "" if left == "inf" or left >= 0 else " (OVER the budget)"
    return (
        f"spent epsilon {spent['epsilon']:.3g} of budget {_g(budget['epsilon'])} at delta "
        f"{budget['delta']:g}; against {COALITION}: {spent['coalition_epsilon']:.3g} ({cap}); "
        f"left: {_g(left, '.3g')}{over}"
    )


def _cap_exceeded(budget: dict[str, Any], spent: dict[str, Any]) -> str:
    """ ", EXCEEDED: further releases are refused" when the site has spent more against a coalition
    than its cap (a cap set below what was spent, as `hospital check` did before refusing it)."""
    cap = budget["max_coalition_epsilon"]
    if isinstance(cap, str) or spent["coalition_epsilon"] <= cap:
        return ""
    return ", EXCEEDED: further releases are refused"


def _g(value: float | str, spec: str = "g") -> str:
    return value if isinstance(value, str) else format(value, spec)


def _shortened(text: str, width: int, *, keep_end: bool = False) -> str:
    """`text` on one line, cut to `width` with "..." (in the middle with `keep_end`: plan ids
    differ at their ends, e.g. a rounded summary's rounding, so their ends are kept)."""
    text = " ".join(str(text).split())
    if len(text) <= width:
        return text
    if keep_end:
        head = (width - 3) // 3
        return text[:head] + "..." + text[-(width - 3 - head) :]
    return text[: width - 3] + "..."


def _time(text: str) -> str:
    """A charge's time in one format (the agent writes +00:00, the local releases wrote +0000), to
    the second; as written when it is not an ISO time."""
    try:
        return dt.datetime.fromisoformat(str(text)).isoformat(timespec="seconds")
    except ValueError:
        return str(text)
