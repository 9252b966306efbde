"""Reference: a plain DP logistic regression federation, to hold genofed's network against.

What it measures: test AUC of one linear score (one weight per panel variant plus the covariates,
`nn.Linear(V + 2, 1)`), trained across the federation's hospitals with per-site DP-SGD (Opacus:
Poisson sampling, per-sample clipping, Gaussian noise) and FedAvg, at several per-site epsilons
(delta 1e-5); next to a pooled non-private logistic regression (sklearn, all training patients in
one place) on the same training patients and the same test cohort.

Why: measured from outside on an independent federation, such a plain DP logistic regression beat
genofed's network by 0.15-0.32 AUC. This script is the same reference on a genofed federation
folder. It measures only the reference: genofed's own figures on the same federation come from
`bench/federation.py` (docs/benchmarks.md "Federated training" and "The logistic default"), a
separate, slower run (Flower's simulation engine, about a minute per epsilon), so this script
prints none (it printed a column of figures quoted from an earlier run until 2026-12-04). It is a
measuring stick, not a product feature: a plain Python FedAvg loop in one process, no Flower, no
secure aggregation, no evaluation releases.

Data: loaded with genofed's own code path, exactly as each hospital's ClientApp and the
simulation's reference models see it (`simulated_sites` -> `load_site_tensors`: `load_site`,
panel alignment, `FeatureSpec` encoding of mean-centred dosages plus sex and age, the keyed
80/20 train/validation split of `split_seed(site, seed)`); only the training split is used
(validation patients are left alone, as the ClientApp keeps them). Test cohort: `load_test_cohort`
(data-dir/test), as `genofed simulate` evaluates.

Settings: a documented rule from public facts, NOT tuned (R = 10 rounds x E = 2 local epochs,
clip 1, Poisson rate 1/2, noise calibrated by RDP to the per-site epsilon, SGD lr = 1 / (C x the
expected genotype-row norm from the panel's allele frequencies), FedAvg by declared training size,
weights from zero; pooled: sklearn LogisticRegression(C=1.0)). The loop and the rule's reasons live
in genofed.simulations.local.plain_dp_logistic, which the privacy-frontier experiment (`genofed
experiment privacy-frontier`) measures on the same splits as its federations and `genofed simulate`
reports beside every private run.

    .venv/bin/genofed simulate-cohorts --out demo/cohorts      # the default federation, once
    .venv/bin/python bench/dp_logistic.py [--data demo/cohorts] [--epsilons 1 3 8 inf]
                                          [--rounds 10] [--seed 42]
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from pathlib import Path

import torch
from measure import bench_settings, require_federation

from genofed.common.data.panel import VariantPanel
from genofed.server.federation import load_test_cohort
from genofed.simulations.experiments.privacy_frontier.references import pooled_auc
from genofed.simulations.local.baselines import POOLED_C
from genofed.simulations.local.plain_dp_logistic import DELTA, federate, linear_auc, settings_rule
from genofed.simulations.local.simulate import simulated_sites


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="demo/cohorts", help="federation folder (default: demo/cohorts)")
    parser.add_argument("--epsilons", nargs="+", type=float, default=[1.0, 3.0, 8.0, math.inf])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42, help="split seed (as genofed simulate) and DP noise")
    args = parser.parse_args()
    require_federation(args.data)
    warnings.filterwarnings("ignore")  # Opacus' secure-RNG and hook notices
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    started = time.perf_counter()
    settings = bench_settings(data_dir=args.data, seed=args.seed)
    panel = VariantPanel.load(Path(args.data) / "panel.tsv")
    sites = simulated_sites(settings)
    test = load_test_cohort(settings, panel)
    if test is None:
        raise SystemExit(f"{args.data} has no test cohort (test/)")
    rule = settings_rule(panel, args.rounds)
    n_train = sum(len(d.train_y) for d in sites.values())
    print(
        f"{len(sites)} hospitals, {n_train} training patients, {len(panel)} variants, test cohort "
        f"{len(test.labels)}; loaded in {time.perf_counter() - started:.0f} s"
    )
    print(
        f"rule: R={rule.rounds} rounds x E={rule.local_epochs} local epochs, Poisson q={rule.sample_rate} "
        f"({rule.steps} steps/site), clip {rule.clip}, SGD lr {rule.lr:.4f}, delta {DELTA}, FedAvg"
    )
    t = time.perf_counter()
    pooled = pooled_auc(sites, test.features, test.labels)
    pooled_s = time.perf_counter() - t
    print(f"pooled non-private LR (sklearn, C={POOLED_C}): test AUC {pooled:.3f} ({pooled_s:.0f} s)")
    print(f"{'epsilon':>7} {'DP-LR fed':>9} {'pooled LR':>9} {'sigma':>6} {'spent':>5} {'wall s':>6}")
    for eps in args.epsilons:
        t = time.perf_counter()
        run = federate(sites, rule, eps, args.seed)
        fed = linear_auc(run.params, test.features, test.labels)
        sigma, spent = run.noise_multiplier, run.spent
        print(
            f"{eps:>7g} {fed:>9.3f} {pooled:>9.3f} {sigma:>6.2f} "
            f"{'-' if math.isinf(spent) else f'{spent:.2f}':>5} {time.perf_counter() - t:>6.1f}"
        )
    print(
        f"genofed's own models on {args.data}: `bench/federation.py --data {args.data}` (seed 42), "
        "a separate run, not made here (docs/benchmarks.md)"
    )
    print(f"total wall {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
