"""The logistic model's variant weighting with the covariates' share held fixed.

What it measures: the logistic model's federated DP-SGD as the product runs it by its rule
(bench/covariate_scale.py `train`: clip 1, batch 32 with Poisson sampling at each site's declared
size, 10 rounds x 2 local epochs, FedAvg, each site's sigma calibrated to the per-site epsilon),
with every variant column j scaled by v_j^(a/2), v_j = 2 p_j (1 - p_j) from the panel's allele
frequencies, for several exponents a (a = 2: the scale the rule's covariate scale was tuned
with; a = 0: the encoded dosages), each with lr = 1 / (C X_a), X_a = sqrt(sum_j v_j^(1 + a)), the
expected norm of a scaled, mean-centred genotype row. The covariates (sex, age) get the rule's
c(epsilon) x X_a / X_2, so they keep the share of each patient's clipped gradient they were tuned
at: only the weighting among the variants changes. With --gene-prior the model reads only the
panel variants inside the BED's regions, as the product's `--gene-prior` selects them (the rule's
c is 1 there; X_a over the variants read). At the rule's own exponent (genofed.server.training_rule
`variant_exponent`: 0 from scratch under DP on the whole panel, 2 on a sub-panel) a row is the
product's.

Why: bench/logistic_rule.py chose a = 2 on the plain reference's loop, where the covariates are
not scaled; there a larger a also gives the covariates a larger share (X_a shrinks as a grows).
Since the rule scales the covariates on its own (bench/covariate_scale.py), this study asked
whether a = 2 still pays once their share is held fixed; it did not on the whole panel, and the
rule reads plain dosages there since. Standardised dosages (a = -1, `--exponents -1 0 1`) did
better still on the default federation but lost on a disease of strong common variants
(`--data` a federation of bench/architectures.py), so the rule stays at a = 0 (docs/models.md
"The variants' weighting at a fixed covariate share").

Scored on the hospitals' pooled VALIDATION patients (how the rule is chosen). --test also scores
the coordinator's test cohort, to read as a check only. Each cell: mean AUC over seeds x noise
draws, the mean paired difference to a = 2 (same seed, split and noise draw) in brackets, and
that difference's standard error over the pairs.

    .venv/bin/python bench/column_exponent.py [--data demo/cohorts] [--exponents 0 1 2]
                                              [--epsilons 1 3 8] [--seeds 42 43 44] [--draws 2]
                                              [--test] [--gene-prior demo/cohorts/known_genes.bed]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
from covariate_scale import train
from measure import add_study_options, paired_errors, paired_table, require_federation, scored_cohorts
from sklearn.metrics import roc_auc_score

from genofed.common.data.panel import VariantPanel
from genofed.server.settings import RunSettings
from genofed.server.start_model import start_model
from genofed.server.training_rule import SCALED_EXPONENT, rule_covariate_scale, variant_variances

#: The exponent the covariate scale c was tuned with, and every difference's baseline.
REFERENCE_EXPONENT = SCALED_EXPONENT


def row_norm(variances: np.ndarray, exponent: float) -> float:
    """X_a = sqrt(sum_j v_j^(1 + a)): the expected norm of a mean-centred row scaled by v^(a/2)."""
    return math.sqrt(float(np.sum(variances ** (1.0 + exponent))))


def matched_scale(variances: np.ndarray, exponent: float, rule_c: float) -> np.ndarray:
    """Columns v_j^(a/2) of the variants read, then the two covariates at the rule's c x X_a / X_2."""
    share = row_norm(variances, exponent) / row_norm(variances, REFERENCE_EXPONENT)
    return np.concatenate([variances ** (exponent / 2.0), np.full(2, rule_c * share)])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="demo/cohorts")
    parser.add_argument("--exponents", nargs="+", type=float, default=[0.0, 1.0, 2.0])
    add_study_options(parser, [1.0, 3.0, 8.0])
    parser.add_argument("--test", action="store_true", help="also score the test cohort (a check only)")
    parser.add_argument("--gene-prior", default="", help="a BED of genes: read only their variants")
    args = parser.parse_args()
    require_federation(args.data)
    started = time.perf_counter()
    panel = VariantPanel.load(Path(args.data) / "panel.tsv")
    # the product's selection of the gene list's variants (empty: the whole panel)
    selected = start_model(RunSettings(model="logistic", gene_prior=args.gene_prior), panel).config.selected
    columns = [*selected, len(panel), len(panel) + 1] if selected else None
    variances = variant_variances(panel, selected)
    exponents = list(dict.fromkeys([*args.exponents, REFERENCE_EXPONENT]))
    cohorts = ["validation", "test"] if args.test else ["validation"]
    aucs: dict[str, dict[tuple[float, float], list[float]]] = {cohort: {} for cohort in cohorts}
    for seed in args.seeds:
        sites, scored = scored_cohorts(args.data, seed, panel, args.test)
        for epsilon in args.epsilons:
            rule_c = rule_covariate_scale(panel, selected, epsilon)
            for a in exponents:
                scale = matched_scale(variances, a, rule_c)
                lr = 1.0 / row_norm(variances, a)
                for draw in range(1 if math.isinf(epsilon) else args.draws):
                    # the same draws for every exponent: differences are paired
                    rng = np.random.default_rng([seed, draw, int(min(epsilon, 1e6) * 10)])
                    params = train(sites, scale, epsilon, lr, rng, columns)
                    for cohort, (x, y) in scored.items():
                        read = x if columns is None else x[:, columns]
                        score = (read.astype(np.float64) * scale) @ params[:-1] + params[-1]
                        aucs[cohort].setdefault((a, epsilon), []).append(float(roc_auc_score(y, score)))
        print(f"seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    norms = ", ".join(f"X_{a:g} = {row_norm(variances, a):.1f}" for a in exponents)
    print(f"{len(args.seeds)} seeds x up to {args.draws} noise draws; {norms}")
    for cohort in cohorts:
        print(f"\nscored on the {cohort} patients" + (" (a check only)" if cohort == "test" else ""))
        print("\n".join(paired_table(aucs[cohort], exponents, REFERENCE_EXPONENT, args.epsilons, "a", 6)))
        print("standard error of the paired difference to a = 2:")
        print("\n".join(paired_errors(aucs[cohort], exponents, REFERENCE_EXPONENT, args.epsilons, 6)))


if __name__ == "__main__":
    main()
