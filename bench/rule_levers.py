"""Levers on the logistic rule that did not help: the learning rate, class balance, a refit of the
covariates and the score's weight, and the noise of the run's evaluation.

What it measures: the product's loop and rule (bench/covariate_scale.py `train`, the rule's column
scale and lr from bench/measure.py `rule_scale_and_lr`) against the same loop with one change each,
on the hospitals' pooled VALIDATION patients (3 seeds x 2 noise draws, paired by seed and draw):

- `lr / 2`, `lr x 2`: the rule's lr halved and doubled. With C = 1 every patient's gradient stays
  clipped, so the model is a normalised case-minus-control sum whose ranking the lr barely moves;
- `balanced`: each site's larger class weighted down to the smaller one's count after clipping, so
  the clipped sum is balanced between cases and controls (weights from the site's own counts: a
  study of the idea, not a DP mechanism);
- `refit`: after training, sex, age and the variant score's weight refitted by logistic regression
  without DP on the pooled training patients (an upper bound for a DP calibration round);
- `eval noise`: each site's noise multiplier x 1.07, what one site evaluation costs the training at
  epsilon 3 (docs/privacy.md), which the loop otherwise leaves out.

Why: the levers left in docs/models.md after the rule's column scale and covariate share; none
gained (docs/models.md "The variants' weighting at a fixed covariate share").

    .venv/bin/python bench/rule_levers.py [--data demo/cohorts] [--epsilons 1 3 8]
                                          [--seeds 42 43 44] [--draws 2]
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from covariate_scale import train
from measure import paired_errors, paired_table, parse_study, rule_scale_and_lr, study_sites
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from genofed.common.data.panel import VariantPanel

RULE = "rule"
LEVERS = (RULE, "lr / 2", "lr x 2", "balanced", "refit", "eval noise")
#: One site evaluation raises the training's noise multiplier by about 7 % at epsilon 3.
EVALUATION_NOISE = 1.07


def refit_auc(params: np.ndarray, scale: np.ndarray, x_train, y_train, x_eval, y_eval) -> float:
    """Validation AUC after refitting [variant score, sex, age] without DP on the training patients."""

    def parts(x: np.ndarray) -> np.ndarray:
        variants = len(scale) - 2
        score = (x[:, :variants] * scale[:variants]) @ params[:variants]
        return np.column_stack([score, x[:, variants:]])

    fitted = LogisticRegression(C=1e4, max_iter=1000).fit(parts(x_train), y_train)
    return float(roc_auc_score(y_eval, fitted.decision_function(parts(x_eval))))


def lever_aucs(
    sites, scale, epsilon: float, lr: float, draws: list[int], train_set, eval_set
) -> dict[str, float]:
    """Each lever's validation AUC in one noise draw (`draws`: the generator's seed, the same for
    every lever, so their differences are paired); `train_set`, `eval_set`: (features, labels)."""
    x_eval, y_eval = eval_set

    def run(step: float = lr, **changes) -> np.ndarray:
        return train(sites, scale, epsilon, step, np.random.default_rng(draws), **changes)

    def auc(params: np.ndarray) -> float:
        return float(roc_auc_score(y_eval, (x_eval * scale) @ params[:-1] + params[-1]))

    rule = run()
    return {
        RULE: auc(rule),
        "lr / 2": auc(run(lr / 2)),
        "lr x 2": auc(run(lr * 2)),
        "balanced": auc(run(balanced=True)),
        "refit": refit_auc(rule, scale, *train_set, x_eval, y_eval),
        "eval noise": auc(run(sigma_factor=EVALUATION_NOISE)),
    }


def main() -> None:
    args = parse_study(__doc__, epsilons=[1.0, 3.0, 8.0])
    started = time.perf_counter()
    panel = VariantPanel.load(Path(args.data) / "panel.tsv")
    aucs: dict[tuple[str, float], list[float]] = {}
    for seed in args.seeds:
        sites, x_eval, y_eval = study_sites(args.data, seed)
        train_set = (
            np.concatenate([d.train_x for d in sites]).astype(np.float64),
            np.concatenate([d.train_y for d in sites]),
        )
        for epsilon in args.epsilons:
            scale, lr = rule_scale_and_lr(panel, epsilon)
            for draw in range(args.draws):
                draws = [seed, draw, int(epsilon * 10)]
                for lever, value in lever_aucs(
                    sites, scale, epsilon, lr, draws, train_set, (x_eval, y_eval)
                ).items():
                    aucs.setdefault((lever, epsilon), []).append(value)
        print(f"seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    print(f"{len(args.seeds)} seeds x {args.draws} noise draws, scored on the pooled validation patients")
    print("\n".join(paired_table(aucs, LEVERS, RULE, args.epsilons, "lever", 10)))
    print("standard error of the paired difference to the rule:")
    print("\n".join(paired_errors(aucs, LEVERS, RULE, args.epsilons, 10)))


if __name__ == "__main__":
    main()
