"""The `--budget` a local release outside any site was given, recorded beside its ledger.

Outside a site, the `--budget` a DP release was given is recorded beside the ledger
(`record_budget`, `ledger_report.BUDGET_FILE`), so that `genofed hospital ledger DIR` can total the
ledger against it: an audit found such a ledger readable by no command. A `--budget` above the
recorded one is refused unless the cap is raised on purpose (`check_budget_change`): an audit raised
a spent ledger's cap from 3 to 10 by giving a larger number, with no word. At a site's state folder
the site's hospital.json declares the budget (`genofed.client.agent.site_settings_record`), and
nothing is recorded here.
"""

from __future__ import annotations

import json
import math

from genofed.client.agent.ledger_report import BUDGET_FILE, BUDGET_FORMAT, recorded_budget
from genofed.client.local_ledger import LocalLedger
from genofed.common.errors import ConfigError
from genofed.common.util.atomic import write_text_atomic


def check_budget_change(local: LocalLedger, *, raise_budget: bool, option: str = "--raise-budget") -> str:
    """Refuse (ConfigError) a `--budget` above the lifetime cap recorded beside a ledger outside any
    site (`ledger-budget.json`, `record_budget`) unless the cap is raised on purpose (`raise_budget`,
    the command's `option`); returns the line that says what changes when it is (else "").

    Why: an audit spent 1.99 of `--budget 3`, was refused a second `--epsilon 2 --budget 3`, then ran
    `--epsilon 2 --budget 10` with no word: the cap that bounds these patients' lifetime loss moved
    because a command line said a larger number. Raising it is the site's (its data protection
    officer's) decision, so it must be asked for; the earlier cap stays in the record (`earlier`).
    A smaller `--budget` is a stricter cap and needs nothing (one below what is already spent is
    refused by the budget check, `PrivacyLedger.epsilon_after`). At a site's state folder the site's
    hospital.json declares the budget (`hospital check` changes it), and nothing is recorded here.
    """
    if local.declared_budget is not None or local.budget is None or math.isinf(local.budget):
        return ""
    record = recorded_budget(local.state_dir)
    if record is None:
        return ""
    recorded = float(record["budget"])
    if local.budget <= recorded * (1 + 1e-12):
        return ""
    given = f"given to `{record.get('command') or '?'}` at {record.get('recorded_at') or '?'}"
    if not raise_budget:
        raise ConfigError(
            f"--budget {local.budget:g} is above the lifetime cap recorded for the privacy ledger in "
            f"{local.state_dir} ({recorded:g}, {given}; {BUDGET_FILE}): a larger --budget does not raise "
            f"it. Raising the cap for these patients is the site's decision (its data protection "
            f"officer's): if it was made, give {option} as well; otherwise give --budget {recorded:g} or "
            "less. Nothing was read, written or charged."
        )
    return (
        f"{option}: the lifetime cap of the privacy ledger in {local.state_dir} goes from {recorded:g} "
        f"to {local.budget:g} with this run (the earlier cap stays recorded under `earlier` in {BUDGET_FILE})"
    )


def record_budget(local: LocalLedger, *, delta: float, command: str) -> None:
    """Record beside the ledger the `--budget` a DP release outside a site was given (what capped
    it), for `genofed hospital ledger DIR` (`ledger_report.ledger_outside_a_site`); nothing where a
    site's hospital.json declares the budget. Call it holding the ledger's lock, right after the
    charge. A later release given another `--budget` replaces it, the earlier ones kept in
    `earlier` (the cap is the operator's to change, as a site's `hospital check` may).

    Args:
        local: where the release was charged and the cap it was checked against.
        delta: the release's delta (the ledger is totalled at it).
        command: the command that was given the budget ("synth").
    """
    if local.declared_budget is not None or local.budget is None or math.isinf(local.budget):
        return
    import datetime as dt

    earlier_record = recorded_budget(local.state_dir)
    earlier = list((earlier_record or {}).get("earlier") or [])
    if earlier_record is not None and float(earlier_record["budget"]) != local.budget:
        earlier.append({k: earlier_record.get(k) for k in ("budget", "delta", "command", "recorded_at")})
    if earlier_record is not None:  # the ledger's delta never goes up (`_ledger_delta`)
        delta = min(float(delta), float(earlier_record["delta"]))
    record = {
        "format": BUDGET_FORMAT,
        "budget": float(local.budget),
        "delta": float(delta),
        "command": command,
        "recorded_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "earlier": earlier,
    }
    write_text_atomic(local.state_dir / BUDGET_FILE, json.dumps(record, indent=2) + "\n")
