"""`genofed simulate --data` on a hospital's real files that are bound to a hospital ledger: say so.

A simulation is not bound (docs/synthetic-data.md): every virtual hospital spends its run's budget
in the run's own ledger (RUN/privacy-ledgers). A walkthrough ran `simulate --data` on its own
hospitals' files, one of them bound to a site whose ledger had spent epsilon 3 of 3, and the run spent
a fresh 3 on the same patients without a word. The simulation still runs (its ledgers are its own),
but each such hospital is named, with the ledger it is bound to and what that ledger has spent, before
anything trains: what the run spends adds to what those patients already gave, and no hospital
ledger records it.
"""

from __future__ import annotations

from pathlib import Path

from genofed.client.agent.ledger_report import site_ledger, totals_line
from genofed.client.local_ledger import bound_state_dir
from genofed.common.data.layout import SiteFolder
from genofed.common.data.readers import genotype_sample_ids
from genofed.common.errors import GenofedError
from genofed.common.util.progress import Progress


def say_bound_ledgers(folders: list[SiteFolder], ledgers: str | Path, say: Progress) -> list[str]:
    """One warning per hospital folder whose genotypes file (or its patients) is bound to a ledger
    in the user's registry of ledger indexes (`local_ledger.bound_state_dir`); returns the lines said.
    `ledgers`: where this run's own ledgers go, named in the warning."""
    said = []
    for folder in folders:
        try:
            state = bound_state_dir(folder.genotypes, genotype_sample_ids(folder.genotypes))
        except (GenofedError, OSError, ValueError):
            continue
        if state is None:
            continue
        try:
            spent = totals_line(site_ledger(state))
        except (GenofedError, OSError, ValueError):
            spent = "its ledger could not be read"
        line = (
            f"warning: {folder.name}: these patients are bound to the privacy ledger in {state} ({spent}); "
            f"this simulation spends its own budget on them in {ledgers}, recorded in no hospital ledger, "
            "on top of what that ledger has spent"
        )
        say(line)
        said.append(line)
    return said
