"""Pruning the panel by a public reference panel's linkage before DP training: fewer noisy weights.

What it measures: the logistic model's federated DP-SGD as the product runs it by its rule
(bench/covariate_scale.py `train`), on the whole panel ("product") and on LD-pruned sub-panels
read as the product reads any sub-panel (a gene list, a source's top K: the rule's sub-panel
scale and lr, bench/self_selection.py `sub_panel`) and, "panel scale", with the whole panel's
column scale (plain dosages) and lr on the kept columns. A sub-panel keeps, in panel order, each variant
whose squared correlation with every variant already kept within the previous `--window` panel
variants of its chromosome is below the threshold r2 (PLINK's `--indep-pairwise` greedy rule),
measured on the federation's PUBLIC reference panel (`reference/genotypes.vcf.gz`, people who are
no hospital's patients): a selection from public facts, free of privacy cost.

Why: under DP every variant weight carries the same noise, and a linear score sums the noise of all
of them, while linked variants carry much of the same signal. The frontier's noise-free "oracle"
selection of 1,000 variants gained +0.072 at epsilon 3 (bench/self_selection.py); pruning by
public linkage is the selection a coordinator can make without the patients.

Scored on the hospitals' pooled VALIDATION patients (how a rule is chosen; never the test cohort).
Each cell: mean AUC over seeds x noise draws and, in brackets, the mean paired difference to the
product (same seed, split and draw index; the draws differ in what they sample).

    .venv/bin/python bench/ld_pruning.py --data FEDERATION [--r2 0.2 0.5 0.8] [--window 100]
                                         [--epsilons 3 8] [--seeds 42 43 44] [--draws 2]
"""

from __future__ import annotations

import argparse
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
from self_selection import causal_variants, sub_panel
from sklearn.metrics import roc_auc_score

from genofed.common.data.panel import VariantPanel

PRODUCT = "product"


def pruned(haplotypes: np.ndarray, chromosomes: np.ndarray, r2: float, window: int) -> tuple[int, ...]:
    """Greedy LD pruning in panel order: keep a variant unless its r^2 (on the reference
    haplotypes) with a kept variant among the previous `window` panel variants of its chromosome
    reaches `r2`. A column that is monomorphic in the reference is kept (its linkage is unknown)."""
    h = haplotypes.astype(np.float32)
    sd = h.std(axis=0)
    z = np.where(sd > 0, (h - h.mean(axis=0)) / np.where(sd > 0, sd, 1), 0.0).astype(np.float32)
    n = h.shape[0]
    kept: list[int] = []
    for j in range(h.shape[1]):
        if sd[j] == 0:
            kept.append(j)
            continue
        near = [
            k for k in kept[-window:] if k >= j - window and chromosomes[k] == chromosomes[j] and sd[k] > 0
        ]
        if near:
            r = z[:, near].T @ z[:, j] / n
            if float(np.max(r * r)) >= r2:
                continue
        kept.append(j)
    return tuple(kept)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="demo/cohorts")
    parser.add_argument("--r2", nargs="+", type=float, default=[0.2, 0.5, 0.8])
    parser.add_argument("--window", type=int, default=100)
    add_study_options(parser, [3.0, 8.0])
    args = parser.parse_args()
    data = require_federation(args.data)
    started = time.perf_counter()
    panel = VariantPanel.load(data / "panel.tsv")
    reference = reference_panel(data, panel)
    causal = causal_variants(data, panel)
    subsets = {
        f"r2 < {t:g}": pruned(reference.haplotypes, reference.chromosomes, t, args.window) for t in args.r2
    }
    print(
        f"{data}: {len(panel)} variants ({int(causal.sum())} causal), reference {reference.n_haplotypes} "
        f"haplotypes covering {reference.covered.mean():.1%}; window {args.window}"
    )
    for name, kept in subsets.items():
        print(f"  {name}: keeps {len(kept)} variants, {int(causal[list(kept)].sum())} causal")
    designs = [PRODUCT, *subsets, *(f"{name}, panel scale" for name in subsets)]
    aucs: dict[tuple[str, float], list[float]] = {}
    for seed in args.seeds:
        sites, scored = scored_cohorts(str(data), seed, panel, False)
        x_eval, y_eval = scored["validation"]
        x_eval = x_eval.astype(np.float64)
        for epsilon in args.epsilons:
            scale, lr = rule_scale_and_lr(panel, epsilon)
            subs = {name: sub_panel(panel, kept, epsilon) for name, kept in subsets.items()}
            for draw in range(args.draws):
                rng_key = [seed, draw, int(min(epsilon, 1e6) * 10)]
                params = train(sites, scale, epsilon, lr, np.random.default_rng(rng_key))
                score = (x_eval * scale) @ params[:-1]
                aucs.setdefault((PRODUCT, epsilon), []).append(float(roc_auc_score(y_eval, score)))
                for name, sub in subs.items():
                    # the sub-panel rule (scaled columns), and the whole panel's column scale and lr
                    # on the kept columns (plain dosages, as the product reads the whole panel)
                    for label, sub_scale, sub_lr in (
                        (name, sub.scale, sub.lr),
                        (f"{name}, panel scale", scale[sub.columns], lr),
                    ):
                        rng = np.random.default_rng(rng_key)
                        params = train(sites, sub_scale, epsilon, sub_lr, rng, sub.columns)
                        score = (x_eval[:, sub.columns] * sub_scale) @ params[:-1]
                        aucs.setdefault((label, epsilon), []).append(float(roc_auc_score(y_eval, score)))
        print(f"seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    print(f"\n{len(args.seeds)} seeds x {args.draws} noise draws, scored on the pooled validation patients")
    print("\n".join(paired_table(aucs, designs, PRODUCT, args.epsilons, "design", 12)))
    print(f"standard error of the difference to {PRODUCT}:")
    print("\n".join(paired_errors(aucs, designs, PRODUCT, args.epsilons, 12)))


if __name__ == "__main__":
    main()
