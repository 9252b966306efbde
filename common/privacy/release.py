"""What a hospital may release about a model's predictions on its own patients: a noisy histogram.

Any exact number computed on patients over a model the coordinator chose (a loss, an AUC, an
accuracy) is a query on the data: a model with all its weight on one rare variant turns a
validation loss into one patient's label. So a site evaluates the coordinator's model by
releasing one Gaussian mechanism: the counts of its validation patients by class (control,
case) and by predicted-risk bin, each count plus N(0, sigma^2) noise.

Why a histogram: under add/remove-one-patient neighbouring (the one Opacus' RDP accountant
uses), one patient moves exactly one cell by one, so the whole 2 x `SCORE_BINS` vector has L2
sensitivity 1, whatever the model. One release is then exactly one step of the subsampled
Gaussian with sample rate 1 in RDP terms, `(sigma, 1.0, 1)`, which the site's ledger composes
with its DP-SGD training in the same history. Everything the coordinator wants (an AUC, the
accuracy or sensitivity and specificity at any bin edge, calibration, an operating threshold)
is then post-processing of the noisy counts, free of further privacy cost.

The bins are fixed and public (equal widths on [0, 1]); the histogram is released with
deterministic noise from a seed the site derives from its secret and the query's inputs, so
the same query asked twice gets the same answer (and is charged once), and a different query
is a new, charged release.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from genofed.common.privacy.secret_noise import SecretNoise
from genofed.common.privacy.snapping import snap
from genofed.common.util.checks import require_positive

#: Predicted-risk bins of the released histogram: equal widths on [0, 1]. 0.5 is an edge, so the
#: accuracy at the usual threshold is read exactly from the bins.
SCORE_BINS = 10

#: Noise of an evaluation release per noisy count, a rule from public facts only (the site's
#: budget and how many evaluations the plan pays for), so no tuning on patients is needed:
#: sigma = EVALUATION_NOISE_SCALE * sqrt(evaluations) / epsilon, at least EVALUATION_NOISE_FLOOR.
#: k releases at sigma * sqrt(k) cost in RDP what one release at sigma does. What one evaluation
#: costs the training's noise is measured in docs/private-evaluation.md ("What it costs"). The
#: site plans with it (client/budget.py); the coordinator reads the same rule for the noise a
#: fresh site's plan gives (server/noise_weighting.py).
EVALUATION_NOISE_SCALE = 12.0
EVALUATION_NOISE_FLOOR = 2.0


def evaluation_noise(budget: float, evaluations: int) -> float:
    """The noise per count of each evaluation release, from public facts (see EVALUATION_NOISE_SCALE)."""
    if math.isinf(budget):
        return 0.0
    return max(EVALUATION_NOISE_FLOOR, EVALUATION_NOISE_SCALE * math.sqrt(max(1, evaluations)) / budget)


def evaluation_steps(budget: float, evaluations: int) -> list[tuple[float, float, int]]:
    """What a plan reserves in its history for its `evaluations` releases at `evaluation_noise`
    (none without any): the same for the site that plans (client/budget.py) and the coordinator
    that computes a fresh site's noise (server/noise_weighting.py)."""
    if not evaluations:
        return []
    return [(evaluation_noise(budget, evaluations), 1.0, evaluations)]


def score_histogram(labels: np.ndarray, probabilities: np.ndarray, bins: int = SCORE_BINS) -> np.ndarray:
    """Exact counts, shape (2, bins): row 0 controls, row 1 cases, columns by predicted risk.

    Total on any input: a NaN risk counts as 0.5 and infinite ones as 0 or 1, so the histogram
    always has one count per patient. A crafted model can make some patients' risks NaN (weights
    that overflow for the carriers of chosen variants); were that an error, whether the release
    failed would tell which variants the patients carry, outside any DP accounting."""
    labels = np.asarray(labels).astype(int).reshape(-1)
    probs = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    probs = np.clip(np.nan_to_num(probs, nan=0.5, posinf=1.0, neginf=0.0), 0.0, 1.0)
    if labels.shape != probs.shape:
        raise ValueError(f"{labels.size} labels but {probs.size} predictions")
    column = np.minimum((probs * bins).astype(int), bins - 1)  # a risk of exactly 1.0 goes in the top bin
    histogram = np.zeros((2, bins), dtype=np.float64)
    np.add.at(histogram, (labels, column), 1.0)
    return histogram


