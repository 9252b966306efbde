"""Choosing the logistic model's sub-panel privately: does spending part of each hospital's
epsilon on picking the variants pay? (No; kept as evidence for docs/models.md "What did not help".)

What it measures, on the hospitals' pooled VALIDATION patients (never a test cohort), mean over
seeds x noise draws and the paired difference to the product (same seed, split and draw):

- `product`: the logistic model's federated DP-SGD by its rule on the whole panel, as
  `bench/covariate_scale.py` runs it.
- `plain DP reference`: the plain DP logistic regression of `bench/logistic_rule.py` (unscaled
  columns, Poisson rate 1/2) at the same epsilon.
- `f F, k K, zeros`: stage 1: each hospital releases once, at the start (zeros), the sum of its
  patients' logistic-loss gradients on the product's scaled rows, each clipped to C = 1, plus
  N(0, (sigma_1 C)^2), sigma_1 calibrated so that this one full-batch release costs F x epsilon
  (the noisy marginal score of `bench/marginal_score.py`). The coordinator combines the releases
  weighted by declared size and keeps the K variants with the largest |score| (post-processing;
  every coordinate carries the same noise, so this ranks by z-score). Stage 2: the product's
  DP-SGD by its rule on those K variants and sex, age (the sub-panel's column scale and lr, as a
  gene list's variants are trained), each hospital's sigma calibrated with the release as its
  history, so that the total is epsilon.
- `f F, k K, start`: stage 2 starts from the release's weights instead of zeros, mapped to what
  stage 2 would reach from zeros when every patient is clipped, and steps lr x step_share(eps),
  as a source prior's start does.
- `oracle k K`: the K variants with the largest noise-free score, stage 2 at the full epsilon.
  Not private: what a free selection of the same size (a public source prior or gene list) is
  worth.

It also prints how many of the federation's causal variants (truth.json) the top K holds against
chance (K x causal / variants); the release's noise standard deviation on a combined coordinate
against the strongest noise-free variant coordinate; and the start's noise variance per
coordinate over stage 2's (from public sizes, sigmas and lrs).

Why: under DP the product's score is one noisy marginal score over ~20,000 variants, most of them
null (docs/models.md "Why the logistic model saturates under DP"). On a few thousand of them each
variant gets a larger share of every patient's clipped gradient against the same noise (the
oracle's gain), if the federation can find the right ones without spending the budget the
training needs.

    .venv/bin/python bench/self_selection.py [--data demo/cohorts] [--epsilons 3 8]
                                             [--fractions 0.2 0.5] [--ks 1000 3000]
                                             [--seeds 42 43 44] [--draws 2]

The noise draws of a cell depend on its epsilon's position in --epsilons (as in
bench/marginal_score.py), not on the other options: a cell is reproduced by the same seeds,
draws and epsilon list.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from covariate_scale import train
from logistic_rule import CLIP, DELTA, EPOCHS, RATE, ROUNDS, clipped_sum, fedavg, federate, site_rows
from marginal_score import full_batch_sigma
from measure import add_study_options, paired_table, require_federation, study_sites
from sklearn.metrics import roc_auc_score

from genofed.common.data.panel import VariantPanel
from genofed.common.privacy.accountant import calibrate_noise, epsilon_of, sample_rate, steps_per_epoch
from genofed.server.training_rule import (
    LOGISTIC_BATCH_SIZE,
    LOGISTIC_LOCAL_EPOCHS,
    LOGISTIC_ROUNDS,
    column_scale,
    expected_row_norm,
    rule_row_norm,
    step_share,
    training_rule,
)

#: Rounds x local epochs over the batch: an all-clipped DP-SGD run from zeros moves each weight by
#: lr x this x the clipped gradient sum over a hospital's declared size (the start's mapping).
STEPS_OVER_BATCH = LOGISTIC_ROUNDS * LOGISTIC_LOCAL_EPOCHS / LOGISTIC_BATCH_SIZE
PRODUCT, REFERENCE = "product", "plain DP reference"


@dataclass(frozen=True)
class SubPanel:
    """A logistic model reading panel variants `selected` plus sex and age: its input `columns`,
    its column `scale` (the rule's, c = 1 on a sub-panel), the rule's `lr` and the expected norm
    of a scaled row, `row_norm`."""

    selected: tuple[int, ...]
    columns: list[int]
    scale: np.ndarray
    lr: float
    row_norm: float


@dataclass
class Results:
    """What the study collects. `aucs[(design, eps)]` and `hits[(label, k, eps)]` list one value per
    seed x draw in the same order (`hits` of the noise-free label: one per seed);
    `variance_ratio[(f, k, eps)]`: the start's noise variance over stage 2's, one per seed x draw
    (it depends on the variants picked through lr and X_k); `strongest[eps]`:
    the strongest noise-free variant coordinate, one per seed; `noise_sd[(f, eps)]`: the release's
    noise sd on a combined coordinate, one per seed; `smallest`: the smallest declared size;
    `n_causal` of the panel's `n_variants` are causal."""

    designs: list[str] = field(default_factory=lambda: [PRODUCT, REFERENCE])
    aucs: dict[tuple[str, float], list[float]] = field(default_factory=dict)
    hits: dict[tuple[str, int, float], list[int]] = field(default_factory=dict)
    variance_ratio: dict[tuple[float, int, float], list[float]] = field(default_factory=dict)
    strongest: dict[float, list[float]] = field(default_factory=dict)
    noise_sd: dict[tuple[float, float], list[float]] = field(default_factory=dict)
    smallest: int = 0
    n_causal: int = 0
    n_variants: int = 0


def parse_args() -> argparse.Namespace:
    """--data (a federation with truth.json), the study options of bench/measure.py (epsilons 3 8),
    --fractions of epsilon spent on the release and --ks, the sub-panel sizes."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="demo/cohorts")
    add_study_options(parser, [3.0, 8.0])
    parser.add_argument("--fractions", nargs="+", type=float, default=[0.2, 0.5])
    parser.add_argument("--ks", nargs="+", type=int, default=[1000, 3000])
    args = parser.parse_args()
    require_federation(args.data)
    if any(not 0 < e < math.inf for e in args.epsilons):
        parser.error("--epsilons: each must be a finite DP budget above 0 (the release spends a share of it)")
    if any(not 0 < f < 1 for f in args.fractions):
        parser.error("--fractions: each must lie strictly between 0 and 1 (the release's share of epsilon)")
    if any(k < 1 for k in args.ks):
        parser.error("--ks: each sub-panel must keep at least 1 variant")
    return args


def causal_variants(data: Path, panel: VariantPanel) -> np.ndarray:
    """True for each panel variant that is one of the disease's causal variants, from the
    federation's truth.json (written by `genofed simulate-cohorts`)."""
    path = data / "truth.json"
    if not path.exists():
        raise SystemExit(
            f"{path} is missing: this bench counts the causal variants a selection holds, which only "
            f"a simulated federation records; run `genofed simulate-cohorts --out {data}`"
        )
    causal = {c["id"] for c in json.loads(path.read_text())["model"]["causal_variants"]}
    return np.array([vid in causal for vid in panel.variant_ids])


def sub_panel(panel: VariantPanel, selected: tuple[int, ...], epsilon: float) -> SubPanel:
    """The rule's model on variants `selected` (panel order) and sex, age at `epsilon`."""
    n = len(panel)
    return SubPanel(
        selected,
        [*selected, n, n + 1],
        column_scale(panel, selected, epsilon=epsilon).astype(np.float64),
        training_rule("logistic", panel, selected, epsilon).lr,
        rule_row_norm(panel, selected, epsilon),
    )


def top_k(score: np.ndarray, n_variants: int, k: int) -> tuple[int, ...]:
    """The `k` variants (of the first `n_variants` coordinates) with the largest |score|, in panel order."""
    return tuple(sorted(int(j) for j in np.argsort(-np.abs(score[:n_variants]))[:k]))


@functools.cache
def stage2_sigma(n: int, epsilon: float, sigma_1: float | None) -> float:
    """The noise multiplier of a hospital of declared size `n` in the rule's DP-SGD at `epsilon`,
    its history one full-batch release at `sigma_1` (None: no history, the product's)."""
    rate = sample_rate(n, LOGISTIC_BATCH_SIZE)
    steps = LOGISTIC_ROUNDS * LOGISTIC_LOCAL_EPOCHS * steps_per_epoch(n, LOGISTIC_BATCH_SIZE)
    history = [] if sigma_1 is None else [(sigma_1, 1.0, 1)]
    sigma = calibrate_noise(history, sample_rate=rate, steps=steps, target_epsilon=epsilon, delta=DELTA)
    total = epsilon_of([*history, (sigma, rate, steps)], DELTA)
    assert total <= epsilon + 1e-9, (total, epsilon)
    return sigma


def train_stage2(
    sites: list,
    sub: SubPanel,
    epsilon: float,
    sigma_1: float | None,
    lr: float,
    rng: np.random.Generator,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """[w, b] of the rule's federated DP-SGD on `sub` from `start` (zeros by default) at step `lr`,
    each hospital's sigma calibrated with the release at `sigma_1` as its history."""
    data = []
    for d in sites:
        n = d.public_train
        rate = sample_rate(n, LOGISTIC_BATCH_SIZE)
        steps = LOGISTIC_LOCAL_EPOCHS * steps_per_epoch(n, LOGISTIC_BATCH_SIZE)
        x = d.train_x[:, sub.columns].astype(np.float64) * sub.scale
        data.append(site_rows(x, d.train_y, n, rate, steps, stage2_sigma(n, epsilon, sigma_1)))
    params = np.zeros(len(sub.scale) + 1) if start is None else start.copy()
    return fedavg(data, params, lr, rng, LOGISTIC_ROUNDS)


def gradients_at_zero(sites: list, scale: np.ndarray) -> list[np.ndarray]:
    """Each hospital's sum of its patients' logistic-loss gradients at zeros on the scaled rows
    (with the bias), each clipped to C: the release before its noise."""
    grads = []
    for d in sites:
        rows = site_rows(d.train_x.astype(np.float64) * scale, d.train_y, d.public_train, 1.0, 1, 0.0)
        grads.append(
            clipped_sum(
                rows.rows, rows.labels, np.zeros(rows.rows.shape[1]), np.ones(len(rows.labels)), rows.norms
            )
        )
    return grads


def size_weights(sites: list) -> list[float]:
    """Each hospital's declared size over the federation's: FedAvg's weights and the release's."""
    total = sum(d.public_train for d in sites)
    return [d.public_train / total for d in sites]


def noisy_release(
    grads: list[np.ndarray], weights: list[float], sigma_1: float, rng: np.random.Generator
) -> np.ndarray:
    """The coordinator's combined release: each hospital's gradient sum plus N(0, (sigma_1 C)^2),
    weighted by declared size."""
    return sum(w * (g + rng.normal(0.0, sigma_1 * CLIP, len(g))) for w, g in zip(weights, grads, strict=True))


def start_weights(release: np.ndarray, sub: SubPanel, full_row_norm: float, c: float) -> np.ndarray:
    """The release on `sub`'s variants, covariates and bias as stage 2's start: what stage 2 from
    zeros reaches when every patient is clipped, w0 = -lr (R E / B) (X_full / X_k) release, the
    covariates also over the whole panel's covariate scale `c`."""
    n = len(release) - 3
    g = release[[*sub.columns, n + 2]] * (full_row_norm / sub.row_norm)
    g[-3:-1] /= c
    return -sub.lr * STEPS_OVER_BATCH * g


def start_variance_ratio(
    sites: list, sub: SubPanel, full_row_norm: float, sigma_1: float, epsilon: float
) -> float:
    """Per coordinate, the noise variance of `start_weights` over that of stage 2 from zeros
    (public sizes, sigmas and lrs): how much noisier the release's weights are than the training."""
    weights = size_weights(sites)
    start = (sub.lr * STEPS_OVER_BATCH * (full_row_norm / sub.row_norm) * sigma_1) ** 2 * sum(
        w**2 for w in weights
    )
    training = sum(
        w**2
        * LOGISTIC_ROUNDS
        * LOGISTIC_LOCAL_EPOCHS
        * steps_per_epoch(d.public_train, LOGISTIC_BATCH_SIZE)
        * (
            sub.lr
            * stage2_sigma(d.public_train, epsilon, sigma_1)
            / (sample_rate(d.public_train, LOGISTIC_BATCH_SIZE) * d.public_train)
        )
        ** 2
        for w, d in zip(weights, sites, strict=True)
    )
    return start / training


def fraction_label(fraction: float, k: int, start: str) -> str:
    """A private selection's row in the table."""
    return f"f {fraction:g}, k {k}, {start}"


@dataclass(frozen=True)
class Split:
    """One seed's split at one epsilon: what every design of its noise draws shares. `index`: the
    epsilon's position in --epsilons (part of the noise draws' keys); `full_scale`: the product's
    column scale; `grads`: each hospital's release before its noise (`gradients_at_zero`)."""

    panel: VariantPanel
    causal: np.ndarray
    seed: int
    index: int
    epsilon: float
    sites: list
    x_eval: np.ndarray
    y_eval: np.ndarray
    full_scale: np.ndarray
    grads: list[np.ndarray]

    def rng(self, draw: int, *key: int) -> np.random.Generator:
        """The noise draw `draw`'s generator for the part `key` names (none: the product's)."""
        return np.random.default_rng([self.seed, draw, self.index, *key])

    def auc(self, params: np.ndarray, columns: list[int] | None, scale: np.ndarray) -> float:
        """The validation AUC of [w, b] reading `columns` (None: all) at column `scale`."""
        x = self.x_eval if columns is None else self.x_eval[:, columns]
        return float(roc_auc_score(self.y_eval, (x * scale) @ params[:-1]))

    def hits(self, sub: SubPanel) -> int:
        """How many causal variants `sub` reads."""
        return int(self.causal[list(sub.selected)].sum())


def noise_free_selection(
    split: Split, ks: list[int], fractions: list[float], res: Results
) -> dict[int, SubPanel]:
    """The oracle's sub-panels (top k of the noise-free combined score) by k; records their causal
    variants, the strongest noise-free variant coordinate and each release's noise sd in `res`."""
    n, eps = len(split.panel), split.epsilon
    weights = size_weights(split.sites)
    clean = sum(w * g for w, g in zip(weights, split.grads, strict=True))
    res.strongest.setdefault(eps, []).append(float(np.max(np.abs(clean[:n]))))
    for f in fractions:
        sd = full_batch_sigma(f * eps, 1) * CLIP * math.sqrt(sum(w**2 for w in weights))
        res.noise_sd.setdefault((f, eps), []).append(sd)
    oracles = {k: sub_panel(split.panel, top_k(clean, n, k), eps) for k in ks}
    for k, sub in oracles.items():
        res.hits.setdefault(("noise-free", k, eps), []).append(split.hits(sub))
    return oracles


def baseline_aucs(split: Split, draw: int) -> dict[str, float]:
    """The product's and the plain DP reference's AUCs in noise draw `draw`."""
    panel, eps = split.panel, split.epsilon
    rule_lr = training_rule("logistic", panel, (), eps).lr
    product = train(split.sites, split.full_scale, eps, rule_lr, split.rng(draw))
    unscaled = np.ones(len(panel) + 2)
    sigma = calibrate_noise(
        [], sample_rate=RATE, steps=ROUNDS * EPOCHS * round(1 / RATE), target_epsilon=eps, delta=DELTA
    )
    reference = federate(split.sites, unscaled, sigma, 1.0 / expected_row_norm(panel), split.rng(draw, 1))
    return {
        PRODUCT: split.auc(product, None, split.full_scale),
        REFERENCE: split.auc(reference, None, unscaled),
    }


def selection_aucs(split: Split, draw: int, fraction: float, ks: list[int], res: Results) -> dict[str, float]:
    """Noise draw `draw` of the private selection spending `fraction` of epsilon on the release:
    stage 2 from zeros and from the release's weights for each k; records each top k's causal
    variants and the start's noise variance ratio in `res`."""
    panel, eps = split.panel, split.epsilon
    x_full = rule_row_norm(panel, (), eps)  # the rule's X_a
    sigma_1 = full_batch_sigma(fraction * eps, 1)
    release = noisy_release(
        split.grads, size_weights(split.sites), sigma_1, split.rng(draw, 2, round(fraction * 100))
    )
    aucs = {}
    for k in ks:
        sub = sub_panel(panel, top_k(release, len(panel), k), eps)
        res.hits.setdefault((f"f {fraction:g}", k, eps), []).append(split.hits(sub))
        ratio = start_variance_ratio(split.sites, sub, x_full, sigma_1, eps)
        res.variance_ratio.setdefault((fraction, k, eps), []).append(ratio)
        # the same stage-2 draws for both starts (and the oracle)
        zeros = train_stage2(split.sites, sub, eps, sigma_1, sub.lr, split.rng(draw, 3))
        start = start_weights(release, sub, x_full, float(split.full_scale[-1]))
        begun = train_stage2(
            split.sites, sub, eps, sigma_1, sub.lr * step_share(eps), split.rng(draw, 3), start=start
        )
        aucs[fraction_label(fraction, k, "zeros")] = split.auc(zeros, sub.columns, sub.scale)
        aucs[fraction_label(fraction, k, "start")] = split.auc(begun, sub.columns, sub.scale)
    return aucs


def oracle_aucs(split: Split, draw: int, oracles: dict[int, SubPanel]) -> dict[str, float]:
    """Noise draw `draw` of stage 2 on each noise-free top k at the full epsilon (no release)."""
    aucs = {}
    for k, sub in oracles.items():
        params = train_stage2(split.sites, sub, split.epsilon, None, sub.lr, split.rng(draw, 3))
        aucs[f"oracle k {k}"] = split.auc(params, sub.columns, sub.scale)
    return aucs


def run_study(args: argparse.Namespace) -> Results:
    """Every design for every seed, epsilon and noise draw (progress on stdout)."""
    started = time.perf_counter()
    panel = VariantPanel.load(Path(args.data) / "panel.tsv")
    causal = causal_variants(Path(args.data), panel)
    res = Results(n_causal=int(causal.sum()), n_variants=len(panel))
    for seed in args.seeds:
        sites, x_eval, y_eval = study_sites(args.data, seed)
        res.smallest = min(d.public_train for d in sites)
        for index, eps in enumerate(args.epsilons):
            full_scale = column_scale(panel, epsilon=eps).astype(np.float64)
            split = Split(
                panel, causal, seed, index, eps, sites, x_eval, y_eval, full_scale,
                gradients_at_zero(sites, full_scale),
            )  # fmt: skip
            oracles = noise_free_selection(split, args.ks, args.fractions, res)
            for draw in range(args.draws):
                aucs = baseline_aucs(split, draw)
                for fraction in args.fractions:
                    aucs |= selection_aucs(split, draw, fraction, args.ks, res)
                aucs |= oracle_aucs(split, draw, oracles)
                for name, auc in aucs.items():
                    res.aucs.setdefault((name, eps), []).append(auc)
                    if name not in res.designs:
                        res.designs.append(name)
        print(f"seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    return res


def paired_standard_errors(res: Results, epsilons: list[float]) -> list[float]:
    """The standard error of each cell's mean paired difference to the product over seeds x draws."""
    errors = []
    for name in res.designs[1:]:
        for eps in epsilons:
            diff = [a - b for a, b in zip(res.aucs[(name, eps)], res.aucs[(PRODUCT, eps)], strict=True)]
            errors.append(statistics.stdev(diff) / math.sqrt(len(diff)) if len(diff) > 1 else 0.0)
    return errors


def print_hits(res: Results, args: argparse.Namespace) -> None:
    """Causal variants in the top k: chance, noise-free and each release, one column per k."""
    n_causal, n_variants = res.n_causal, res.n_variants
    print(f"causal variants in the top k ({n_causal} causal of {n_variants}),")
    print("mean over seeds x draws (noise-free: over seeds):")
    print(f"{'':>22} " + " ".join(f"{'k ' + str(k):>8}" for k in args.ks))
    print(f"{'chance':>22} " + " ".join(f"{k * n_causal / n_variants:>8.1f}" for k in args.ks))
    for eps in args.epsilons:
        for label in ["noise-free", *(f"f {f:g}" for f in args.fractions)]:
            cells = " ".join(f"{statistics.mean(res.hits[(label, k, eps)]):>8.1f}" for k in args.ks)
            print(f"{f'eps {eps:g}, {label}':>22} {cells}")


def print_release(res: Results, args: argparse.Namespace) -> None:
    """One line per epsilon and fraction: the release's epsilon and sigma_1, its noise sd on a
    combined coordinate against the strongest noise-free variant coordinate, stage 2's sigma at the
    smallest declared size (the product's in brackets) and, per k, the start's noise variance per
    coordinate over stage 2's."""
    print("stage 1, one release; means over seeds x draws:")
    print("  noise sd: on a combined coordinate; strongest: the strongest noise-free variant coordinate;")
    print(
        f"  sigma 2: stage 2's at the smallest declared size, n={res.smallest} (the product's in brackets);"
    )
    print("  k K: the start's noise variance per coordinate over stage 2's from zeros")
    header = f"{'eps':>5} {'f':>5} {'release eps':>12} {'sigma_1':>8} {'noise sd':>9} {'strongest':>10}"
    print(f"{header} {'sigma 2':>14} " + " ".join(f"{'k ' + str(k):>7}" for k in args.ks))
    for eps in args.epsilons:
        strongest = statistics.mean(res.strongest[eps])
        for f in args.fractions:
            sigma_1 = full_batch_sigma(f * eps, 1)
            alone = stage2_sigma(res.smallest, eps, None)
            sigma_2 = f"{stage2_sigma(res.smallest, eps, sigma_1):.2f} ({alone:.2f})"
            ratios = " ".join(f"{statistics.mean(res.variance_ratio[(f, k, eps)]):>6.0f}x" for k in args.ks)
            noise_sd = statistics.mean(res.noise_sd[(f, eps)])
            print(
                f"{eps:>5g} {f:>5g} {f * eps:>12.2g} {sigma_1:>8.2f} {noise_sd:>9.2f} {strongest:>10.2f} "
                f"{sigma_2:>14} {ratios}"
            )


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    res = run_study(args)
    print(
        f"\n{args.data}: {len(args.seeds)} seeds x {args.draws} noise draws, scored on the pooled "
        f"validation patients; {time.perf_counter() - started:.0f} s"
    )
    print("\n".join(paired_table(res.aucs, res.designs, PRODUCT, args.epsilons, "design", 22)))
    errors = paired_standard_errors(res, args.epsilons)
    print("in brackets: mean paired difference to the product (same seed, split and draw);")
    print(f"its standard error over seeds x draws: {min(errors):.3f}-{max(errors):.3f}\n")
    print_hits(res, args)
    print()
    print_release(res, args)


if __name__ == "__main__":
    main()
