"""Benchmark: the synthetic-genotype generator on real genomes (issue 5, first figures).

Trains the conditional VAE (no DP) on one half of the 1000 Genomes people (805 SNPs, split by
person with a fixed seed) and validates a synthetic batch of the same size against the other
half, printing the validation table. The labels are random (30 % cases): the association checks
are therefore not meaningful here; fidelity, linkage, structure and privacy are.

    .venv/bin/python bench/synth_1000g.py [--epochs 100] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from genofed.common.synthetic.vae import VAESettings, train_vae
from genofed.common.synthetic.validation import validate_synthetic
from genofed.simulations.real import load_1000g


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pool = load_1000g()
    dosages = pool.haps.sum(axis=2).astype(np.int8)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(dosages))
    train, holdout = order[: len(order) // 2], order[len(order) // 2 :]
    labels = (rng.random(len(dosages)) < 0.3).astype(np.int8)
    started = time.perf_counter()
    vae = train_vae(dosages[train], labels[train], settings=VAESettings(epochs=args.epochs), noise_multiplier=None)
    print(f"trained on {len(train)} people x {dosages.shape[1]} SNPs in {time.perf_counter() - started:.1f} s")
    synthetic = vae.sample(len(holdout), labels=labels[holdout], seed=args.seed + 1)
    report = validate_synthetic(dosages[train], dosages[holdout], synthetic.genotypes, labels_real=labels[train],
                                labels_synth=synthetic.labels, labels_holdout=labels[holdout])
    print(report.to_markdown())


if __name__ == "__main__":
    main()
