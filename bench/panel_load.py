"""Benchmark: read and check a genome-wide array's panel (`VariantPanel.load`); print the time.

Every process of a run loads the panel (`genofed simulate`'s driver, its ServerApp, each hospital's
ClientApp, `predict`, `data check --panel`): an array-scale walkthrough (650,000 variants per
hospital, a 636,471-variant panel) found one load took 48 s, 86 % of a hospital's start-up, in
pandas' per-cell reads of the checking loop.

    .venv/bin/python bench/panel_load.py [--variants 636471]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from measure import array_positions

from genofed.common.data.panel import VariantPanel


def write_panel(path: Path, n_variants: int, seed: int = 0) -> None:
    """A panel as `genofed coordinator panel` writes one: 22 chromosomes in order, sorted positions."""
    rng = np.random.default_rng(seed)
    chroms, positions = array_positions(rng, n_variants)
    bases = np.array(list("ACGT"))
    ref = bases[rng.integers(0, 4, n_variants)]
    alt = bases[(np.searchsorted(bases, ref) + rng.integers(1, 4, n_variants)) % 4]
    frame = pd.DataFrame(
        {
            "id": [f"{c}:{p}:{r}:{a}" for c, p, r, a in zip(chroms, positions, ref, alt, strict=True)],
            "chrom": chroms,
            "pos": positions,
            "ref": ref,
            "alt": alt,
            "alt_freq": rng.beta(0.5, 2.0, n_variants).round(4),
        }
    )
    frame.to_csv(path, sep="\t", index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=636_471)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "panel.tsv"
        write_panel(path, args.variants)
        started = time.perf_counter()
        panel = VariantPanel.load(path)
        seconds = time.perf_counter() - started
    print(f"panel of {len(panel):,} variants: loaded and checked in {seconds:.1f} s")


if __name__ == "__main__":
    main()
