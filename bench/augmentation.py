"""Benchmark: the genotype-augmentation experiment's targets.

Runs `genofed experiment augmentation` (or, with --reuse, reads an OUT it already finished) and
prints the measured figures next to the targets:

- the best augmentation raises a 100-patient site's test AUC by at least +0.05 on the default
  disease without DP (the paper: 0.71 -> 0.82);
- robustness: that augmentation's AUC gain over no augmentation on a test cohort with injected
  genotyping error (5 % miscalls) is positive (by more than one standard error over seeds);
- no loss of the privacy guarantee: for every DP arm the noise multiplier and epsilon equal
  those of the "none" arm at the same site size and seed (asserted here, not only printed).

    .venv/bin/python bench/augmentation.py [--out runs/augment] [--reuse] [--small]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from genofed.simulations.experiments.augmentation.config import TARGET_GAIN, AugmentConfig
from genofed.simulations.experiments.augmentation.run import run_augment_experiment


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="runs/augment", help="experiment folder (default: runs/augment)")
    parser.add_argument("--reuse", action="store_true", help="only read OUT/augment.json")
    parser.add_argument("--small", action="store_true", help="the small configuration (seconds)")
    args = parser.parse_args()
    if args.reuse:
        results = json.loads((Path(args.out) / "augment.json").read_text())
    else:
        config = AugmentConfig.small(args.out) if args.small else AugmentConfig(out_dir=args.out)
        results = run_augment_experiment(config, progress=print)
    config = results["config"]
    print(
        f"preset {config['preset']}, {results['variants']} variants, sizes {config['sizes']}, seeds "
        f"{config['seeds']}; wall time {results['wall_seconds'] / 60:.1f} min (pieces reused from earlier "
        "runs are not timed)"
    )
    rates = config["error_rates"]
    print(
        f"{'arm':<21} {'size':>4} {'eps':>4} {'AUC':>15} "
        + " ".join(f"{f'AUC {100 * r:g}% err':>15}" for r in rates)
        + f" {'sigma':>6} {'epsilon':>7}"
    )
    for r in results["table"]:
        if r["status"] != "ok":
            print(f"{r['arm']:<21} {r['size']:>4} {str(r['epsilon']):>4} {r['status']:>15}")
            continue
        cells = " ".join(f"{_pm(r.get(f'auc_err{x:g}_mean'), r.get(f'auc_err{x:g}_sd')):>15}" for x in rates)
        sigma = "-" if r.get("noise_multiplier") is None else f"{r['noise_multiplier']:.3f}"
        spent = "-" if r.get("epsilon_spent") is None else f"{r['epsilon_spent']:.3f}"
        print(
            f"{r['arm']:<21} {r['size']:>4} {str(r['epsilon']):>4} {_pm(r['auc_mean'], r['auc_sd']):>15} "
            f"{cells} {sigma:>6} {spent:>7}"
        )
    targets = results["targets"]
    gain, robust, privacy = targets["gain"], targets["robustness"], targets["privacy"]
    if gain["best_arm"] is not None:
        print(
            f"target +{TARGET_GAIN:.2f} AUC at {gain['size']} patients, no DP: best augmentation "
            f"{gain['best_arm']} {gain['gain']:+.3f} AUC -> {'met' if gain['met'] else 'MISSED'}"
        )
    if robust["gain"] is not None:
        print(
            f"target robustness ({gain['best_arm']}, {100 * robust['error_rate']:g} % miscalls): "
            f"{robust['gain']:+.3f} AUC over none -> "
            + {None: "not measurable with one seed", True: "met", False: "MISSED"}[robust["met"]]
        )
    _assert_privacy(results)
    if privacy["met"] is not None:
        print(
            f"target privacy unchanged: {privacy['dp_arms_checked']} DP arm runs, noise multiplier and "
            f"epsilon equal to none's -> {'met' if privacy['met'] else 'MISSED'}"
        )


def _assert_privacy(results: dict) -> None:
    """Every DP arm's noise multiplier and spent epsilon equal the "none" arm's at the same cell."""
    rows = [
        r
        for r in results["rows"]
        if r["status"] == "ok" and r["epsilon"] != "inf" and r.get("noise_multiplier") is not None
    ]
    none = {(r["size"], r["seed"], r["epsilon"], r["site"]): r for r in rows if r["arm"] == "none"}
    for r in rows:
        ref = none[(r["size"], r["seed"], r["epsilon"], r["site"])]
        assert math.isclose(r["noise_multiplier"], ref["noise_multiplier"], rel_tol=1e-9), r
        assert math.isclose(r["epsilon_spent"], ref["epsilon_spent"], rel_tol=1e-9), r
        assert r["epsilon_spent"] <= float(r["epsilon"]) * (1 + 1e-6), r


def _pm(mean: float | None, sd: float | None) -> str:
    if mean is None:
        return "-"
    return f"{mean:.3f}" + (f" +- {sd:.3f}" if sd is not None else "")


if __name__ == "__main__":
    main()
