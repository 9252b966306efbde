"""Benchmark: what a hospital's privacy ledger costs as a federation runs for months.

A site's ledger gains a charge per release (a round's update, an evaluation), so a federation of
weekly runs reaches thousands. A long-running walkthrough found `genofed hospital ledger` (what the
data-protection officer reads) slowing with the square of the ledger: it computed the epsilon after each
charge from the whole history up to it, work that grows with the square of the ledger
(`client/agent/ledger_report._releases`, now one running sum: `accountant.epsilons_after_each`).
For each size this builds a ledger of runs of 20 training charges and one evaluation, each run at
its own noise, and prints the file's bytes per charge, the report's epsilon column computed both
ways (the same values), one more charge (the ledger is rewritten whole), and what each of the
agent's messages pays for its charge: the ledger read under its lock, charged and written, as it was
(`PrivacyLedger(path).locked()`: read twice) and now (`PrivacyLedger.locked_at`: read once).

    .venv/bin/python bench/ledger_growth.py [--sizes 500 2000 5000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from genofed.client.agent.ledger_report import _releases
from genofed.common.privacy.accountant import epsilon_of
from genofed.common.privacy.ledger import LEDGER_FILE, NOISE_SOURCE, Charge, PrivacyLedger

DELTA = 1e-5


def grown_ledger(path: Path, size: int) -> PrivacyLedger:
    """A ledger of `size` charges: runs of 20 training rounds and an evaluation, run r at noise
    1 + r / 100 (each run its own RDP curve, as each run's calibration gives)."""
    ledger = PrivacyLedger(path)
    charges = []
    for i in range(size):
        run, step = divmod(i, 21)
        kind, steps = ("evaluate", 1) if step == 20 else ("train", 10)
        charges.append(
            Charge(
                f"plan-{run}",
                step,
                1.0 + run / 100,
                0.2,
                steps,
                0.0,
                input_digest=f"{i:064x}",  # a SHA-256, as every real charge records
                kind=kind,
                delta=DELTA,
                noise_source=NOISE_SOURCE,
            )
        )
    ledger.charges = charges
    ledger._save()
    return PrivacyLedger(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[500, 2000, 5000])
    args = parser.parse_args()
    print(
        f"{'charges':>8} {'bytes/charge':>12} {'ledger rows, each prefix':>25} {'running sum':>12} "
        f"{'same':>5} {'one more charge':>16} {'message, read twice':>20} {'read once':>10}"
    )
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes:
            path = Path(folder) / f"{size}" / LEDGER_FILE
            path.parent.mkdir()
            ledger = grown_ledger(path, size)
            ledger.epsilon(DELTA)  # every run's RDP curve computed once, for both ways
            started = time.perf_counter()
            history = ledger.history()
            prefixes = [epsilon_of(history[: i + 1], DELTA) for i in range(len(history))]  # as it was
            before = time.perf_counter() - started
            started = time.perf_counter()
            running = [row["epsilon_total"] for row in _releases(ledger.charges, DELTA)]
            after = time.perf_counter() - started
            times = []
            for round_ in range(5):
                started = time.perf_counter()
                ledger.charge(Charge("next", round_, 1.5, 0.2, 10, 0.0, delta=DELTA))
                times.append(time.perf_counter() - started)
            twice = _message_times(path, read_twice=True)
            once = _message_times(path, read_twice=False)
            print(
                f"{size:>8} {path.stat().st_size / (size + 15):>12.0f} {before:>23.2f} s {after:>10.2f} s "
                f"{str(prefixes == running):>5} {statistics.median(times) * 1000:>13.0f} ms "
                f"{twice * 1000:>17.0f} ms {once * 1000:>7.0f} ms"
            )


def _message_times(path: Path, *, read_twice: bool) -> float:
    """The median of 5 messages' charges: the ledger at `path` held under its lock (`read_twice`: as
    `PrivacyLedger(path).locked()` held it), charged one round, written."""
    times = []
    for round_ in range(5):
        started = time.perf_counter()
        held = PrivacyLedger(path).locked() if read_twice else PrivacyLedger.locked_at(path)
        with held as ledger:
            ledger.charge(Charge(f"message-{read_twice}", round_, 1.5, 0.2, 10, 0.0, delta=DELTA))
        times.append(time.perf_counter() - started)
    return statistics.median(times)


if __name__ == "__main__":
    main()
