"""The privacy ledger a hospital's local release is charged to: the one its data is bound to.

A local release is a DP computation a hospital runs by hand on its own patients, outside a
federated run: the generator of `genofed synth --epsilon E --state-dir DIR`, and the variant
summary of `genofed hospital variants --state-dir DIR` (read from the genotypes alone, so bound by
that file alone; its declared-public rounded release is recorded there too). It is charged
to the ledger in DIR, the same ledger the hospital agent's federated training charges. Why this
module: without the agent's binding, DIR could be any folder. A new DIR for the same patients
started a fresh ledger with a fresh budget (in an audit, rostov's files, whose ledger in
site_rostov/state had spent epsilon 7.96 of 8, trained a generator at epsilon 2 into a new ledger),
and without `--budget` there was no cap at all. So, before anything is trained or written:

- the ledger in DIR is bound to the files the release reads, by the hospital agent's own rules
  (`genofed.client.agent.ledger_binding`): files that already have a ledger in another folder, or
  a folder whose ledger was spent on other files, are refused with the same advice and the same
  overrides (`--new-ledger REASON`, `--data-update REASON`, written to the audit log);
- when DIR is a hospital site's state folder (SITE/state, next to the SITE/hospital.json that
  `genofed hospital check` wrote), the budget the hospital declared there caps the release as
  well: the smaller of it and `--budget`;
- a DP release needs a cap: outside a site's state folder `--budget` is required (a ledger without
  a cap let repeated releases spend without limit), refused with `NoCap` before anything is read,
  trained, written or charged;
- the budget is checked against the ledger as it stands, so a refusal leaves nothing behind (no
  state folder, no binding). The release checks it again under the ledger's lock when it charges.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from genofed.client.agent.audit import AUDIT_FILE
from genofed.client.agent.keys import SITE_FILE
from genofed.client.agent.ledger_binding import DataHashes, bind_ledger, cohort_sha256
from genofed.common.errors import ConfigError
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger
from genofed.common.util.hashing import file_sha256

#: The name of a site's state folder inside its site folder: the agent's `launch.STATE_DIR`, not
#: imported because the agent's launcher imports the ClientApp, which imports `synth` (a cycle).
SITE_STATE_DIR = "state"


@dataclass(frozen=True)
class LocalLedger:
    """Where a local release is charged, and the cap it must stay under.

    `state_dir`: the folder holding the ledger; `budget`: the lifetime epsilon cap (None only for a
    release that spends nothing: `local_ledger` refuses a DP release without one); `site_file`: the
    hospital.json whose budget applies, if any;
    `site`: the name the binding records (the site's, else the state folder's).
    """

    state_dir: Path
    budget: float | None
    site_file: Path | None
    site: str = ""


class NoCap(ConfigError):
    """A DP release with no cap: no `--budget` and no site's declared budget."""


def local_ledger(state_dir: str | Path, budget: float | None, *, spends: bool = True) -> LocalLedger:
    """The ledger in `state_dir` and its cap: `budget`, or the site's declared budget when
    `state_dir` is a site's state folder (the smaller of the two when both are given).

    Args:
        spends: the release is DP and spends epsilon: it needs a cap, so with neither `budget` nor
            a site's declared budget it is refused (`NoCap`). False for a release that spends
            nothing (a rounded variant summary, only listed in the ledger).
    """
    if budget is not None and not budget > 0:  # NaN included: `spent > nan` is never true, no cap
        raise ConfigError(f"--budget must be a positive epsilon (the lifetime cap), got {budget:g}")
    state_dir = Path(state_dir).resolve()
    site = _site_record(state_dir.parent / SITE_FILE) if state_dir.name == SITE_STATE_DIR else {}
    declared = _declared_budget(site)
    caps = [cap for cap in (budget, declared) if cap is not None and not math.isinf(cap)]
    if spends and not caps:
        raise NoCap(
            f"a DP release charged to {state_dir} needs a cap, and that folder is no hospital site's "
            "state folder with a declared budget: give --budget EPSILON (the lifetime epsilon cap for "
            "these patients, across every release charged to this ledger), or use the site's state "
            "folder (SITE/state, written by `genofed hospital check`). Nothing was trained, written or "
            "charged."
        )
    if declared is None:  # no site's: the folder's own ledger
        return LocalLedger(state_dir, min(caps) if caps else None, None, state_dir.name)
    name = str(site.get("name") or state_dir.name)
    return LocalLedger(state_dir, min(caps) if caps else None, state_dir.parent / SITE_FILE, name)


def check_and_bind(
    ledger: LocalLedger,
    genotypes: str | Path,
    phenotypes: str | Path | None,
    *,
    epsilon: float,
    delta: float,
    purpose: str,
    command: str,
    new_ledger: str = "",
    data_update: str = "",
    sample_ids: Sequence[str] = (),
) -> None:
    """Refuse a release of `epsilon` that would pass the cap (nothing written), then bind the ledger
    to the files it reads (refusing data whose ledger is elsewhere, see the module docstring).

    Args:
        phenotypes: None for a release that reads the genotypes only (a variant summary).
        sample_ids: the patients the files hold: they bind the ledger too (`cohort_sha256`), so a
            re-exported file of the same patients is not a fresh budget.
        purpose: what the epsilon is spent on, for the refusal ("the generator").
        command: the command's name, for the binding's records and messages ("synth").
    """
    PrivacyLedger(ledger.state_dir / LEDGER_FILE).epsilon_after(
        epsilon, delta, budget=ledger.budget, purpose=purpose, refused=_nothing_done(ledger)
    )
    site = ledger.site_file.parent if ledger.site_file is not None else None
    bind_ledger(
        ledger.state_dir,
        DataHashes(
            genotypes_sha256(genotypes),
            file_sha256(phenotypes) if phenotypes is not None else "",
            cohort_sha256(sample_ids) if len(sample_ids) else "",
        ),
        site=ledger.site or ledger.state_dir.name,
        command=command,
        new_ledger=new_ledger,
        data_update=data_update,
        audit_log=site / AUDIT_FILE if site is not None else None,
    )


def genotypes_sha256(genotypes: str | Path) -> str:
    """The genotypes file's SHA-256; of its .bed when `genotypes` is a PLINK prefix (the file
    `genofed hospital check` hashes when given the .bed)."""
    path = Path(genotypes)
    return file_sha256(path if path.is_file() else path.with_name(path.name + ".bed"))


def _site_record(site_file: Path) -> dict:
    """A site's hospital.json ({} when absent or unreadable: a folder named `state` that is not a
    site's)."""
    try:
        record = json.loads(site_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _declared_budget(site: dict) -> float | None:
    """The epsilon budget a site declared in its hospital.json; None when it holds none."""
    try:
        return float(site["data"]["epsilon_budget"])
    except (KeyError, TypeError, ValueError):
        return None


def _nothing_done(ledger: LocalLedger) -> str:
    """The refusal's last words: nothing happened, and whose budget it was."""
    source = f" The budget is the one {ledger.site_file} declares." if ledger.site_file is not None else ""
    return "Nothing was trained or written." + source
