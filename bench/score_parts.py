"""What the logistic model's score is made of under DP: its covariate part against its genotype part.

What it measures: the logistic model trained as the product trains it by its rule (the vectorised
loop of `bench/covariate_scale.py`: column scale with the covariates' share, clip C = 1, batch 32,
10 rounds x 2 local epochs, FedAvg, each site's sigma calibrated to the per-site epsilon), its final
score split into the covariate part (sex, age) and the genotype part (every variant), each scored
alone on the hospitals' pooled VALIDATION patients (never a test cohort), and the score
a x genotype part + covariate part for a few a: the best a is an ORACLE read off the validation
patients, not a rule (choosing it on patients would spend privacy). Mean over seeds x noise draws;
also the covariates' mean weights, in units of their encoded columns.

Why: under DP the genotype part carries the noise of ~20,000 weights and the covariate weights are
learnt from a small share of each patient's clipped gradient. How the two parts balance decides
much of the AUC, and the best balance differs between federations (docs/models.md "The score's two
parts").

    .venv/bin/python bench/score_parts.py [--data demo/cohorts] [--epsilons 3 8 inf]
                                          [--seeds 42 43 44] [--draws 2]
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path

import numpy as np
from covariate_scale import train
from measure import parse_study, rule_scale_and_lr, study_sites
from sklearn.metrics import roc_auc_score

from genofed.common.data.panel import VariantPanel

#: The genotype part's multipliers tried (1: the score as trained).
MULTIPLIERS = (1.0, 0.5, 0.3, 0.2, 0.1)
COLUMNS = ("whole", "covariates", "genotypes", *(f"a={a:g}" for a in MULTIPLIERS[1:]))


def parts(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    """AUCs of the whole score, each part alone and a x genotypes + covariates, on rows `x`
    (scaled features, the two covariates last) with labels `y`; `weights` without the bias."""
    genotypes, covariates = x[:, :-2] @ weights[:-2], x[:, -2:] @ weights[-2:]
    aucs = {
        "whole": roc_auc_score(y, genotypes + covariates),
        "covariates": roc_auc_score(y, covariates),
        "genotypes": roc_auc_score(y, genotypes),
    }
    aucs.update({f"a={a:g}": roc_auc_score(y, a * genotypes + covariates) for a in MULTIPLIERS[1:]})
    return {name: float(auc) for name, auc in aucs.items()}


def main() -> None:
    args = parse_study(__doc__, epsilons=[3.0, 8.0, math.inf])
    started = time.perf_counter()
    panel = VariantPanel.load(Path(args.data) / "panel.tsv")
    cells: dict[float, list[dict[str, float]]] = {}
    covariate_weights: dict[float, list[np.ndarray]] = {}
    for seed in args.seeds:
        sites, x_eval, y_eval = study_sites(args.data, seed)
        for epsilon in args.epsilons:
            scale, lr = rule_scale_and_lr(panel, epsilon)
            for draw in range(1 if math.isinf(epsilon) else args.draws):
                rng = np.random.default_rng([seed, draw, int(min(epsilon, 1e6) * 10)])
                weights = train(sites, scale, epsilon, lr, rng)[:-1] * scale
                cells.setdefault(epsilon, []).append(parts(x_eval, y_eval, weights))
                covariate_weights.setdefault(epsilon, []).append(weights[-2:])
        print(f"seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    print(
        f"{len(args.seeds)} seeds x up to {args.draws} noise draws, scored on the pooled validation "
        "patients; a = the genotype part's multiplier (an oracle on these patients, not a rule)"
    )
    print(f"{'eps':>5} " + " ".join(f"{c:>10}" for c in COLUMNS) + "   sex, age weights")
    for epsilon in args.epsilons:
        means = [statistics.mean(cell[c] for cell in cells[epsilon]) for c in COLUMNS]
        sex, age = np.mean(covariate_weights[epsilon], axis=0)
        print(f"{epsilon:>5g} " + " ".join(f"{m:>10.3f}" for m in means) + f"   {sex:+.3f}, {age:+.3f}")


if __name__ == "__main__":
    main()