def noisy_histogram(histogram: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """`histogram` + N(0, sigma^2) per cell, drawn from `seed` (the same seed, the same release)
    through a stream cipher (`secret_noise`: no seed can be found from the draws), rounded to the
    grid of `snapping.snap` (a sixteenth of sigma or finer): the exact float bits of a noisy count
    told which counts it could not be (`genofed.common.privacy.snapping`)."""
    require_positive("sigma", sigma, message=f"the release's noise must be positive, got sigma {sigma}")
    return snap(histogram + sigma * SecretNoise(seed, "evaluation").normal(histogram.shape), sigma)


def release_step(sigma: float) -> tuple[float, float, int]:
    """The release as one step of the site's RDP history: (noise multiplier, sample rate, steps)."""
    return (float(sigma), 1.0, 1)


def as_histogram(values: Sequence[float], bins: int = SCORE_BINS) -> np.ndarray:
    """A released flat list (controls' bins, then cases' bins) back as a (2, bins) array."""
    array = np.asarray(list(values), dtype=np.float64)
    if array.size != 2 * bins:
        raise ValueError(f"a score histogram has {2 * bins} counts, got {array.size}")
    return array.reshape(2, bins)


def pooled_histogram(released: Sequence[Sequence[float]], bins: int = SCORE_BINS) -> np.ndarray:
    """The sum of several sites' released flat histograms: the histogram of all their patients."""
    return np.sum([as_histogram(values, bins) for values in released], axis=0)


def histogram_metrics(histogram: np.ndarray, threshold_bin: int | None = None) -> dict[str, float | None]:
    """Post-processing of a (noisy) histogram: patients, cases, AUC, accuracy at 0.5 and more.

    The noisy counts are used as released, negative ones included: every sum of them is then
    unbiased, and the AUC's numerator too (a sum of products of independent noisy counts). Setting
    negative counts to zero first would add about 0.4 sigma to every empty cell: a 30-patient
    site's 20 cells then count about 38 patients at sigma 2, and its AUC falls towards 0.5 (0.72
    read as 0.63 on average, `docs/report.md`), the more the smaller the site. The price is a
    wider spread, which the report's interval carries (`auc_noise_sd`). Ratios are clipped into
    [0, 1]. The AUC is the binned Mann-Whitney statistic (pairs in one bin count half), so even
    exact counts give the AUC of the model's risk rounded to its bin. None where a class is
    (noisily) empty.
    """
    counts = np.asarray(histogram, dtype=np.float64)
    bins = counts.shape[1]
    cut = bins // 2 if threshold_bin is None else threshold_bin
    controls, cases = counts[0], counts[1]
    n_controls, n_cases = float(controls.sum()), float(cases.sum())
    total = n_controls + n_cases
    raw = _raw_auc(counts)
    auc = None if raw is None else min(max(raw, 0.0), 1.0)
    true_pos, true_neg = float(cases[cut:].sum()), float(controls[:cut].sum())
    return {
        "patients": total,
        "cases": n_cases,
        "auc": auc,
        "accuracy": _share(true_pos + true_neg, total) if total > 0 else None,
        "sensitivity": _share(true_pos, n_cases) if n_cases > 0 else None,
        "specificity": _share(true_neg, n_controls) if n_controls > 0 else None,
    }


def _share(part: float, whole: float) -> float:
    """part / whole of noisy counts, clipped into [0, 1] (noise can push it out)."""
    return float(min(max(part / whole, 0.0), 1.0))


def auc_noise_sd(histogram: np.ndarray, sigma: float, draws: int = 200, seed: int = 0) -> float | None:
    """How much the DP noise alone moves the AUC read from a released histogram: the standard
    deviation of the AUC over `draws` further noise draws of the same size (a parametric
    bootstrap; post-processing, so free). The sampling error of a small validation set comes on
    top. None when fewer than half the draws have both classes."""
    if sigma <= 0:
        return 0.0
    rng = np.random.default_rng(seed)
    # the ratio before it is clipped into [0, 1]: where the noise swamps a small site's counts, the
    # clipped AUC sits at 0 or 1 in every draw and would show no spread at all
    aucs = [_raw_auc(histogram + rng.normal(0.0, sigma, size=histogram.shape)) for _ in range(draws)]
    finite = [a for a in aucs if a is not None]
    # a class noisily empty in most draws (a released class total near or below 0): no spread to give
    return float(np.std(finite)) if len(finite) >= draws / 2 else None


def _raw_auc(counts: np.ndarray) -> float | None:
    """`histogram_metrics`' binned Mann-Whitney AUC of noisy counts, not clipped; None where a
    class is (noisily) empty."""
    controls, cases = counts[0], counts[1]
    n_controls, n_cases = float(controls.sum()), float(cases.sum())
    if n_cases <= 0 or n_controls <= 0:
        return None
    below = np.concatenate([[0.0], np.cumsum(controls)[:-1]])  # controls in lower bins, per case bin
    return float(np.sum(cases * (below + 0.5 * controls)) / (n_cases * n_controls))
