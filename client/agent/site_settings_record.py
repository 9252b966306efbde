"""The site's privacy settings as `hospital check` last set them, recorded in its ledger's binding.

Why this module: hospital.json is a file the operator can edit; an audit raised its budget from 8 to
50 by hand and `ledger` and `start` took it, unaudited (and `require_secagg` or the coalition cap
can be edited the same way). The binding (`genofed.client.agent.ledger_binding`, under its
`BUDGET_KEY`) is written only by genofed, so it records the site's budget and delta and its other
settings that bound what it releases (`GUARDED_SETTINGS`) as `hospital check` sets them
(`record_site_settings`); `hospital start`, `hospital ledger` and a local release at the site refuse
a hospital.json that says otherwise (`require_settings_as_recorded`, `BudgetEdited`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genofed.client.agent.keys import SITE_FILE
from genofed.client.agent.ledger_binding import (
    BINDING_FILE,
    BUDGET_KEY,
    binding_time,
    read_binding,
)
from genofed.client.agent.ledger_indexes import index_path
from genofed.client.agent.site_layout import STATE_DIR
from genofed.common.errors import GenofedError
from genofed.common.util.atomic import exclusive_lock, write_text_atomic

#: The settings of hospital.json's "data" that bound what the site releases, beside the budget and
#: delta: the record keeps them too, so that none changes by a hand edit (`require_settings_as_recorded`).
GUARDED_SETTINGS = ("require_secagg", "max_coalition_epsilon", "max_evaluations", "declared_size")


class BudgetEdited(GenofedError):
    """hospital.json's budget is not the one genofed recorded: it was edited by hand."""


def bound_budget(state_dir: str | Path) -> dict[str, Any] | None:
    """The budget record of the binding in `state_dir` (`BUDGET_KEY`); None when there is no
    binding, or one written before genofed recorded the budget there."""
    binding = read_binding(Path(state_dir).resolve())
    record = (binding or {}).get(BUDGET_KEY)
    return record if isinstance(record, dict) else None


def record_site_settings(
    state_dir: str | Path,
    data: Mapping[str, Any],
    *,
    index_file: Path | None = None,
    replace: bool = True,
) -> bool:
    """Record the site's budget and delta, and its `GUARDED_SETTINGS`, from hospital.json's "data"
    as `hospital check` writes it, in the binding of its ledger (`state_dir`, bound by `bind_ledger`
    first); returns whether anything was written. `replace` False: only when none is recorded
    (`hospital start` adopting the settings of a site checked before genofed recorded them).

    Why: hospital.json is a file the operator can edit; an audit raised its budget from 8 to 50 by
    hand and `ledger` and `start` took it, unaudited (and `require_secagg` or the coalition cap can
    be edited the same way). The binding is written only by genofed, so
    `require_settings_as_recorded` tells a setting made by `hospital check` from one typed in."""
    state_dir = Path(state_dir).resolve()
    index_file = index_file or index_path()
    index_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with exclusive_lock(index_file):  # the binding's other writers hold it too
        binding = read_binding(state_dir)
        if binding is None:
            return False
        old = binding.get(BUDGET_KEY) or {}
        new = {
            "epsilon_budget": float(data["epsilon_budget"]),
            "delta": float(data["delta"]),
            **{key: data.get(key) for key in GUARDED_SETTINGS},
        }
        if (old and not replace) or all(old.get(k) == v for k, v in new.items()):
            return False
        binding[BUDGET_KEY] = dict(new, set_at=binding_time())
        write_text_atomic(state_dir / BINDING_FILE, json.dumps(binding, indent=2) + "\n")
    return True


def require_settings_as_recorded(folder: str | Path, site: dict[str, Any]) -> None:
    """Refuse (BudgetEdited) a site whose hospital.json declares another budget or delta than the one
    genofed last recorded in its ledger's binding (`record_site_settings`): the file was edited by hand,
    and a budget changed that way is in no audit log. Raising the budget needs `hospital check
    --change-budget REASON`; lowering it needs no reason, but goes through `hospital check` too, so
    that it is recorded (audit log, `earlier_budgets`) and the binding follows. A site whose binding
    records no budget (none yet, or written by an older genofed) is not compared; values that are
    not numbers are left for the readers that name them."""
    folder = Path(folder)
    bound = bound_budget(folder / STATE_DIR)
    data = site.get("data") or {}
    if bound is None or not isinstance(data, dict):
        return
    try:
        declared = float(data["epsilon_budget"]), float(data["delta"])
        recorded = float(bound["epsilon_budget"]), float(bound["delta"])
    except (KeyError, TypeError, ValueError):
        return
    if declared == recorded:
        _require_guarded_as_recorded(folder, data, bound)
        return
    raise BudgetEdited(
        f"{folder / SITE_FILE}: its privacy budget (epsilon {declared[0]:g} at delta {declared[1]:g}) is "
        f"not the one genofed recorded (epsilon {recorded[0]:g} at delta {recorded[1]:g}, set "
        f"{bound.get('set_at', '?')}): the file was edited outside genofed, and such a change is in no "
        f"audit log. Put back epsilon_budget {recorded[0]:g} and delta {recorded[1]:g}; to change the "
        f"budget, run `genofed hospital check {folder} ... --epsilon-budget E --delta D` (a larger budget "
        "or delta also needs --change-budget REASON; every change is written to the audit log)"
    )


def _require_guarded_as_recorded(folder: Path, data: Mapping[str, Any], bound: Mapping[str, Any]) -> None:
    """Refuse (BudgetEdited) a `GUARDED_SETTINGS` value of hospital.json other than the recorded
    one; a record written before the guarded settings were recorded has none, and is not compared."""
    for key in GUARDED_SETTINGS:
        if key in bound and data.get(key) != bound[key]:
            raise BudgetEdited(
                f"{folder / SITE_FILE}: its {key} ({json.dumps(data.get(key))}) is not the one genofed "
                f"recorded ({json.dumps(bound[key])}, set {bound.get('set_at', '?')}): the file was edited "
                f"outside genofed, and such a change is in no audit log. Put back {json.dumps(bound[key])}, "
                f"or change it with `genofed hospital check {folder} ...` and its option for it"
            )
