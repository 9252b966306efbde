"""Benchmark: `genofed adapt`'s fit in the patients' row space, thin SVD against the Gram matrix.

With more variants than patients `common/scoring/adapt._RowSpace` takes the basis from the
patients' Gram matrix; a thin SVD of the features needed about 6 GiB for 250 patients x 636,471
variants (an array-scale walkthrough). Each way runs in a fresh process (peak RSS is its own) on
the same random features, and the fitted weights are compared.

    .venv/bin/python bench/adapt_row_space.py [--patients 250] [--variants 300000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import numpy as np
from genofed.common.scoring import adapt

n, p, way, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
rng = np.random.default_rng(0)
x = (rng.binomial(2, 0.3, (n, p)) - 0.6).astype(np.float32)
y = rng.integers(0, 2, n)
shared = rng.normal(0, 0.01, p)
if way == "svd":  # the row space as it was taken before
    class ThinSvd:
        def __init__(self, x):
            u, s, vt = np.linalg.svd(x, full_matrices=False)
            self.coords, self.basis = u * s, vt
    adapt._RowSpace = ThinSvd
started = time.perf_counter()
weight, bias, a = adapt.fit_adaptation(shared, 0.1, x, y)
np.save(out, weight)
print(json.dumps({"seconds": time.perf_counter() - started,
                  "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=250)
    parser.add_argument("--variants", type=int, default=300_000)
    args = parser.parse_args()
    import tempfile

    import numpy as np

    with tempfile.TemporaryDirectory() as folder:
        figures, weights = {}, {}
        for way in ("svd", "gram"):
            out = f"{folder}/{way}.npy"
            run = subprocess.run(
                [sys.executable, "-c", CHILD, str(args.patients), str(args.variants), way, out],
                capture_output=True,
                text=True,
                check=True,
            )
            figures[way] = json.loads(run.stdout.strip().splitlines()[-1])
            weights[way] = np.load(out)
    print(f"{args.patients} patients x {args.variants:,} variants")
    for way, name in (("svd", "thin SVD"), ("gram", "Gram matrix")):
        print(f"{name:12s} {figures[way]['seconds']:6.1f} s   peak {figures[way]['peak_gib']:.2f} GiB")
    ratio = figures["svd"]["seconds"] / figures["gram"]["seconds"]
    difference = float(np.abs(weights["svd"] - weights["gram"]).max())
    print(f"Gram / SVD: {1 / ratio:.2f}x the time; largest weight difference {difference:.1e}")


if __name__ == "__main__":
    main()
