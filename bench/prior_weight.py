"""How much of a source prior's start to keep against the federation's DP steps.

What it measures: the plain DP logistic loop of `bench/logistic_rule.py` (per-site DP-SGD, Poisson
rate 1/2, 10 rounds x 2 local epochs, clip 1, FedAvg) on the sub-panel a source prior selects
(`--prior MODEL --prior-variants 1000`, `server.start_model`: the product's own selection, column
scale, learning rate and start weights), started from gamma times the source model's weights, for
gamma 1 (the product), 0.5, 0.25, 0.1 and 0 (the sub-panel from scratch); and the source model
alone. Scored on the hospitals' pooled VALIDATION patients, mean over seeds x noise draws.

Why: under DP-SGD with every gradient clipped, the federation adds a noisy case-minus-control
direction to the start; how far it moves a start of a given size is set by the learning rate and
the steps, so the start's size is the prior's weight. Result (docs/models.md "What did not help"):
keeping the whole start is as good as any smaller share, within a noise draw.

    .venv/bin/python bench/prior_weight.py --data FEDERATION --prior MODEL [--seeds 42 43] [--draws 2]

e.g. on the frontier experiment's default federation and its source model:
    --data OUT/federations/default --prior OUT/models/default-near.pt
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from logistic_rule import DELTA, EPOCHS, RATE, ROUNDS, federate
from measure import bench_settings
from sklearn.metrics import roc_auc_score

from genofed.common.data.panel import VariantPanel
from genofed.common.privacy.accountant import calibrate_noise
from genofed.server.start_model import start_model
from genofed.simulations.local.simulate import simulated_sites

EPSILONS = (1.0, 3.0, 8.0)
GAMMAS = (1.0, 0.5, 0.25, 0.1, 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, help="a federation folder (panel.tsv, hospitals)")
    parser.add_argument("--prior", required=True, help="a `genofed pretrain --model logistic` source model")
    parser.add_argument("--prior-variants", type=int, default=1000)
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43])
    parser.add_argument("--draws", type=int, default=2, help="noise draws per seed")
    args = parser.parse_args()
    started = time.perf_counter()
    panel = VariantPanel.load(Path(args.data) / "panel.tsv")
    settings = bench_settings(
        data_dir=args.data, prior=args.prior, prior_variants=args.prior_variants, model="logistic"
    )
    begin = start_model(settings, panel)
    columns = [*begin.config.selected, len(panel), len(panel) + 1]
    scale = begin.weights["scale"].double().numpy()
    start = np.r_[
        begin.weights["linear.weight"][0].double().numpy(), begin.weights["linear.bias"].double().numpy()
    ]
    aucs: dict[tuple[str, float], list[float]] = {}
    for seed in args.seeds:
        sites = list(simulated_sites(replace(settings, seed=seed)).values())
        x_eval = np.concatenate([d.val_x for d in sites])[:, columns].astype(np.float64) * scale
        y_eval = np.concatenate([d.val_y for d in sites])
        aucs.setdefault(("source alone", 0.0), []).append(float(roc_auc_score(y_eval, x_eval @ start[:-1])))
        for eps in EPSILONS:
            steps = ROUNDS * EPOCHS * round(1 / RATE)
            sigma = calibrate_noise([], sample_rate=RATE, steps=steps, target_epsilon=eps, delta=DELTA)
            for gamma in GAMMAS:
                for draw in range(args.draws):
                    rng = np.random.default_rng([seed, draw])
                    params = federate(
                        sites, scale, sigma, begin.settings.lr, rng, columns=columns, start=gamma * start
                    )
                    score = x_eval @ params[:-1] + params[-1]
                    aucs.setdefault((f"gamma {gamma:g}", eps), []).append(float(roc_auc_score(y_eval, score)))
    print(
        f"{len(begin.config.selected)} variants read; {len(args.seeds)} seeds x {args.draws} noise draws, "
        f"pooled validation patients; {time.perf_counter() - started:.0f} s"
    )
    print(f"source model alone: {statistics.mean(aucs[('source alone', 0.0)]):.3f}")
    print(f"{'start':>12} " + " ".join(f"{'eps ' + format(e, 'g'):>8}" for e in EPSILONS))
    for gamma in GAMMAS:
        print(
            f"{'gamma ' + format(gamma, 'g'):>12} "
            + " ".join(f"{statistics.mean(aucs[(f'gamma {gamma:g}', e)]):8.3f}" for e in EPSILONS)
        )


if __name__ == "__main__":
    main()
