"""How far a local-DP round should move a start with weights: the rule's full step, or its share.

What it measures: the logistic model's local-DP federation (`bench/distributed_step.py`'s
`local_dp`: each hospital's DP-SGD at batch 32 and its own sigma, 10 rounds x 2 local epochs,
FedAvg) from a source prior's weights, with the product's start, column scale and sub-panel
(`server.start_model`), stepping the rule's full lr 1 / (C X) or the product's lr, which a start
with weights takes times `step_share(epsilon)` = epsilon^2 / (epsilon^2 + 3)
(`server.training_rule`). Scored on the hospitals' pooled VALIDATION patients (never a test
cohort), mean over seeds x noise draws and the paired difference (same seed, split and draw).

Why: an update is the data's signal plus noise whose variance grows as 1 / epsilon^2; from a
start that already scores well, a full step of mostly noise carries it away from what it knew
(docs/models.md "A start's step").

    .venv/bin/python bench/prior_step.py --data FEDERATION --prior MODEL [--seeds 42 43 44] [--draws 2]
                                         [--epsilons 1 2 3 5 8]

e.g. on the default federation and its related-disease source:
    genofed pretrain --model logistic --source demo/cohorts/sources/near --panel demo/cohorts/panel.tsv \\
        --out near.pt && .venv/bin/python bench/prior_step.py --data demo/cohorts --prior near.pt
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from distributed_step import local_dp, product_start
from measure import add_study_options, bench_settings, require_federation
from sklearn.metrics import roc_auc_score

from genofed.common.data.panel import VariantPanel
from genofed.server.training_rule import step_share, training_rule
from genofed.simulations.local.simulate import simulated_sites

STEPS = ("full", "rule")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, help="a federation folder (panel.tsv, hospitals)")
    parser.add_argument("--prior", required=True, help="a `genofed pretrain --model logistic` source model")
    add_study_options(parser, epsilons=[1.0, 2.0, 3.0, 5.0, 8.0])
    args = parser.parse_args()
    require_federation(args.data)
    started = time.perf_counter()
    panel = VariantPanel.load(Path(args.data) / "panel.tsv")
    settings = bench_settings(data_dir=args.data, model="logistic", prior=args.prior)
    # the product's start, scale, sub-panel and lr at each epsilon (the covariates' scale and the
    # start's step depend on it), and the rule's full lr for the same variants
    begins = {e: product_start(replace(settings, epsilon=e), panel) for e in args.epsilons}
    columns = next(iter(begins.values())).columns  # the variants read do not depend on epsilon
    full_lr = training_rule("logistic", panel, tuple(columns[:-2])).lr
    aucs: dict[tuple[str, float], list[float]] = {}
    for seed in args.seeds:
        loaded = list(simulated_sites(replace(settings, seed=seed)).values())  # once per seed
        for epsilon, begin in begins.items():
            sites = begin.sites(loaded)
            x_eval, y_eval = begin.validation(loaded)
            aucs.setdefault(("start", epsilon), []).append(float(roc_auc_score(y_eval, x_eval @ begin.start)))
            lrs = {"full": full_lr, "rule": begin.lr}
            for draw in range(args.draws):
                for step in STEPS:
                    rng = np.random.default_rng([seed, draw, int(epsilon)])  # the same draws for both
                    params = local_dp(sites, begin.start, lrs[step], epsilon, rng)
                    aucs.setdefault((step, epsilon), []).append(float(roc_auc_score(y_eval, x_eval @ params)))
        print(f"seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    print(
        f"{len(columns) - 2} variants read, a source prior; {len(args.seeds)} seeds x {args.draws} noise "
        "draws, pooled validation patients"
    )
    print(f"{'epsilon':>8} {'share':>6} {'start':>7} {'full':>7} {'rule':>7} {'paired':>7}")
    for epsilon in args.epsilons:
        full, rule = aucs[("full", epsilon)], aucs[("rule", epsilon)]
        paired = statistics.mean(r - f for f, r in zip(full, rule, strict=True))
        start = statistics.mean(aucs[("start", epsilon)])
        print(
            f"{epsilon:>8g} {step_share(epsilon):>6.2f} {start:>7.3f} "
            f"{statistics.mean(full):>7.3f} {statistics.mean(rule):>7.3f} {paired:>+7.3f}"
        )


if __name__ == "__main__":
    main()
