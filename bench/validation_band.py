"""Benchmark: the fidelity checks of synthetic-batch validation, fixed limits vs the real-sample band.

A "synthetic" batch made of REAL patients the generator never saw is as good as synthetic data
can be, so a fair check passes it. For each site size n and seed: n patients of the --cohort are
the site, split as `genofed synth` splits them (80 % training, 20 % holdout, stratified), and
as many other patients of the cohort as the site has training patients are the batch. Per
fidelity metric, over the seeds:

- fixed: the batch against the training patients (mean value), with today's fixed target, and
  how many sites pass it;
- band: the batch against the holdout and the real-sample band (`checks.bands`: 20 bootstrap
  samples of as many training patients against the same holdout) of the first seed, and how
  many sites pass it.

Then one `validate_synthetic` call at a hospital's size (--time: its patients split 80/20, a
batch of as many records as patients, each variant drawn independently at the training allele
frequency: right frequencies, no linkage), timed with fixed limits and with the band (the faster
of two runs each), and its band table.

    .venv/bin/python bench/validation_band.py [--cohort demo/cohorts/test] [--sizes 50 100 200]
        [--seeds 10] [--time demo/cohorts/volgograd]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from genofed.client.synth_input import impute_mode
from genofed.common.data.loading import load_site
from genofed.common.synthetic.checks import (
    BANDED_METRICS,
    Thresholds,
    fidelity,
    linkage,
    population_structure,
    real_sample_bands,
    validate_synthetic,
)
from genofed.common.synthetic.pipeline import split_for_generator

TARGETS = Thresholds()
FIXED = {
    "allele_frequency_correlation": TARGETS.af_correlation_min,
    "ld_correlation": TARGETS.ld_correlation_min,
    "pca_mixing": TARGETS.pca_mixing_min,
}


def load(folder: str) -> tuple[np.ndarray, np.ndarray]:
    """A cohort folder's dosages (missing calls imputed as `genofed synth` does) and labels."""
    cohort = load_site(Path(folder) / "genotypes.vcf.gz", Path(folder) / "phenotypes.csv").cohort
    return impute_mode(cohort.dosages), cohort.labels.astype(np.int8)


def vs_training(train: np.ndarray, batch: np.ndarray) -> dict[str, float]:
    """The fidelity metrics as the fixed limits judge them: the batch against the training data."""
    fid = fidelity(real=train, synthetic=batch)
    return {
        "allele_frequency_correlation": fid.af_correlation,
        "genotype_tvd_mean": fid.genotype_tvd_mean,
        "ld_correlation": linkage(real=train, synthetic=batch).ld_correlation,
        "pca_mixing": population_structure(real=train, synthetic=batch).mixing_synthetic,
    }


def site_and_batch(y: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(training, holdout, batch) patient indices: a site of `n` and held-out real patients."""
    order = np.random.default_rng(seed).permutation(len(y))
    site = np.sort(order[:n])
    train, holdout = (site[i] for i in split_for_generator(y[site], seed))
    if n + len(train) > len(y):
        raise SystemExit(f"site size {n}: needs {n + len(train)} patients, the cohort has {len(y)}")
    return train, holdout, np.sort(order[n : n + len(train)])


def compare(g: np.ndarray, y: np.ndarray, n: int, seeds: int) -> None:
    fixed_values: dict[str, list[float]] = {name: [] for name in BANDED_METRICS}
    band_passes = dict.fromkeys(BANDED_METRICS, 0)
    example = None
    for seed in range(seeds):
        train, holdout, batch = site_and_batch(y, n, seed)
        for name, value in vs_training(g[train], g[batch]).items():
            fixed_values[name].append(value)
        bands = real_sample_bands(g[train], g[holdout], g[batch], seed=seed)
        example = example or bands
        for b in bands.metrics:
            band_passes[b.name] += b.passed
    for b in example.metrics:
        values = np.array(fixed_values[b.name])
        target = FIXED.get(b.name)
        fixed = f"{values.mean():.4f} (>= {target:g})" if target else f"{values.mean():.4f} (none)"
        fixed_passes = f"{int((values >= target).sum())}/{seeds}" if target else "-"
        print(
            f"{n:>4} {b.name:<29} {fixed:<18} {fixed_passes:>5}   {b.synthetic:.4f} "
            f"[{b.low:.4f}, {b.high:.4f}] {band_passes[b.name]:>3}/{seeds}"
        )


def timing(folder: str, seed: int = 0) -> None:
    g, y = load(folder)
    train, holdout = split_for_generator(y, seed)
    rng = np.random.default_rng(seed)
    batch = rng.binomial(2, g[train].mean(axis=0) / 2, (len(y), g.shape[1])).astype(np.int8)
    labels = rng.permutation(np.resize(y[train], len(y)))
    for name, t in (("fixed", Thresholds(fidelity_limits="fixed")), ("band", Thresholds())):
        seconds = []
        for _ in range(2):  # the faster of two: the machine may be shared
            start = time.perf_counter()
            report = validate_synthetic(
                g[train], g[holdout], batch, labels_real=y[train], labels_synth=labels, thresholds=t
            )
            seconds.append(time.perf_counter() - start)
        print(
            f"validate_synthetic, {name} fidelity limits: {min(seconds):.1f} s "
            f"({report.n_synthetic} records vs {len(train)} training / {len(holdout)} holdout patients, "
            f"{g.shape[1]} variants)"
        )
    print(report.to_markdown().split("\n\n", 2)[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cohort", default="demo/cohorts/test", help="where sites and batches are drawn")
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 200], help="site sizes")
    parser.add_argument("--seeds", type=int, default=10, help="sites drawn per size (seeds 0, 1, ...)")
    parser.add_argument("--time", default="demo/cohorts/volgograd", help="cohort timed ('' to skip)")
    args = parser.parse_args()
    g, y = load(args.cohort)
    print(f"{args.cohort}: {len(y)} patients, {g.shape[1]} variants; batch = held-out REAL patients")
    print(
        f"{'n':>4} {'metric':<29} {'fixed: vs training':<18} {'pass':>5}   "
        "band: vs holdout [low, high] (seed 0)  pass"
    )
    for n in args.sizes:
        compare(g, y, n, args.seeds)
    if args.time:
        timing(args.time)


if __name__ == "__main__":
    main()
