"""Ancestry from the public reference panel as extra inputs of the DP logistic model: a few columns
that carry what the genotypes say about population, where DP-SGD spreads its noise over none.

What it measures: the logistic model's federated DP-SGD as the product runs it by its rule
(bench/covariate_scale.py `train`, bench/measure.py `rule_scale_and_lr`) on the whole panel
("product"), and the same with K more input columns: each patient's genotype row projected on the
top K principal components of the federation's PUBLIC reference panel (`reference/genotypes.vcf.gz`,
people who are no hospital's patients; dosages centred on the panel's allele frequencies, as the
model's own input), each component scaled to a root mean square of 1 over that panel's people
(about unit variance: the panel's mean is near its frequencies), then by the covariates'
scale of the rule times `--pc-scale` (1: a component gets what sex or age gets). The projection
is a public, fixed map of the genotypes (no patient chooses it), so it costs no privacy; the lr is
the rule's.

Why: the simulated diseases' prevalence differs by population (`truth.json`
`prevalence_by_population`, a `population_offset` in the liability), and the genotypes carry
ancestry, but under DP a linear score over ~20,000 noisy weights recovers that direction poorly;
a handful of components is a low-noise channel for it, as the covariates' scale is for sex and age
(docs/models.md "The covariates' share").

Scored on the hospitals' pooled VALIDATION patients (how a rule is chosen); `--test` also scores
the coordinator's test cohort, as a check only. Each cell: mean AUC over seeds x noise draws and,
in brackets, the mean paired difference to the product (same seed, split and draw index).

    .venv/bin/python bench/ancestry_pcs.py --data FEDERATION [--components 3 5 10] [--pc-scale 1]
                                           [--epsilons 1 3 8] [--seeds 42 43 44] [--draws 2] [--test]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

import numpy as np
from covariate_scale import train
from measure import (
    add_study_options,
    paired_errors,
    paired_table,
    reference_panel,
    require_federation,
    rule_scale_and_lr,
    scored_cohorts,
)
from sklearn.metrics import roc_auc_score

from genofed.common.data.panel import VariantPanel

PRODUCT = "product"


@dataclasses.dataclass(frozen=True)
class Components:
    """The reference panel's principal axes of its dosages centred on the panel's frequencies (rows
    of `axes`, V long) and each one's root mean square over the panel's people (`sd`)."""

    axes: np.ndarray
    sd: np.ndarray

    def project(self, x: np.ndarray, k: int, n_variants: int) -> np.ndarray:
        """The top `k` components of feature rows `x` (centred dosages first, covariates after),
        each of root mean square 1 over the reference panel's people."""
        return x[:, :n_variants].astype(np.float64) @ self.axes[:k].T / self.sd[:k]


def reference_components(data, panel: VariantPanel, k: int) -> Components:
    """The top `k` principal axes of the public reference panel's dosages, centred on the panel's
    allele frequencies (the model's own centring); columns the panel does not cover are 0."""
    reference = reference_panel(data, panel)
    h = reference.haplotypes.astype(np.float64)
    dosages = h[0::2] + h[1::2]
    centred = np.where(reference.covered, dosages - 2.0 * panel.alt_freq, 0.0)
    _, singular, axes = np.linalg.svd(centred, full_matrices=False)
    return Components(axes[:k], singular[:k] / math.sqrt(len(centred)))


def with_components(x: np.ndarray, components: Components, k: int, n_variants: int) -> np.ndarray:
    """`x` (float64) with its `k` component columns appended after the covariates."""
    return np.concatenate([x.astype(np.float64), components.project(x, k, n_variants)], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="demo/cohorts")
    parser.add_argument("--components", nargs="+", type=int, default=[3, 5, 10])
    parser.add_argument("--pc-scale", type=float, default=1.0, help="x the covariates' scale")
    parser.add_argument("--test", action="store_true", help="also score the test cohort (a check only)")
    add_study_options(parser, [1.0, 3.0, 8.0])
    args = parser.parse_args()
    data = require_federation(args.data)
    started = time.perf_counter()
    panel = VariantPanel.load(data / "panel.tsv")
    n_variants = len(panel)
    components = reference_components(data, panel, max(args.components))
    designs = [PRODUCT, *(f"{k} PCs" for k in args.components)]
    cohorts = ["validation", "test"] if args.test else ["validation"]
    aucs: dict[str, dict[tuple[str, float], list[float]]] = {cohort: {} for cohort in cohorts}
    for seed in args.seeds:
        sites, scored = scored_cohorts(str(data), seed, panel, args.test)
        for design, k in ((PRODUCT, 0), *((f"{k} PCs", k) for k in args.components)):
            # each design's inputs once per seed; every epsilon and draw trains on them
            trained_on = [
                dataclasses.replace(d, train_x=with_components(d.train_x, components, k, n_variants))
                for d in sites
            ]
            scored_x = {c: with_components(x, components, k, n_variants) for c, (x, _) in scored.items()}
            for epsilon in args.epsilons:
                scale, lr = rule_scale_and_lr(panel, epsilon)
                design_scale = np.concatenate([scale, np.full(k, scale[-1] * args.pc_scale)])
                for draw in range(1 if math.isinf(epsilon) else args.draws):
                    # the same key for every design: differences are paired
                    rng = np.random.default_rng([seed, draw, int(min(epsilon, 1e6) * 10)])
                    params = train(trained_on, design_scale, epsilon, lr, rng)
                    for cohort in cohorts:
                        score = (scored_x[cohort] * design_scale) @ params[:-1]
                        auc = float(roc_auc_score(scored[cohort][1], score))
                        aucs[cohort].setdefault((design, epsilon), []).append(auc)
        print(f"seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    for cohort in cohorts:
        print(f"\n{len(args.seeds)} seeds x {args.draws} noise draws, scored on the {cohort} patients")
        print("\n".join(paired_table(aucs[cohort], designs, PRODUCT, args.epsilons, "design", 8)))
        print(f"standard error of the difference to {PRODUCT}:")
        print("\n".join(paired_errors(aucs[cohort], designs, PRODUCT, args.epsilons, 8)))


if __name__ == "__main__":
    main()
