"""Benchmark: our synthetic-genotype generators on real genomes, against the synthetic-data targets.

Runs `genofed experiment synthetic-fidelity` (or reuses a finished OUT: its generator runs are
cached under OUT/pieces) and prints, per row of the table, the figures next to the targets:
allele-frequency correlation >= 0.99, LD correlation >= 0.95, AATS(train) in [0.45, 0.55],
privacy loss < 0.03, zero exact copies, membership-inference AUC <= 0.55.

    .venv/bin/python bench/synth_1000g.py [--out runs/synth_fidelity] [--small] [--reuse]

--reuse only reads OUT/synth_fidelity.json (no training at all).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from genofed.simulations.experiments.synthetic_fidelity.report import summary_lines
from genofed.simulations.experiments.synthetic_fidelity.run import FidelityConfig, run_fidelity_experiment


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", default="runs/synth_fidelity", help="experiment folder (default: runs/synth_fidelity)"
    )
    parser.add_argument("--small", action="store_true", help="the seconds-scale configuration")
    parser.add_argument(
        "--reuse", action="store_true", help="print OUT/synth_fidelity.json without running anything"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    if args.reuse:
        path = Path(args.out) / "synth_fidelity.json"
        if not path.is_file():
            sys.exit(f"{path} does not exist: run without --reuse first")
        results = json.loads(path.read_text())
    else:
        config = FidelityConfig.small(args.out) if args.small else FidelityConfig(out_dir=args.out)
        results = run_fidelity_experiment(
            config, lambda m: print(f"[{time.perf_counter() - started:6.1f}s] {m}", file=sys.stderr)
        )
    print(
        f"{args.out}/report.md: experiment wall time {results['wall_seconds'] / 60:.1f} min "
        f"(this call {time.perf_counter() - started:.0f} s)"
    )
    t = results["targets"]
    print(
        f"targets: AF >= {t['af_correlation_min']}, LD >= {t['ld_correlation_min']}, AATS(train) in "
        f"[{t['aats_low']}, {t['aats_high']}], privacy loss < {t['privacy_loss_max']}, exact copies = 0, MIA "
        f"AUC <= {t['mia_auc_max']}"
    )
    for line in summary_lines(results):
        print(line)


if __name__ == "__main__":
    main()
