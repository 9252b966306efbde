"""Benchmark: load a 1,000-sample x 100,000-variant bgzipped VCF; print time and peak memory.

Target of the VCF reader: well under 2 GB. Each measurement runs in a fresh process so peak RSS
(VmHWM) is the reader's, not the generator's; a process that only imports genofed is the baseline.

    .venv/bin/python bench/load_vcf.py [--samples 1000] [--variants 100000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from measure import run_child

CHILD = r"""
from genofed.common.data.readers import read_genotypes
t0 = time.perf_counter()
matrix = read_genotypes(sys.argv[1]) if len(sys.argv) > 1 else None
report(seconds=time.perf_counter() - t0, shape=list(matrix.dosages.shape) if matrix is not None else None)
"""


def make_vcf(path: Path, n_samples: int, n_variants: int, seed: int) -> None:
    from genofed.common.data.writers import write_vcf

    rng = np.random.default_rng(seed)
    freq = rng.beta(0.5, 2.0, n_variants).clip(0.005, 0.995)
    dosages = rng.binomial(2, freq, size=(n_samples, n_variants)).astype(np.int8)
    dosages[rng.random(dosages.shape) < 0.01] = -1  # 1 % missing calls
    positions = np.sort(rng.choice(np.arange(10_000, 200_000_000), n_variants, replace=False))
    ids = [f"1:{p}:A:G" for p in positions]
    write_vcf(path, dosages, [f"S{i:05d}" for i in range(n_samples)], ids)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--variants", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="write the VCF here instead of a temporary dir")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = (args.keep or Path(tmp)) / f"bench_{args.samples}x{args.variants}.vcf.gz"
        t0 = time.perf_counter()
        make_vcf(path, args.samples, args.variants, args.seed)
        write_s = time.perf_counter() - t0
        baseline = run_child(CHILD)
        loaded = run_child(CHILD, str(path))
        size_mb = path.stat().st_size / 2**20

    matrix_mb = args.samples * args.variants / 2**20
    print(
        f"VCF.gz: {args.samples} samples x {args.variants} variants, {size_mb:.1f} MiB on disk (written in "
        f"{write_s:.1f} s)"
    )
    print(
        f"load time:        {loaded['seconds']:.1f} s  ({args.variants / loaded['seconds']:,.0f} variants/s)"
    )
    print(
        f"peak RSS:         {loaded['peak_rss_mb']:.0f} MiB  (import-only baseline "
        f"{baseline['peak_rss_mb']:.0f} MiB)"
    )
    print(
        f"reader overhead:  {loaded['peak_rss_mb'] - baseline['peak_rss_mb']:.0f} MiB for a {matrix_mb:.0f} "
        "MiB int8 matrix"
    )
    print(
        f"target:           peak well under 2048 MiB -> {'OK' if loaded['peak_rss_mb'] < 2048 else 'MISSED'}"
    )
    assert loaded["shape"] == [args.samples, args.variants], loaded["shape"]


if __name__ == "__main__":
    main()
