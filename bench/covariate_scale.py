"""The logistic model's covariate scale: how much of each patient's clipping budget sex and age get.

What it measures: the logistic model's federated DP-SGD as the product ran it by its rule when
the covariate scale was chosen (genofed.server.training_rule with the column exponent a = 2:
variant columns scaled by v_j = 2 p_j (1 - p_j), lr = 1 / (C X_2); the rule reads plain dosages
under DP on the whole panel since, with the covariates at c x X_0 / X_2, the same share of the
row norm: bench/column_exponent.py), clip C = 1, batch 32 with Poisson sampling at each site's
declared size, 10 rounds x 2 local epochs, FedAvg, each site's sigma calibrated to the per-site
epsilon), with both covariate columns multiplied by a fixed c, and by the rule's
c = sqrt(1 + (COVARIATE_EPSILON / epsilon)^2).
Scored on the hospitals' pooled VALIDATION patients (how the rule was chosen; never a test
cohort); mean AUC over seeds x noise draws and the paired difference to c = 1 (same seed, split
and noise draw).

Why: with ~20,000 variant columns, two covariates get about 1 % of each patient's clipped
gradient, although alone they score about 0.65 on the default federation. As the noise grows
the variant weights' signal sinks under it, and moving budget to the covariates pays
(docs/models.md "The covariates' share").

The loop is a vectorised float64 copy of the product's (bench/logistic_rule.py for the same loop
at the reference's settings).

    .venv/bin/python bench/covariate_scale.py [--data demo/cohorts] [--scales 1 1.5 2.4 3.6 5]
                                              [--epsilons 1 2 3 5 8] [--seeds 42 43 44] [--draws 2]
                                              [--gene-prior demo/cohorts/known_genes.bed]

--gene-prior BED: the model reads only the panel variants inside the BED's regions, as the
product's `--gene-prior` selects them (its lr from their row norm; the rule's c is 1 there).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from logistic_rule import DELTA, fedavg, site_rows
from measure import bench_settings, paired_table, require_federation
from sklearn.metrics import roc_auc_score

from genofed.common.data.panel import VariantPanel
from genofed.common.privacy.accountant import calibrate_noise, sample_rate, steps_per_epoch
from genofed.server.settings import RunSettings
from genofed.server.start_model import start_model
from genofed.server.training_rule import (
    LOGISTIC_BATCH_SIZE,
    LOGISTIC_LOCAL_EPOCHS,
    LOGISTIC_ROUNDS,
    SCALED_EXPONENT,
    expected_row_norm,
    rule_covariate_scale,
    variant_variances,
)
from genofed.simulations.local.simulate import simulated_sites

RULE = "rule"


def train(
    sites,
    scale: np.ndarray,
    epsilon: float,
    lr: float,
    rng: np.random.Generator,
    columns: list[int] | None = None,
    batch_of: Callable[[int], int] = lambda n: LOGISTIC_BATCH_SIZE,
    *,
    sigma_factor: float = 1.0,
    balanced: bool = False,
) -> np.ndarray:
    """[w, b] of the federation's final model: per-site DP-SGD at the product's rule, FedAvg.
    `columns`: the input columns the model reads (all by default; `scale` is per column read);
    `batch_of`: a site's batch from its declared size (the rule's 32 by default);
    `sigma_factor`: each site's noise multiplier times this (1: calibrated to `epsilon` alone);
    `balanced`: each site's larger class weighted down to the smaller one's count after clipping
    (the site's own class counts: a study, not a DP mechanism)."""
    data, weights = [], []
    for d in sites:
        n = d.public_train  # steps and sampling follow the declared size, as in the product
        rate = sample_rate(n, batch_of(n))
        steps = LOGISTIC_LOCAL_EPOCHS * steps_per_epoch(n, batch_of(n))
        sigma = (
            0.0
            if math.isinf(epsilon)
            else calibrate_noise(
                [], sample_rate=rate, steps=LOGISTIC_ROUNDS * steps, target_epsilon=epsilon, delta=DELTA
            )
        )
        x = d.train_x if columns is None else d.train_x[:, columns]
        data.append(site_rows(x.astype(np.float64) * scale, d.train_y, n, rate, steps, sigma * sigma_factor))
        if balanced:
            share = float(np.mean(d.train_y))
            case, control = min(1.0, (1 - share) / share), min(1.0, share / (1 - share))
            weights.append(np.where(d.train_y == 1, case, control))
    return fedavg(data, np.zeros(len(scale) + 1), lr, rng, LOGISTIC_ROUNDS, weights if balanced else None)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="demo/cohorts")
    parser.add_argument("--scales", nargs="+", type=float, default=[1.0, 1.5, 2.4, 3.6, 5.0])
    parser.add_argument("--epsilons", nargs="+", type=float, default=[1.0, 2.0, 3.0, 5.0, 8.0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument("--draws", type=int, default=2, help="noise draws per seed")
    parser.add_argument("--gene-prior", default="", help="a BED of genes: read only their variants")
    args = parser.parse_args()
    require_federation(args.data)
    started = time.perf_counter()
    panel = VariantPanel.load(Path(args.data) / "panel.tsv")
    # the product's selection of the gene list's variants (empty: the whole panel)
    selected = start_model(RunSettings(model="logistic", gene_prior=args.gene_prior), panel).config.selected
    columns = [*selected, len(panel), len(panel) + 1] if selected else None
    # the rule at a = 2, where c was tuned: lr = 1 / (C X_2); the covariates' c on the whole panel only
    lr = 1.0 / expected_row_norm(panel, selected, exponent=SCALED_EXPONENT)
    variances = variant_variances(panel, selected)  # v_j: the a = 2 scale
    scales: list[float | str] = [*dict.fromkeys([1.0, *args.scales]), RULE]
    aucs: dict[tuple[float | str, float], list[float]] = {}
    for seed in args.seeds:
        sites = list(simulated_sites(bench_settings(data_dir=args.data, seed=seed)).values())
        x_eval = np.concatenate([d.val_x for d in sites]).astype(np.float64)
        x_eval = x_eval if columns is None else x_eval[:, columns]
        y_eval = np.concatenate([d.val_y for d in sites])
        for epsilon in args.epsilons:
            rule_c = rule_covariate_scale(panel, selected, epsilon)
            rule_scale = np.concatenate([variances, [rule_c, rule_c]])
            for c in scales:
                # the product's column scale; a fixed c replaces its covariates' entries
                scale = rule_scale.copy()
                if c != RULE:
                    scale[-2:] = float(c)
                for draw in range(1 if math.isinf(epsilon) else args.draws):
                    # the same draws for every c: differences are paired
                    rng = np.random.default_rng([seed, draw, int(min(epsilon, 1e6) * 10)])
                    params = train(sites, scale, epsilon, lr, rng, columns)
                    score = (x_eval * scale) @ params[:-1] + params[-1]
                    aucs.setdefault((c, epsilon), []).append(float(roc_auc_score(y_eval, score)))
        print(f"seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    print(
        f"{len(args.seeds)} seeds x up to {args.draws} noise draws, scored on the pooled validation patients"
    )
    print("\n".join(paired_table(aucs, scales, 1.0, args.epsilons, "c", 6)))
    rule = ", ".join(f"eps {e:g}: {rule_covariate_scale(panel, selected, e):.2f}" for e in args.epsilons)
    print(f"in brackets: mean paired difference to c = 1; the rule's c: {rule}")


if __name__ == "__main__":
    main()
