"""Benchmark: where a DP reference batch's population structure is lost, on the panel's variants
or on the site's variants the panel lacks.

The site's patients are split at random (80 % training), the reference generator is trained on the
training patients at each --epsilon (seeded noise, --reps draws) and samples as many records as
the site has patients; per draw: pca_mixing (`population_structure`, the training patients vs the
records) on every variant, on the panel's covered variants and on the uncovered ones, and the
allele-frequency correlation on each part.

    .venv/bin/python bench/reference_structure_split.py --genotypes SITE.bed --phenotypes pheno.csv \\
        --reference PANEL.vcf.gz --populations samples.tsv [--epsilon 1 3] [--reps 6]
"""

from __future__ import annotations

import argparse

import numpy as np

from genofed.common.data.loading import load_site
from genofed.common.synthetic.checks.structure import population_structure
from genofed.common.synthetic.reference import ReferenceSettings, reference_noise_for_budget, train_reference
from genofed.common.synthetic.reference_panel import load_reference_panel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genotypes", required=True)
    parser.add_argument("--phenotypes", required=True)
    parser.add_argument("--reference", required=True)
    parser.add_argument("--populations", default=None)
    parser.add_argument("--epsilon", type=float, nargs="+", default=[1.0, 3.0])
    parser.add_argument("--reps", type=int, default=6)
    args = parser.parse_args()
    site = load_site(args.genotypes, args.phenotypes).cohort
    x = np.where(site.dosages < 0, 0, site.dosages).astype(np.int8)
    y = site.labels.astype(np.int8)
    panel = load_reference_panel(args.reference, site.variant_ids, populations=args.populations)
    covered = panel.covered
    train = np.random.default_rng(0).permutation(len(y))[: int(0.8 * len(y))]
    print(f"{len(y)} patients, {x.shape[1]} variants, {int((~covered).sum())} outside the panel")
    for epsilon in [None, *args.epsilon]:
        sigma = None if epsilon is None else reference_noise_for_budget(epsilon=epsilon, delta=1e-5)
        rows = []
        for rep in range(args.reps):
            generator = train_reference(
                x[train],
                y[train],
                reference=panel,
                settings=ReferenceSettings(),
                noise_multiplier=sigma,
                noise_rng=np.random.default_rng(rep),
            )
            records = generator.sample(len(y), seed=rep).genotypes
            real = x[train]
            mixing = [
                population_structure(real=real[:, part], synthetic=records[:, part]).mixing_synthetic
                for part in (slice(None), covered, ~covered)
            ]
            f_real, f_syn = real.mean(axis=0) / 2, records.mean(axis=0) / 2
            r = [np.corrcoef(f_real[part], f_syn[part])[0, 1] for part in (covered, ~covered)]
            rows.append([*mixing, *r])
        m = np.mean(rows, axis=0)
        print(
            f"epsilon {epsilon if epsilon is not None else 'none (no DP)'}: pca_mixing all {m[0]:.2f}, "
            f"covered {m[1]:.2f}, uncovered {m[2]:.2f}; allele-frequency r covered {m[3]:.2f}, "
            f"uncovered {m[4]:.2f} (mean of {args.reps})"
        )


if __name__ == "__main__":
    main()
