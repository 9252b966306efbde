"""How far a distributed-DP round should step: along the mean of its T batch gradients, or their sum.

What it measures: the logistic model's distributed-DP round (`client/distributed_round.py`, in
float64 numpy: at the global weights, T Poisson batches at the federation's common rate q, every
patient's gradient clipped to C, N(0, (sigma C)^2) per batch in the coordinator's sum) with the
server stepping lr along the mean of the T batch gradients ("mean") or along their sum ("sum", as
far as the T local steps of a local-DP round would move), next to the product's local-DP round
(each hospital's DP-SGD at its own rate, batch 32, FedAvg) for reference; 10 rounds x 2 local
epochs, the product's start, sub-panel, column scale and learning rate (`server.start_model`):
from scratch, or from a source prior with `--prior MODEL`. Scored on the hospitals' pooled
VALIDATION patients, mean over seeds x noise draws; sigma from `calibrate_noise`, so the two
steps spend the same coordinator-facing epsilon (they differ only by post-processing).

Why: from scratch nearly every gradient is clipped and only the direction of the noisy sum
matters, but from a start with weights the step decides how far the data can move the start.
Result (docs/distributed-dp.md "How far a round steps"): the "sum" step gains from a source prior
and not from scratch, which is the product's rule (`server.training_rule.distributed_step`).

    .venv/bin/python bench/distributed_step.py --data FEDERATION [--prior MODEL [--prior-variants K]]
                                               [--seeds 42 43] [--draws 2]

e.g. on the frontier experiment's default federation and its source model:
    --data OUT/federations/default --prior OUT/models/default-near.pt
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from logistic_rule import CLIP, DELTA, EPOCHS, ROUNDS, clipped_sum
from measure import bench_settings
from sklearn.metrics import roc_auc_score

from genofed.common.data.panel import VariantPanel
from genofed.common.privacy.accountant import calibrate_noise
from genofed.server.settings import RunSettings
from genofed.server.start_model import start_model
from genofed.simulations.local.simulate import simulated_sites

EPSILONS = (1.0, 3.0, 8.0)
BATCH = 32
DESIGNS = ("mean", "sum", "local DP")

#: One hospital's training rows (scaled columns read, a ones column for the bias), labels, declared size.
Site = tuple[np.ndarray, np.ndarray, int]


@dataclass(frozen=True)
class ProductStart:
    """The product's start of a logistic run (`server.start_model`) as the float64 loops read it:
    the input columns the model reads (variants, then sex and age), their scale, the start [w, b]
    (a source's weights, or zeros from scratch) and the run's lr by the rule."""

    columns: list[int]
    scale: np.ndarray
    start: np.ndarray
    lr: float

    def rows(self, x: np.ndarray) -> np.ndarray:
        """The columns read, scaled as the model scales them, and a ones column for the bias."""
        return np.hstack([x[:, self.columns].astype(np.float64) * self.scale, np.ones((len(x), 1))])

    def sites(self, loaded) -> list[Site]:
        """Each loaded hospital's training split as a `Site`."""
        return [(self.rows(d.train_x), d.train_y.astype(np.float64), d.public_train) for d in loaded]

    def validation(self, loaded) -> tuple[np.ndarray, np.ndarray]:
        """The hospitals' pooled validation patients: rows and labels."""
        return self.rows(np.concatenate([d.val_x for d in loaded])), np.concatenate([d.val_y for d in loaded])


def product_start(settings: RunSettings, panel: VariantPanel) -> ProductStart:
    """`start_model(settings, panel)` as a `ProductStart`."""
    begin = start_model(settings, panel)
    read = list(begin.config.selected) or list(range(len(panel)))
    weights = begin.weights
    start = np.r_[weights["linear.weight"][0].double().numpy(), weights["linear.bias"].double().numpy()]
    return ProductStart(
        [*read, len(panel), len(panel) + 1], weights["scale"].double().numpy(), start, begin.settings.lr
    )


def distributed(sites: list[Site], start: np.ndarray, lr: float, sigma: float, step: str, rng) -> np.ndarray:
    """ROUNDS distributed rounds at the common rate; the m noise shares add up to sigma per batch."""
    total_rows = sum(n for *_, n in sites)
    rate = 1.0 / math.ceil(max(n for *_, n in sites) / BATCH)
    batches = round(EPOCHS / rate)
    params = start.copy()
    for _ in range(ROUNDS):
        total = rng.normal(0.0, sigma * CLIP, (batches, len(params))).sum(axis=0)
        for rows, labels, _ in sites:
            for _ in range(batches):
                total += clipped_sum(rows, labels, params, rng.random(len(labels)) < rate)
        params = params - lr * total / (total_rows * rate * (batches if step == "mean" else 1))
    return params


def local_dp(sites: list[Site], start: np.ndarray, lr: float, epsilon: float, rng) -> np.ndarray:
    """ROUNDS local-DP rounds: each hospital's DP-SGD at rate BATCH / n, its own sigma; FedAvg."""
    total_rows = sum(n for *_, n in sites)
    plans = []
    for *_, n in sites:
        rate = min(1.0, BATCH / n)
        steps = round(EPOCHS / rate)
        sigma = calibrate_noise(
            [], sample_rate=rate, steps=ROUNDS * steps, target_epsilon=epsilon, delta=DELTA
        )
        plans.append((rate, steps, sigma))
    params = start.copy()
    for _ in range(ROUNDS):
        average = np.zeros_like(params)
        for (rows, labels, n), (rate, steps, sigma) in zip(sites, plans, strict=True):
            local = params.copy()
            for _ in range(steps):
                drawn = rng.random(len(labels)) < rate
                noisy = clipped_sum(rows, labels, local, drawn) + rng.normal(0.0, sigma * CLIP, len(local))
                local -= lr * noisy / (rate * n)
            average += (n / total_rows) * local
        params = average
    return params


def start_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """The start's AUC; 0.5 for a start of zeros, which ranks nobody."""
    return float(roc_auc_score(labels, scores)) if np.any(scores) else 0.5


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, help="a federation folder (panel.tsv, hospitals)")
    parser.add_argument("--prior", default="", help="a `genofed pretrain --model logistic` source model")
    parser.add_argument(
        "--prior-variants", type=int, default=RunSettings.prior_variants, help="0 = all (the default)"
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43])
    parser.add_argument("--draws", type=int, default=2, help="noise draws per seed")
    args = parser.parse_args()
    started = time.perf_counter()
    panel = VariantPanel.load(Path(args.data) / "panel.tsv")
    prior = {"prior": args.prior, "prior_variants": args.prior_variants} if args.prior else {}
    settings = bench_settings(data_dir=args.data, model="logistic", **prior)
    # The product's start at each epsilon, as a distributed run: the covariates' scale follows the
    # epsilon. A local-DP run reads the same columns, scale and start; only its lr differs (from a
    # model's weights it steps `step_share` of the rule's lr), so it is taken from its own start.
    distributed_settings = replace(settings, privacy="distributed", secagg=True)
    begins = {
        eps: (
            product_start(replace(distributed_settings, epsilon=eps), panel),
            product_start(replace(settings, epsilon=eps), panel).lr,
        )
        for eps in EPSILONS
    }
    begin = begins[EPSILONS[0]][0]  # the columns read and the start do not depend on epsilon
    aucs: dict[tuple[str, float], list[float]] = {}
    for seed in args.seeds:
        loaded = list(simulated_sites(replace(settings, seed=seed)).values())
        for eps, (shared, local_lr) in begins.items():
            sites = shared.sites(loaded)
            x_eval, y_eval = shared.validation(loaded)
            if eps == EPSILONS[0]:  # the start's score does not depend on the covariates' scale
                aucs.setdefault(("start", 0.0), []).append(start_auc(y_eval, x_eval @ shared.start))
            rate = 1.0 / math.ceil(max(n for *_, n in sites) / BATCH)
            steps = ROUNDS * round(EPOCHS / rate)
            sigma = calibrate_noise([], sample_rate=rate, steps=steps, target_epsilon=eps, delta=DELTA)
            for draw in range(args.draws):
                rng = np.random.default_rng([seed, draw, int(eps)])
                results = {
                    "mean": distributed(sites, shared.start, shared.lr, sigma, "mean", rng),
                    "sum": distributed(sites, shared.start, shared.lr, sigma, "sum", rng),
                    "local DP": local_dp(sites, shared.start, local_lr, eps, rng),
                }
                for design, params in results.items():
                    aucs.setdefault((design, eps), []).append(float(roc_auc_score(y_eval, x_eval @ params)))
    print(
        f"{len(begin.columns) - 2} variants read, {'a source prior' if args.prior else 'from scratch'}; "
        f"{len(args.seeds)} seeds x {args.draws} noise draws, pooled validation patients; "
        f"{time.perf_counter() - started:.0f} s"
    )
    if args.prior:
        print(f"the start alone: {statistics.mean(aucs[('start', 0.0)]):.3f}")
    print(f"{'round':>10} " + " ".join(f"{'eps ' + format(e, 'g'):>8}" for e in EPSILONS))
    for design in DESIGNS:
        print(f"{design:>10} " + " ".join(f"{statistics.mean(aucs[(design, e)]):8.3f}" for e in EPSILONS))


if __name__ == "__main__":
    main()
