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

It reads only: no lock is taken (the ledger is rewritten atomically, so a read sees a whole
ledger), nothing is written, and flwr is never imported (the accountant imports Opacus once a
release spent anything).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

from genofed.client.agent.keys import SITE_FILE, load_site_file
from genofed.common.errors import GenofedError
from genofed.common.privacy.ledger import DECLARED_PUBLIC, LEDGER_FILE, Charge, PrivacyLedger

#: The site folder's state folder, which holds the ledger (the agent's `launch.STATE_DIR`, not
#: imported: the launcher imports the audit log's Flower mod, i.e. flwr).
STATE_DIR = "state"
#: How the table names a release kind ("variants": `hospital variants --release dp`; a generator's
#: DP training is charged as "train" and told apart by its note).
KIND_WORDS = {"train": "training", "evaluate": "evaluation", DECLARED_PUBLIC: "declared public"}
#: Who the coalition epsilon is against.
COALITION = "the coordinator and all other hospitals colluding"
NOTE_WIDTH = 48
PLAN_WIDTH = 20


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


def site_ledger(folder: str | Path) -> dict[str, Any]:
    """The site's releases and totals at its own delta, against its own budget and cap.

    `folder`: the site folder, or its state folder (`site_folder`). Refused (GenofedError) for a
    folder that is not a site folder, a site never checked (no budget recorded) and an unreadable
    ledger; a site whose ledger does not exist yet has `releases == []` and `nothing_spent` true.
    """
    folder = site_folder(folder)
    site = load_site_file(folder)
    data = site.get("data") or {}
    if "epsilon_budget" not in data or "delta" not in data:
        raise GenofedError(
            f"{folder}: hospital {site.get('name', '?')!r} records no privacy budget yet (its data was never "
            f"checked); run `genofed hospital check {folder} ... --epsilon-budget E` first"
        )
    budget, delta = float(data["epsilon_budget"]), float(data["delta"])
    cap = data.get("max_coalition_epsilon")
    path = folder / STATE_DIR / LEDGER_FILE
    ledger = PrivacyLedger(path)  # an unreadable ledger is refused (DataError), never read as empty
    charges = ledger.charges
    spent = ledger.epsilon(delta) if charges else 0.0
    coalition = ledger.coalition_epsilon(delta) if charges else 0.0
    return {
        "site": str(site.get("name", "")),
        "ledger": str(path),
        "ledger_exists": path.is_file(),
        "budget": {
            "epsilon": _number(budget),
            "delta": delta,
            "max_coalition_epsilon": None if cap is None else _number(float(cap)),
            "distributed_dp": "refused" if cap is None else "no cap" if math.isinf(float(cap)) else "capped",
        },
        "releases": _releases(charges, delta),
        "spent": {
            "epsilon": spent,
            "coalition_epsilon": coalition,
            "left": _number(budget - spent),
        },
        "nothing_spent": not charges,
    }


def _releases(charges: list[Charge], delta: float) -> list[dict[str, Any]]:
    """One row per charge, in the ledger's order, with the epsilon of the history up to it at the
    site's delta (the ledger's own `epsilon_after` was computed at the releasing command's delta,
    `delta`: None for a charge written before the ledger recorded it)."""
    from genofed.common.privacy.accountant import epsilon_of

    rows, history = [], []
    for charge in charges:
        history.append(charge.step)
        rows.append(
            {
                "time": charge.time,
                "kind": charge.kind,
                "plan_id": charge.plan_id,
                "round": charge.round,
                "noise_multiplier": charge.noise_multiplier,
                "coalition_noise_multiplier": charge.coalition_noise_multiplier,
                "sample_rate": charge.sample_rate,
                "steps": charge.steps,
                "delta": charge.delta,
                "declared_public": charge.kind == DECLARED_PUBLIC,
                "epsilon_after": charge.epsilon_after,
                "epsilon_total": epsilon_of(history, delta),
                "note": charge.note,
            }
        )
    return rows


def _number(value: float) -> float | str:
    """A float for JSON, with infinity as "inf" (strict JSON has no Infinity; `--epsilon-budget inf`)."""
    return "inf" if math.isinf(value) else value


def ledger_lines(report: dict[str, Any]) -> list[str]:
    """The report for people: a header, one row per release, and the totals."""
    site, budget = report["site"], report["budget"]
    if report["nothing_spent"]:
        where = (
            "holds no release"
            if report["ledger_exists"]
            else "does not exist yet (it is written at the site's first release)"
        )
        return [
            f"hospital {site}: nothing spent yet: {report['ledger']} {where}; budget epsilon "
            f"{_g(budget['epsilon'])} at delta {budget['delta']:g}, all of it left"
        ]
    releases = report["releases"]
    lines = [f"hospital {site}: {len(releases)} release(s) in {report['ledger']}"]
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
    lines.append(
        "  eps total: the site's epsilon after each release, at its delta; noise: the release's noise "
        "multiplier (own: the site's share of it under distributed DP, where the coordinator faces the "
        f"sites' shares together); delta: the one the release was calibrated at{unrecorded}; the same "
        "release again under its plan (a summary declared twice, a round rerun on the same noise) is one row"
    )
    public = sum(1 for r in releases if r["declared_public"])
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
        KIND_WORDS.get(release["kind"], release["kind"]),
        _shortened(release["plan_id"], PLAN_WIDTH, keep_end=True),
        str(release["round"]),
        noise,
        rate,
        str(release["steps"]),
        "-" if release["delta"] is None else f"{release['delta']:g}",
        f"{release['epsilon_total']:.3g}",
        _shortened(release["note"], NOTE_WIDTH),
    )


def totals_line(report: dict[str, Any]) -> str:
    """ "spent epsilon X of budget Y at delta D; against ...colluding: Z (cap W); left: Y - X"."""
    budget, spent = report["budget"], report["spent"]
    distributed = budget["distributed_dp"]
    cap = (
        f"cap {_g(budget['max_coalition_epsilon'])}"
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
