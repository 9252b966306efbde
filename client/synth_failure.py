"""What a `genofed synth` run that stops early leaves behind, and says: whether anything was written
or charged (an interrupt: `interrupted_message`; a failure once the generator was charged:
`after_charge_message`, where the CLI's generic "run again" hid that the budget was spent and that
a rerun spends it again), and no state folder of its own that holds nothing but a lock file
(`discard_unused_state`).
"""

from __future__ import annotations

import math
from pathlib import Path

from genofed.client.synth_options import SynthOptions
from genofed.client.synthetic_use import SUMMARY_FILE
from genofed.common.errors import GenofedError
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger


def ledger_charges(options: SynthOptions) -> int:
    """How many charges the site's ledger holds (0 without DP or a ledger yet)."""
    if math.isinf(options.epsilon) or not options.state_dir:
        return 0
    path = Path(options.state_dir) / LEDGER_FILE
    return len(PrivacyLedger(path).charges) if path.is_file() else 0


def interrupted_message(out: Path, options: SynthOptions, charges_before: int) -> str:
    """What an interrupted `genofed synth` leaves behind: whether anything was written or charged."""
    wrote = _wrote(out)
    if math.isinf(options.epsilon):
        return f"{wrote}; no privacy ledger is involved without --epsilon"
    charged = ledger_charges(options) > charges_before
    spent = _charged(options) if charged else f"nothing was charged to the ledger in {options.state_dir}"
    return f"{wrote}; {spent}"


def after_charge_message(exc: GenofedError | OSError, out: Path, options: SynthOptions) -> str:
    """A failure once the generator was charged, in one line: what failed, what was written, and
    that the epsilon was charged and a rerun spends it again (the CLI's generic "run again" hid
    that the budget was spent)."""
    if isinstance(exc, OSError):
        target = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
        what = f"{target}: {exc.strerror or exc}" if target is not None else str(exc)
    else:
        what = str(exc).rstrip(".")
    return f"{what}; {_wrote(out)}, but {_charged(options)}"


def _wrote(out: Path) -> str:
    """Whether the batch reached `out`."""
    written = (out / SUMMARY_FILE).is_file()
    return f"the batch was already written to {out}" if written else f"nothing was written to {out}"


def _charged(options: SynthOptions) -> str:
    """That the generator's epsilon was charged, where, and that a rerun is charged again."""
    return (
        f"the generator's epsilon {options.epsilon:g} WAS charged to the ledger in {options.state_dir} "
        "(its release was complete): a rerun is a new release and spends epsilon again"
    )


def discard_unused_state(state_dir: str) -> None:
    """Remove a state folder this run made that holds nothing but the ledger's lock file (a run
    refused or interrupted before its charge): a refusal leaves nothing behind, and no empty
    folder that looks like a ledger."""
    folder = Path(state_dir) if state_dir else None
    if folder is None or not folder.is_dir():
        return
    lock = folder / f"{LEDGER_FILE}.lock"
    if {entry.name for entry in folder.iterdir()} <= {lock.name}:
        lock.unlink(missing_ok=True)
        folder.rmdir()
