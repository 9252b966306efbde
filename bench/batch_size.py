"""The logistic model's batch size: how many patients each DP-SGD step samples.

What it measures: the logistic model's federated DP-SGD as the product runs it by its rule
(bench/covariate_scale.py `train`: the rule's column scale with its covariates' c(epsilon), lr
1 / (C X), clip 1, 10 rounds x 2 local epochs, FedAvg, each site's sigma calibrated to the
per-site epsilon at its declared size), with the batch size, and so each site's Poisson sampling
rate q = 1 / ceil(n / batch) and its steps per epoch ceil(n / batch), set to each of several
values: the rule's 32, larger fixed batches (a batch at or above a site's size is the whole
cohort in every step, q = 1), and "half", half of each site's declared size (q = 1/2 at every
site, the plain DP reference's rate, bench/dp_logistic.py).

Why: the rule took batch 32 from the network's defaults; the early study of the logistic rule
found the sampling rate worth less than a noise draw on the reference's loop (docs/models.md), but
a later comparison on the product's loop, with the covariates' share matched, read +0.016-0.021 at
epsilon 3 for q = 1/2 within 2 standard errors. Every batch size is a public setting (a site's
rate follows from its declared size), so a better one is a rule, not tuning on patients.

Scored on the hospitals' pooled VALIDATION patients (how the rule is chosen). --test also scores
the coordinator's test cohort, to read as a check only. Each cell: mean AUC over seeds x noise
draws and, in brackets, the mean difference to batch 32 over runs of the same seed and split
(their noise draws differ: the steps do); then that difference's standard error over the pairs.

    .venv/bin/python bench/batch_size.py [--data demo/cohorts] [--batches 32 64 128 half]
                                         [--epsilons 3 8] [--seeds 42 43 44] [--draws 6] [--test]
"""

from __future__ import annotations

import argparse
import functools
import math
import time
from pathlib import Path

import numpy as np
from covariate_scale import train
from measure import (
    add_study_options,
    paired_errors,
    paired_table,
    require_federation,
    rule_scale_and_lr,
    scored_cohorts,
)
from sklearn.metrics import roc_auc_score

from genofed.common.data.panel import VariantPanel
from genofed.server.training_rule import LOGISTIC_BATCH_SIZE

HALF = "half"


def site_batch(batch: str, n: int) -> int:
    """The batch a site of declared size `n` samples with: a fixed number, or half of `n`."""
    return (n + 1) // 2 if batch == HALF else int(batch)  # ceil(n / 2): two steps per epoch


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="demo/cohorts")
    parser.add_argument("--batches", nargs="+", default=["32", "64", "128", HALF])
    add_study_options(parser, [3.0, 8.0])
    parser.set_defaults(draws=6)  # the rates' noise draws cannot be paired: more of them
    parser.add_argument("--test", action="store_true", help="also score the test cohort (a check only)")
    args = parser.parse_args()
    require_federation(args.data)
    for batch in args.batches:
        if batch != HALF and not (batch.isdigit() and int(batch) > 0):
            parser.error(f"--batches takes positive whole numbers or '{HALF}', got {batch!r}")
    started = time.perf_counter()
    panel = VariantPanel.load(Path(args.data) / "panel.tsv")
    base = str(LOGISTIC_BATCH_SIZE)
    batches = list(dict.fromkeys([base, *args.batches]))
    cohorts = ["validation", "test"] if args.test else ["validation"]
    aucs: dict[str, dict[tuple[str, float], list[float]]] = {cohort: {} for cohort in cohorts}
    for seed in args.seeds:
        sites, scored = scored_cohorts(args.data, seed, panel, args.test)
        for epsilon in args.epsilons:
            scale, lr = rule_scale_and_lr(panel, epsilon)  # the product's rule: lr = 1 / (C X_a)
            for batch in batches:
                batch_of = functools.partial(site_batch, batch)
                for draw in range(1 if math.isinf(epsilon) else args.draws):
                    rng = np.random.default_rng([seed, draw, int(min(epsilon, 1e6) * 10)])
                    params = train(sites, scale, epsilon, lr, rng, batch_of=batch_of)
                    for cohort, (x, y) in scored.items():
                        score = (x.astype(np.float64) * scale) @ params[:-1] + params[-1]
                        aucs[cohort].setdefault((batch, epsilon), []).append(float(roc_auc_score(y, score)))
        print(f"seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    sizes = sorted(d.public_train for d in sites)
    print(f"{len(args.seeds)} seeds x up to {args.draws} noise draws; declared training sizes {sizes}")
    for cohort in cohorts:
        print(f"\nscored on the {cohort} patients" + (" (a check only)" if cohort == "test" else ""))
        print("\n".join(paired_table(aucs[cohort], batches, base, args.epsilons, "batch", 6)))
        print(f"standard error of the difference to batch {base}:")
        print("\n".join(paired_errors(aucs[cohort], batches, base, args.epsilons, 6)))


if __name__ == "__main__":
    main()
