"""Benchmark: does a FRESH real sample of the patients' population pass the pca_mixing band?

The band (`checks.bands`) is drawn from bootstrap resamples of the training patients against the
holdout. Here the people of a simulated federation's folders are pooled and split at random, many
times, into training, holdout and fresh people (as many fresh as training); the fresh people are
the "synthetic" batch, as good as a generator can be. Per split: the band's median and low limit
today (centred at min(median, 1)) and as it was before (centred at the median), and whether the
fresh sample passes each. A fair band passes it about 95 % of the time.

    genofed simulate-cohorts --preset small --seed 3 --out fed
    .venv/bin/python bench/pca_mixing_band.py fed [--sizes 80:20 160:40 40:10] [--splits 200]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from genofed.common.data.readers import read_vcf
from genofed.common.synthetic.checks.bands import DEFAULT_QUANTILE, DEFAULT_WIDENING, real_sample_bands


def pooled_people(folder: Path) -> np.ndarray:
    """Every person's dosages in the folder's VCFs (the hospitals and the reference panel), on
    the variants they all share; missing calls as 0."""
    reads = [read_vcf(path) for path in sorted(folder.glob("*/genotypes.vcf.gz"))]
    shared = set(reads[0].variant_ids).intersection(*(r.variant_ids for r in reads[1:]))
    order = [v for v in reads[0].variant_ids if v in shared]
    rows = []
    for r in reads:
        column = {v: j for j, v in enumerate(r.variant_ids)}
        rows.append(np.where(r.dosages < 0, 0, r.dosages)[:, [column[v] for v in order]].astype(np.int8))
    return np.vstack(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--sizes", nargs="+", default=["80:20", "160:40", "40:10"], help="TRAIN:HOLDOUT")
    parser.add_argument("--splits", type=int, default=200)
    args = parser.parse_args()
    people = pooled_people(args.folder)
    print(f"{len(people)} people x {people.shape[1]} variants")
    rng = np.random.default_rng(0)
    for size in args.sizes:
        n_train, n_holdout = (int(v) for v in size.split(":"))
        rows = []
        for split in range(args.splits):
            order = rng.permutation(len(people))
            train, holdout = order[:n_train], order[n_train : n_train + n_holdout]
            fresh = order[n_train + n_holdout : 2 * n_train + n_holdout]
            band = real_sample_bands(people[train], people[holdout], people[fresh], seed=split).band(
                "pca_mixing"
            )
            q_low = float(np.quantile(band.real, DEFAULT_QUANTILE))
            before = band.median - DEFAULT_WIDENING * (band.median - q_low)
            rows.append((band.synthetic, band.median, band.low, before))
        fresh_value, median, low, before = np.array(rows).T
        print(
            f"train {n_train}, holdout {n_holdout}, {args.splits} splits: fresh mixing mean "
            f"{fresh_value.mean():.3f} (sd {fresh_value.std():.3f}), band median mean {median.mean():.3f}; "
            f"before: low > 1 in {np.mean(before > 1):.0%}, "
            f"fresh passes {np.mean(fresh_value >= before):.0%}; "
            f"now: low > 1 in {np.mean(low > 1):.0%}, fresh passes {np.mean(fresh_value >= low):.0%}"
        )


if __name__ == "__main__":
    main()
