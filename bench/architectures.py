"""Does the logistic model's rule hold on diseases of another genetic architecture? (A robustness
check of a rule chosen on one federation; kept as evidence of where it holds and where not.)

The logistic rule (docs/models.md "Training settings from public facts") was chosen on the default
federation, whose disease is 100 common variants of small effect plus 5 rare ones: pooled logistic
regression reaches about 0.8 there. A real rare disease may be driven by a few strong variants,
common or rare, where the pooled regression reaches 0.9 or more. This script simulates two such
federations with the `heldout` preset's six clinics (60-220 patients) and genome, changing only the
disease (`genofed simulate-cohorts` machinery, kept in OUT):

- `strong-common`: 20 common causal variants carrying 70 % of the liability's variance (seed 11);
- `strong-rare`: 20 rare variants (alternate-allele frequency 0.5-3 %) of 2 liability SDs per
  allele plus 50 common ones (seed 12);

and on each (and on any federation folder given with --data) compares, on the hospitals' pooled
VALIDATION patients (never a test cohort; 3 seeds x --draws noise draws, paired by seed and draw):

- `rule`: the product's loop and rule (`bench/covariate_scale.py`'s vectorised copy: under DP plain
  dosages with the covariates at c x X_0 / X_2, without DP columns scaled by v_j = 2 p_j (1 - p_j);
  batch 32 at each declared size, lr 1 / (C X_a));
- `rule, unscaled columns`: every variant column left at 1 (a = 0 in `bench/logistic_rule.py`), the
  covariates at the rule's c (not c x X_0 / X_2: a smaller share than the rule's), lr 1 / (C X_0);
- `rule at rate 1/2`: the rule's columns and lr with the reference's Poisson rate 1/2 (4 steps a
  round instead of about n / 16);
- `plain DP reference`: the privacy-frontier experiment's plain DP logistic regression loop
  (unscaled columns, rate 1/2, clip 1, `bench/logistic_rule.py`'s `federate`);

and prints the pooled non-private logistic regression's validation AUC as the ceiling. Result and
reading: docs/models.md "Other disease architectures".

    .venv/bin/python bench/architectures.py [--out runs/architectures] [--data FEDERATION ...]
                                            [--epsilons 1 3 8 inf] [--seeds 42 43 44] [--draws 4]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from covariate_scale import train
from logistic_rule import DELTA, EPOCHS, RATE, ROUNDS, federate
from measure import add_study_options, paired_table, rule_scale_and_lr, study_sites
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from genofed.common.data.panel import VariantPanel
from genofed.common.privacy.accountant import calibrate_noise
from genofed.server.training_rule import covariate_scale, expected_row_norm
from genofed.simulations.cohorts.build import simulate_cohorts
from genofed.simulations.cohorts.presets import HELDOUT

#: The simulated architectures: the heldout preset's clinics with another disease, and the seed.
ARCHITECTURES = {
    "strong-common": (replace(HELDOUT.disease, n_rare=0, n_common=20, polygenic_variance=0.7), 11),
    "strong-rare": (
        replace(HELDOUT.disease, n_rare=20, n_common=50, rare_effect=2.0, rare_freq_range=(0.005, 0.03)),
        12,
    ),
}
DESIGNS = ("rule", "rule, unscaled columns", "rule at rate 1/2", "plain DP reference")


def federation(out: Path, name: str) -> Path:
    """OUT/<name>: the simulated federation of architecture `name`, simulated once and reused."""
    folder = out / name
    if not (folder / "panel.tsv").exists():
        disease, seed = ARCHITECTURES[name]
        preset = replace(HELDOUT, name=name, disease=disease, sources=None)
        print(f"simulating {name} into {folder} (about 2 minutes)", flush=True)
        simulate_cohorts(folder, preset=preset, seed=seed, overwrite=True)
    return folder


def study(data: Path, epsilons: list[float], seeds: list[int], draws: int) -> None:
    """Print one federation's table (module docstring)."""
    started = time.perf_counter()
    panel = VariantPanel.load(data / "panel.tsv")
    plain_lr = 1.0 / expected_row_norm(panel)  # the reference's lr: 1 / (C X) on unscaled columns
    unscaled = np.ones(len(panel) + 2)
    aucs: dict[tuple[str, float], list[float]] = {}
    pooled = []
    for seed in seeds:
        sites, x_eval, y_eval = study_sites(str(data), seed)
        x_train = np.concatenate([d.train_x for d in sites]).astype(np.float64)
        y_train = np.concatenate([d.train_y for d in sites])
        ceiling = LogisticRegression(C=1.0, max_iter=2000).fit(x_train, y_train)
        pooled.append(roc_auc_score(y_eval, ceiling.decision_function(x_eval)))
        for index, epsilon in enumerate(epsilons):
            scale, rule_lr = rule_scale_and_lr(panel, epsilon)
            scale_a0 = unscaled.copy()
            scale_a0[-2:] = covariate_scale(epsilon)
            sigma_half = (
                0.0
                if math.isinf(epsilon)
                else calibrate_noise(
                    [],
                    sample_rate=RATE,
                    steps=ROUNDS * EPOCHS * round(1 / RATE),
                    target_epsilon=epsilon,
                    delta=DELTA,
                )
            )
            for draw in range(1 if math.isinf(epsilon) else draws):
                key = [seed, draw, index]  # the same noise draws for every design
                models = {
                    "rule": (train(sites, scale, epsilon, rule_lr, np.random.default_rng(key)), scale),
                    "rule, unscaled columns": (
                        train(sites, scale_a0, epsilon, plain_lr, np.random.default_rng(key)),
                        scale_a0,
                    ),
                    "rule at rate 1/2": (
                        federate(sites, scale, sigma_half, rule_lr, np.random.default_rng(key)),
                        scale,
                    ),
                    "plain DP reference": (
                        federate(sites, unscaled, sigma_half, plain_lr, np.random.default_rng(key)),
                        unscaled,
                    ),
                }
                for name, (params, columns) in models.items():
                    score = (x_eval * columns) @ params[:-1]
                    aucs.setdefault((name, epsilon), []).append(float(roc_auc_score(y_eval, score)))
    print(
        f"\n{data}: pooled non-private LR {statistics.mean(pooled):.3f} on the validation patients; "
        f"{len(seeds)} seeds x up to {draws} noise draws; {time.perf_counter() - started:.0f} s"
    )
    print("\n".join(paired_table(aucs, DESIGNS, "rule", epsilons, "design", 22)))
    print("in brackets: mean paired difference to the rule (same seed, split and noise draw)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="runs/architectures", help="where the federations are kept")
    parser.add_argument(
        "--data",
        nargs="*",
        default=[],
        help="more federation folders to check (e.g. OUT/federations/default)",
    )
    add_study_options(parser, [1.0, 3.0, 8.0, math.inf])
    parser.set_defaults(draws=4)
    args = parser.parse_args()
    folders = [federation(Path(args.out), name) for name in ARCHITECTURES] + [Path(d) for d in args.data]
    for folder in folders:
        study(folder, args.epsilons, args.seeds, args.draws)


if __name__ == "__main__":
    main()
