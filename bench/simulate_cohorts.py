"""Benchmark: wall time and peak memory of `simulate-cohorts` for each preset.

Target of the cohort simulator: the default preset (about 8 hospitals, 10,000-30,000 variants)
generates in under 2 minutes on a 2-core machine.

    .venv/bin/python bench/simulate_cohorts.py [--presets small default] [--seed 42] [--with-sources]
"""

from __future__ import annotations

import argparse
import tempfile

from measure import run_child

CHILD = r"""
from genofed.simulations.cohorts.build import simulate_cohorts
t0 = time.perf_counter()
result = simulate_cohorts(sys.argv[1], preset=sys.argv[2], seed=int(sys.argv[3]),
                          with_sources=sys.argv[4] == "1")
report(seconds=time.perf_counter() - t0, hospitals=len(result.hospitals),
       patients=sum(h.n for h in result.hospitals), variants=result.n_variants, bayes_auc=result.bayes_auc)
"""

TARGET_SECONDS = {"default": 120.0}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", nargs="+", default=["small", "default", "1000g"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--with-sources", action="store_true", help="also write the transfer-learning source cohorts"
    )
    args = parser.parse_args()
    print(
        f"{'preset':<8} {'hospitals':>9} {'patients':>8} {'variants':>8} {'seconds':>8} {'peak MiB':>8} "
        f"{'Bayes AUC':>9}  target"
    )
    for preset in args.presets:
        with tempfile.TemporaryDirectory() as tmp:
            r = run_child(CHILD, f"{tmp}/fed", preset, str(args.seed), "1" if args.with_sources else "0")
        target = TARGET_SECONDS.get(preset)
        verdict = "" if target is None else f"< {target:.0f} s: {'OK' if r['seconds'] < target else 'MISSED'}"
        print(
            f"{preset:<8} {r['hospitals']:>9} {r['patients']:>8} {r['variants']:>8} {r['seconds']:>8.1f} "
            f"{r['peak_rss_mb']:>8.0f} {r['bayes_auc']:>9.3f}  {verdict}"
        )


if __name__ == "__main__":
    main()
