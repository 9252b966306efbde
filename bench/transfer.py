"""Benchmark: the transfer-learning experiment's targets.

Runs `genofed experiment transfer` (or, with --reuse, reads an OUT it already finished) and
prints the measured figures next to the targets:

- near-source transfer beats scratch at 200 patients by >= 13 points of accuracy (the paper's
  +13.2) or an equivalent AUC gain (>= 0.10);
- far-source transfer helps less than near-source (the paper's finding);
- federated + near source at epsilon 3 per site within 0.05 AUC of pooled non-private training.

    .venv/bin/python bench/transfer.py [--out runs/transfer] [--reuse] [--small]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genofed.simulations.experiments.transfer.run import TransferConfig, run_transfer_experiment


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="runs/transfer", help="experiment folder (default: runs/transfer)")
    parser.add_argument("--reuse", action="store_true", help="only read OUT/transfer.json")
    parser.add_argument("--small", action="store_true", help="the small configuration (minutes)")
    args = parser.parse_args()
    if args.reuse:
        results = json.loads((Path(args.out) / "transfer.json").read_text())
    else:
        config = TransferConfig.small(args.out) if args.small else TransferConfig(out_dir=args.out)
        results = run_transfer_experiment(config, progress=print)
    print(f"wall time {results['wall_seconds'] / 60:.1f} min (pieces reused from earlier runs are not timed)")
    for name, info in results["sources"].items():
        auc = (info.get("validation") or {}).get("auc")
        print(
            f"source {name}: {info['samples']} people, validation AUC {auc:.3f}, pretrained in "
            f"{info['seconds']} s"
        )
    print(f"{'source':<6} {'patients':>8} {'epsilon':>7} {'mode':<7} {'acc points':>14} {'AUC gain':>15}")
    for g in results["gains"]:
        print(
            f"{g['source']:<6} {g['size']:>8} {str(g['epsilon']):>7} {g['mode']:<7} "
            f"{g['accuracy_points_mean']:>+7.1f} +- {g['accuracy_points_sd'] or 0:>4.1f} "
            f"{g['auc_mean']:>+7.3f} +- {g['auc_sd'] or 0:.3f}"
        )
    targets = results["targets"]
    for entry in targets.get("near_gain_at_200", []):
        print(
            f"target near gain at 200, epsilon {entry['epsilon']} (>= 13 points or >= 0.10 AUC): "
            f"{entry['accuracy_points']:+.1f} points, {entry['auc']:+.3f} AUC -> "
            f"{'met' if entry['met'] else 'MISSED'}"
        )
    for entry in targets.get("far_helps_less_than_near_at_200", []):
        print(
            f"target far < near at 200, epsilon {entry['epsilon']}: AUC gain far {entry['far_auc']:+.3f} vs "
            f"near {entry['near_auc']:+.3f} -> {'met' if entry['met'] else 'MISSED'}"
        )
    for entry in targets.get("federated_near_eps3_within_0.05_of_pooled", []):
        print(
            f"target federated near eps3 ({entry.get('mode')}) within 0.05 of pooled, sites of "
            f"{entry['size']}: {entry['federated_near_eps3_auc']:.3f} vs {entry['pooled_auc']:.3f} -> "
            f"{'met' if entry['met'] else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
