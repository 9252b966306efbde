"""Benchmark: the synthetic-data utility experiment's targets.

Runs `genofed experiment synthetic-utility` (or, with --reuse, reads an OUT it already finished)
and prints the measured figures next to the targets:

- real + validated synthetic lowers a small site's classification error by at least a third
  (the paper: 18 % -> 11 %, i.e. -39 %, with a cohort enlarged by 38.6 %);
- the spurious-association rate of accepted synthetic data is under 5 % (the paper found 12 %
  of synthetic sequences producing false correlations).

    .venv/bin/python bench/synth_utility.py [--out runs/synth_utility] [--reuse] [--small]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genofed.simulations.experiments.synthetic_utility.run import (
    SynthUtilityConfig,
    run_synth_utility_experiment,
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", default="runs/synth_utility", help="experiment folder (default: runs/synth_utility)"
    )
    parser.add_argument("--reuse", action="store_true", help="only read OUT/synth_utility.json")
    parser.add_argument("--small", action="store_true", help="the small configuration (seconds)")
    args = parser.parse_args()
    if args.reuse:
        results = json.loads((Path(args.out) / "synth_utility.json").read_text())
    else:
        config = SynthUtilityConfig.small(args.out) if args.small else SynthUtilityConfig(out_dir=args.out)
        results = run_synth_utility_experiment(config, progress=print)
    print(f"wall time {results['wall_seconds'] / 60:.1f} min (pieces reused from earlier runs are not timed)")
    print("generators: " + ", ".join(f"{k} {v}" for k, v in results["generators"].items()))
    print(f"majority-class test error {results['test']['majority_error']:.3f}")
    print(
        f"{'arm':<11} {'gen':<4} {'ratio':>5} {'n':>4} {'eps':>4} {'error':>15} {'AUC':>15} {'passed':>7} "
        f"{'rejected':>9} {'spur.acc':>9} {'spur.all':>9}"
    )
    for r in results["table"]:

        def pct(key: str, r: dict = r) -> str:
            return "-" if r.get(key) is None else f"{100 * r[key]:.1f}%"

        print(
            f"{r['arm']:<11} {r['generator']:<4} {r['ratio']:>5g} {r['size']:>4} {str(r['epsilon']):>4} "
            f"{r['error_mean']:.3f} +- {r['error_sd'] or 0:.3f} {r['auc_mean']:.3f} +- "
            f"{r['auc_sd'] or 0:.3f} {pct('pass_rate'):>7} {pct('rejected_share'):>9} "
            f"{pct('spurious_accepted'):>9} {pct('spurious_unfiltered'):>9}"
        )
    targets = results["targets"]
    for t in targets["error_reduction_at_paper_ratio"]:
        print(
            f"target error -1/3 ({t['generator']}, {t['size']} patients, epsilon {t['epsilon']}, ratio "
            f"{t['ratio']:g}): {t['error_real']:.3f} -> {t['error_synthetic']:.3f} (relative change "
            f"{-t['relative_reduction'] + 0.0:+.1%}) -> {'met' if t['met'] else 'MISSED'}"
        )
    print(
        "cells (any ratio, size, privacy, generator) with >= 1/3 lower error: "
        f"{targets['cells_meeting_error_target']} of {targets['cells']}"
    )
    for t in targets["spurious_rate_of_accepted"]:
        rate = (
            "none accepted" if t["spurious_rate_accepted"] is None else f"{t['spurious_rate_accepted']:.1%}"
        )
        verdict = (
            "met" if t["met"] else "MISSED" if t["spurious_rate_accepted"] is not None else "not measurable"
        )
        print(
            f"target spurious < 5% ({t['generator']}, epsilon {t['epsilon']}): accepted {rate} "
            f"({t['accepted_batches']}/{t['batches']} batches), all generated "
            f"{t['spurious_rate_unfiltered']:.1%} -> {verdict}"
        )


if __name__ == "__main__":
    main()
