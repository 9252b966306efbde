"""The covariates' share of a patient's clipped gradient on panels of other sizes.

What it measures: the logistic model's federated DP-SGD as the product runs it by its rule (the
rule's column exponent, lr 1 / (C X_a), clip 1, batch 32, 10 rounds x 2 local epochs, FedAvg,
each site's sigma calibrated to the per-site epsilon at its declared size) with the two
covariate columns (sex, age) scaled two ways, and the plain DP logistic regression reference of
`bench/logistic_rule.py` beside them, on each federation given:

- `fixed`: the rule, c(eps) x X_a / X_2 of the run's own panel, c(eps) =
  sqrt(1 + (COVARIATE_EPSILON / eps)^2): the covariates' scale as tuned on the default panel
  (20,826 variants), carried to the run's column exponent a;
- `share`: c(eps) x X_a / TUNED_ROW_NORM, the default panel's X_2: the same SHARE of the row norm
  as tuned there, on a panel of any size (studied at stop 61, not adopted: docs/models.md "What
  did not help"; equal to `fixed` on the default panel).

Why: with every gradient clipped, a covariate's signal in the score grows with its share of the
row norm, scale / X_a. On the default panel the fixed scale gives sex and age about 10 % of it at
epsilon 2; on a 967-variant panel of real 1000 Genomes genotypes (a walkthrough's federation of
three hospitals, 104-176 training patients, a disease of 6 strong SNPs that sex and age do not
predict) the same scale gave them about 23 %, and the federated model lost to the plain DP
reference by 0.033 / 0.094 AUC at epsilon 8 / 2 on its test cohort.

Scored on the hospitals' pooled VALIDATION patients (how a rule is chosen); --test also scores
the coordinator's test cohort, a check only. Each cell: mean AUC over seeds x noise draws and,
in brackets, the mean paired difference to `fixed` (same seed, split and draw).

    .venv/bin/python bench/covariate_share.py --data demo/cohorts [FOLDER ...]
                                              [--epsilons 1 2 3 8] [--seeds 42 43 44] [--draws 3] [--test]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from covariate_scale import train
from logistic_rule import DELTA, EPOCHS, RATE, ROUNDS, federate
from measure import add_study_options, paired_errors, paired_table, require_federation, scored_cohorts
from sklearn.metrics import roc_auc_score

from genofed.common.data.panel import VariantPanel
from genofed.common.privacy.accountant import calibrate_noise
from genofed.server.training_rule import (
    SCALED_EXPONENT,
    covariate_scale,
    expected_row_norm,
    training_rule,
    variant_exponent,
    variant_variances,
)

FIXED, SHARE, REFERENCE = "fixed", "share", "plain DP reference"
#: X_2 of the panel the covariate scale was tuned on: the default simulated federation's 20,826
#: variants (`genofed simulate-cohorts --out demo/cohorts`), to full precision so that `share`
#: equals `fixed` there.
TUNED_ROW_NORM = 19.065829224410727
ROWS = [FIXED, SHARE, REFERENCE]


def scales(panel: VariantPanel, epsilon: float) -> dict[str, np.ndarray]:
    """The column scale of each design at per-site `epsilon` (module docstring)."""
    exponent = variant_exponent(panel, (), epsilon)
    row_norm = expected_row_norm(panel, exponent=exponent)
    variants = variant_variances(panel) ** (exponent / 2.0)
    c = covariate_scale(epsilon)
    covariates = {
        FIXED: c * row_norm / expected_row_norm(panel, exponent=SCALED_EXPONENT),
        SHARE: c * row_norm / TUNED_ROW_NORM,
    }
    return {name: np.concatenate([variants, [value, value]]) for name, value in covariates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", nargs="+", default=["demo/cohorts"])
    add_study_options(parser, [1.0, 2.0, 3.0, 8.0])
    parser.set_defaults(draws=3)
    parser.add_argument("--test", action="store_true", help="also score the test cohort (a check only)")
    args = parser.parse_args()
    for data in args.data:
        study(data, args)


def study(data: str, args: argparse.Namespace) -> None:
    """Every design on federation folder `data`, then its tables."""
    require_federation(data)
    started = time.perf_counter()
    panel = VariantPanel.load(Path(data) / "panel.tsv")
    cohorts = ["validation", "test"] if args.test else ["validation"]
    aucs: dict[str, dict[tuple[str, float], list[float]]] = {cohort: {} for cohort in cohorts}
    for seed in args.seeds:
        sites, scored = scored_cohorts(data, seed, panel, args.test)
        for epsilon in args.epsilons:
            designs = scales(panel, epsilon)
            lr = training_rule("logistic", panel, (), epsilon).lr
            unscaled = np.ones(len(panel) + 2)
            sigma = calibrate_noise(
                [],
                sample_rate=RATE,
                steps=ROUNDS * EPOCHS * round(1 / RATE),
                target_epsilon=epsilon,
                delta=DELTA,
            )
            for draw in range(args.draws):
                # each design from the same generator state: the same batches and noise draws
                key = [seed, draw, int(epsilon * 10)]
                fitted = {
                    name: (train(sites, scale, epsilon, lr, np.random.default_rng(key)), scale)
                    for name, scale in designs.items()
                }
                reference_lr = 1.0 / expected_row_norm(panel)
                reference = federate(sites, unscaled, sigma, reference_lr, np.random.default_rng([*key, 1]))
                fitted[REFERENCE] = (reference, unscaled)
                for name, (params, scale) in fitted.items():
                    for cohort, (x, y) in scored.items():
                        score = (x.astype(np.float64) * scale) @ params[:-1] + params[-1]
                        aucs[cohort].setdefault((name, epsilon), []).append(float(roc_auc_score(y, score)))
        print(f"{data}, seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    sizes = sorted(d.public_train for d in sites)
    exponent = variant_exponent(panel, (), min(args.epsilons))
    shares = {
        name: float(scale[-1] / expected_row_norm(panel, exponent=exponent))
        for name, scale in scales(panel, min(args.epsilons)).items()
    }
    print(
        f"\n{data}: {len(panel)} variants, declared training sizes {sizes}; {len(args.seeds)} seeds x "
        f"{args.draws} noise draws; a covariate's scale over the row norm at epsilon {min(args.epsilons):g}: "
        + ", ".join(f"{name} {value:.3f}" for name, value in shares.items())
    )
    for cohort in cohorts:
        print(f"\nscored on the {cohort} patients" + (" (a check only)" if cohort == "test" else ""))
        print("\n".join(paired_table(aucs[cohort], ROWS, FIXED, args.epsilons, "design", 18)))
        print(f"standard error of the difference to {FIXED}:")
        print("\n".join(paired_errors(aucs[cohort], ROWS, FIXED, args.epsilons, 18)))


if __name__ == "__main__":
    main()
