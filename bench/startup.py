"""Start-up cost of the light commands: `genofed --help` and `genofed data check`.

A hospital runs `genofed data check` on its export before anything else; it reads one VCF and one
phenotype file and must not pay the seconds it takes to import the training stack (torch, Opacus,
Flower). This prints the wall time of each command (median of --repeats fresh processes) next to
the time of importing that stack alone, as ratios measured in the same run:

    .venv/bin/genofed simulate-cohorts --out demo/cohorts   # once, for a site to check
    .venv/bin/python bench/startup.py --site demo/cohorts/rostov
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

GENOFED = [sys.executable, "-m", "genofed.cli.main"]
TRAINING_STACK = [sys.executable, "-c", "import torch, opacus, flwr.serverapp, flwr.clientapp"]


def wall_seconds(command: list[str], repeats: int) -> float:
    """Median wall time of `command` in fresh processes (it must succeed)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--site", default="demo/cohorts/rostov", help="a hospital folder to check")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    site = Path(args.site)
    if not (site / "phenotypes.csv").exists():
        raise SystemExit(
            f"{site} has no phenotypes.csv: run `genofed simulate-cohorts --out demo/cohorts` first"
        )
    check = [*GENOFED, "data", "check", "--genotypes", str(site / "genotypes.vcf.gz")]
    check += ["--phenotypes", str(site / "phenotypes.csv")]
    stack = wall_seconds(TRAINING_STACK, args.repeats)
    rows = [
        ("import torch + opacus + flwr", stack),
        ("genofed --help", wall_seconds([*GENOFED, "--help"], args.repeats)),
        ("genofed data check", wall_seconds(check, args.repeats)),
    ]
    print(f"{'command':<30} {'wall s':>7} {'x stack import':>15}")
    for name, seconds in rows:
        print(f"{name:<30} {seconds:>7.2f} {seconds / stack:>15.2f}")
    print(f"target: --help well under the stack import -> {'OK' if rows[1][1] < 0.5 * stack else 'MISSED'}")


if __name__ == "__main__":
    main()
