"""How far the network's distributed-DP round should step: the T batches' sum, as far as T local
steps with momentum would go, or that times the step share.

What it measures: the network's distributed-DP round (`client/distributed_round.py`: at the
global weights, T Poisson batches at the federation's common rate q, every patient's gradient
clipped to C, each hospital's share N(0, (sigma C)^2 / m) of the noise per batch, m the SecAgg+
threshold; per-example gradients by torch.func) with the server stepping the rule's lr (0.05)
along

- `sum`: the sum of the T batch gradients, as far as T plain steps would go (the step before);
- `momentum`: k = `momentum_travel(T, 0.9)` / T times that, as far as the T local steps of a
  local-DP round go with the network's momentum 0.9 (about 5x at T = 16);
- `momentum x share`: that times `step_share(epsilon)`, the product's step (lr x the share by
  `server.training_rule.takes_step_share`, k at the hospital);

10 rounds from the rule's random initialisation. Scored on the hospitals' pooled VALIDATION
patients (never a test cohort), mean over seeds x noise draws; all three steps see the same
batches and noise (the step is post-processing of the same releases), so differences are paired.

Why: the network's lr was set for local rounds of many sequential steps with momentum 0.9; along
the plain sum a distributed round moved it about 5x less than its robust twin's round, and the
network under distributed DP scored below the robust one. Result: docs/distributed-dp.md "How far
a round steps".

    .venv/bin/python bench/network_distributed_step.py [--data demo/cohorts] [--epsilons 1 3 8]
                                                       [--seeds 42 43] [--draws 2]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from measure import bench_settings, paired_table, require_federation
from sklearn.metrics import roc_auc_score
from torch.func import functional_call, grad, vmap

from genofed.client.distributed_round import momentum_travel
from genofed.common.data.panel import VariantPanel
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.privacy.accountant import calibrate_noise
from genofed.server.secagg import threshold_for
from genofed.server.training_rule import NETWORK_RULE, step_share
from genofed.simulations.local.simulate import simulated_sites

DELTA = 1e-5
STEPS = ("sum", "momentum", "momentum x share")


def step_factors(batches: int, epsilon: float) -> dict[str, float]:
    """Each design's multiple of the plain sum step."""
    travel = momentum_travel(batches, NETWORK_RULE.momentum) / batches
    return {"sum": 1.0, "momentum": travel, "momentum x share": travel * step_share(epsilon)}


def noisy_sums(model, params, sites, rate, batches, sigma, shares, gen) -> dict[str, torch.Tensor]:
    """The federation's sum over hospitals and batches of clipped gradient sums plus each
    hospital's noise share, at `params`."""
    buffers = dict(model.named_buffers())

    def loss(p, x, y):
        logit = functional_call(model, (p, buffers), (x.unsqueeze(0),)).reshape(())
        return torch.nn.functional.binary_cross_entropy_with_logits(logit, y)

    per_example = vmap(grad(loss), in_dims=(None, 0, 0))
    total = {k: torch.zeros_like(v) for k, v in params.items()}
    for x, y in sites:
        for _ in range(batches):
            drawn = torch.nonzero(torch.rand(len(y), generator=gen) < rate).flatten()
            if len(drawn):
                grads = per_example(params, x[drawn], y[drawn])
                norms = torch.sqrt(sum(g.reshape(len(drawn), -1).pow(2).sum(1) for g in grads.values()))
                factor = torch.clamp(NETWORK_RULE.clip / (norms + 1e-6), max=1.0)
                for k in total:
                    total[k] += torch.einsum("b,b...->...", factor, grads[k])
            for k in total:
                total[k] += (
                    torch.randn(total[k].shape, generator=gen) * sigma * NETWORK_RULE.clip / math.sqrt(shares)
                )
    return total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="demo/cohorts")
    parser.add_argument("--epsilons", nargs="+", type=float, default=[1.0, 3.0, 8.0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43])
    parser.add_argument("--draws", type=int, default=2, help="noise draws per seed")
    args = parser.parse_args()
    require_federation(args.data)
    torch.set_num_threads(1)
    started = time.perf_counter()
    n_variants = len(VariantPanel.load(Path(args.data) / "panel.tsv"))
    aucs: dict[tuple[str, float], list[float]] = {}
    for seed in args.seeds:
        loaded = list(simulated_sites(bench_settings(data_dir=args.data, seed=seed)).values())
        x_eval = torch.as_tensor(np.concatenate([d.val_x for d in loaded]), dtype=torch.float32)
        y_eval = np.concatenate([d.val_y for d in loaded])
        sites = [
            (torch.as_tensor(d.train_x), torch.as_tensor(d.train_y, dtype=torch.float32)) for d in loaded
        ]
        total_rows = sum(d.public_train for d in loaded)
        rate = 1.0 / math.ceil(max(d.public_train for d in loaded) / NETWORK_RULE.batch_size)
        batches = round(NETWORK_RULE.local_epochs / rate)
        shares = threshold_for(len(loaded))
        for epsilon in args.epsilons:
            sigma = calibrate_noise(
                [], sample_rate=rate, steps=NETWORK_RULE.rounds * batches, target_epsilon=epsilon, delta=DELTA
            )
            for step, factor in step_factors(batches, epsilon).items():
                for draw in range(args.draws):
                    model = build_model(ModelConfig(n_variants=n_variants, architecture="network"), seed=seed)
                    params = {k: v.detach().clone() for k, v in model.named_parameters()}
                    gen = torch.Generator().manual_seed(seed * 1000 + draw)  # the same draws for every step
                    for _ in range(NETWORK_RULE.rounds):
                        total = noisy_sums(model, params, sites, rate, batches, sigma, shares, gen)
                        scale = NETWORK_RULE.lr * factor / (total_rows * rate)
                        params = {k: params[k] - scale * total[k] for k in params}
                    with torch.no_grad():
                        scores = functional_call(model, params, (x_eval,)).reshape(-1).numpy()
                    aucs.setdefault((step, epsilon), []).append(float(roc_auc_score(y_eval, scores)))
        print(
            f"seed {seed}: T {batches} batches, m {shares}; {time.perf_counter() - started:.0f} s", flush=True
        )
    print(f"{len(args.seeds)} seeds x {args.draws} noise draws, scored on the pooled validation patients")
    print("\n".join(paired_table(aucs, STEPS, "sum", args.epsilons, "step", 17)))
    print("in brackets: mean paired difference to the plain sum step (same batches and noise)")


if __name__ == "__main__":
    main()
