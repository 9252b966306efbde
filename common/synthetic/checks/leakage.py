"""Privacy: does a synthetic batch leak its training records? Distance to closest record (DCR)
against the real holdout as the no-leak reference, exact and near copies, nearest-neighbour
adversarial accuracy (AA_TS, AA_ES, privacy loss) and a distance-based membership-inference
attack; and the mask of synthetic records to drop as copies.

Inputs follow the data model in the package docstring (`genofed.common.synthetic.checks`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from genofed.common.synthetic.checks.arrays import as_dosages
from genofed.common.synthetic.checks.distances import nearest_distances


@dataclass(frozen=True)
class PrivacyResult:
    """Leakage of training records into the synthetic set."""

    dcr_synthetic_median: float  # L1 distance of each synthetic record to its nearest training record
    dcr_synthetic_p05: float
    dcr_holdout_median: float  # the same for real holdout records: the no-leak reference
    dcr_holdout_p05: float
    exact_copies: int  # synthetic records identical to a training record
    exact_copies_holdout: int  # holdout records identical to a training record (real people can coincide)
    near_copies: int  # synthetic records with DCR < the holdout's 5th percentile (see record_failures)
    aats_train: float  # AA_TS, Yale et al. 2020, training vs synthetic on n_aats_train records of each
    aats_holdout: float  # AA_ES, n_subsample holdout vs n_subsample synthetic records
    privacy_loss: float  # aats_holdout - aats_train_for_loss, exactly
    privacy_loss_se: float  # its approximate standard error (sampling noise at this n; never 0)
    mia_auc: float  # members = training, non-members = holdout, score = -distance to nearest synthetic
    n_subsample: int  # records per set used for the privacy loss (equal sizes, seeded)
    # AA_TS on n_subsample training records vs the same n_subsample synthetic records as
    # aats_holdout: the AA_TS the privacy loss subtracts (an audit found aats_holdout - aats_train
    # of the opposite sign to the privacy_loss beside them, aats_train being on more records)
    aats_train_for_loss: float
    n_aats_train: int  # records per set behind aats_train (as many as training and synthetic share)
    mia_auc_se: float  # mia_auc's standard error when members and non-members are alike (no leak)


def adversarial_accuracy(real: np.ndarray, synthetic: np.ndarray) -> float:
    """Nearest-neighbour adversarial accuracy (Yale et al. 2020):
    AA = 0.5 * (mean[d_RS > d_RR] + mean[d_SR > d_SS]), where d_RS is a real record's distance
    to the nearest synthetic one, d_RR to the nearest other real one, and so on: the accuracy of
    a 1-NN classifier telling real from synthetic. 0.5 = indistinguishable; near 0 = synthetic
    records sit on top of real ones (memorised); near 1 = easy to tell apart. Ties, frequent
    with integer distances, count 1/2 (a fair coin). Use sets of equal size."""
    real_correct, synth_correct = _adversarial_indicators(real, synthetic)
    return float(0.5 * (real_correct.mean() + synth_correct.mean()))


def _adversarial_indicators(real: np.ndarray, synthetic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per record: 1 if its nearest neighbour is of its own kind, 0 if of the other, 1/2 on a tie."""
    d_rs, d_rr = nearest_distances(real, synthetic), nearest_distances(real, real, exclude_self=True)
    d_sr, d_ss = (
        nearest_distances(synthetic, real),
        nearest_distances(synthetic, synthetic, exclude_self=True),
    )
    return (d_rs > d_rr) + 0.5 * (d_rs == d_rr), (d_sr > d_ss) + 0.5 * (d_sr == d_ss)


def privacy(
    *,
    real_train: np.ndarray,
    real_holdout: np.ndarray,
    synthetic: np.ndarray,
    near_copy_quantile: float = 0.05,
    seed: int = 0,
) -> PrivacyResult:
    """Distance to closest record (DCR) of synthetic vs holdout records to the training set; exact
    copies; AA_TS on equal-size seeded subsamples of training and synthetic records (`aats_train`,
    as many as both have); the privacy loss AA_ES - AA_TS with both on subsamples of the smallest
    set's size (AA is biased when set sizes differ; its AA_TS is `aats_train_for_loss`); the
    membership-inference AUC of the attack "a record was in training if a synthetic record lies
    close to it"; and the standard errors of the loss and of the AUC (`checks.precision` reads
    them: at a clinic's size they exceed the limits)."""
    train = as_dosages(real_train, "real_train")
    holdout = as_dosages(real_holdout, "real_holdout", train.shape[1])
    synthetic = as_dosages(synthetic, "synthetic", train.shape[1])
    dcr_s = nearest_distances(synthetic, train)
    dcr_h = nearest_distances(holdout, train)
    near = float(np.quantile(dcr_h, near_copy_quantile))
    rng = np.random.default_rng(seed)
    n = min(len(train), len(holdout), len(synthetic))

    def sub(x: np.ndarray, size: int = n) -> np.ndarray:
        return x[np.sort(rng.choice(len(x), size=size, replace=False))]

    syn_n = sub(synthetic)
    t_real, t_syn = _adversarial_indicators(sub(train), syn_n)
    e_real, e_syn = _adversarial_indicators(sub(holdout), syn_n)
    aa_holdout = float(0.5 * (e_real.mean() + e_syn.mean()))
    # AA_TS itself is judged on as many records as training and synthetic share (the holdout is
    # a fifth of the site: at 200 patients an AA_TS on 40 records swings by +-0.05 for
    # independent real people); the privacy loss compares AA_TS and AA_ES at the holdout's size.
    m = min(len(train), len(synthetic))
    aa_train = float(adversarial_accuracy(sub(train, m), sub(synthetic, m))) if m > n else None
    aa_train_n = float(0.5 * (t_real.mean() + t_syn.mean()))
    d_members, d_nonmembers = nearest_distances(train, synthetic), nearest_distances(holdout, synthetic)
    truth = np.r_[np.ones(len(train)), np.zeros(len(holdout))]
    mia = float(roc_auc_score(truth, -np.r_[d_members, d_nonmembers]))
    return PrivacyResult(
        dcr_synthetic_median=float(np.median(dcr_s)),
        dcr_synthetic_p05=float(np.quantile(dcr_s, 0.05)),
        dcr_holdout_median=float(np.median(dcr_h)),
        dcr_holdout_p05=float(np.quantile(dcr_h, 0.05)),
        exact_copies=int((dcr_s == 0).sum()),
        exact_copies_holdout=int((dcr_h == 0).sum()),
        near_copies=int(((dcr_s < near) | (dcr_s == 0)).sum()),
        aats_train=aa_train_n if aa_train is None else aa_train,
        aats_holdout=aa_holdout,
        privacy_loss=aa_holdout - aa_train_n,
        privacy_loss_se=privacy_loss_se(t_real, e_real, e_syn - t_syn),
        mia_auc=mia,
        n_subsample=n,
        aats_train_for_loss=aa_train_n,
        n_aats_train=max(m, n),
        mia_auc_se=auc_null_se(len(train), len(holdout)),
    )


def privacy_loss_se(train_real: np.ndarray, holdout_real: np.ndarray, synthetic_diff: np.ndarray) -> float:
    """The privacy loss's standard error from the per-record 1-NN indicators of n records each: the
    training and holdout records' (independent samples) and the difference of each synthetic
    record's two (paired: the same synthetic records face both). Each variance is taken with
    pseudo-counts, so a set whose indicators all agree (every record nearest its own kind, at
    small n) does not read as no sampling noise at all (an audit was shown "standard error is 0"):
    one 0 and one 1 added to each independent proportion (Agresti and Caffo, 2000) and half a
    count to each cell of the paired 2 x 2 table (Agresti and Min, 2005), which adds weight 1/2
    at -1 and at +1 and weight 1 at 0 to the differences; n + 2 in the denominator. For large n
    this is the plain plug-in standard error.

    Args:
        train_real: (n,) indicators of training records (1 own kind nearest, 0 other, 1/2 tie).
        holdout_real: (n,) the same for holdout records.
        synthetic_diff: (n,) holdout-side minus training-side indicator of each synthetic record.
    """
    n = len(train_real)
    one_each = (np.array([0.0, 1.0]), np.array([1.0, 1.0]))
    paired = (np.array([-1.0, 1.0, 0.0]), np.array([0.5, 0.5, 1.0]))
    variances = [
        _padded_variance(train_real, *one_each),
        _padded_variance(holdout_real, *one_each),
        _padded_variance(synthetic_diff, *paired),
    ]
    return 0.5 * math.sqrt(sum(variances) / (n + 2))


def _padded_variance(values: np.ndarray, extra: np.ndarray, weights: np.ndarray) -> float:
    """The variance of `values` (weight 1 each) together with the pseudo-observations `extra`
    (weighted `weights`)."""
    x = np.r_[np.asarray(values, dtype=np.float64), extra]
    w = np.r_[np.ones(len(values)), weights]
    mean = np.average(x, weights=w)
    return float(np.average((x - mean) ** 2, weights=w))


def auc_null_se(n_members: int, n_nonmembers: int) -> float:
    """The standard error of an AUC when members and non-members score alike (the Mann-Whitney U
    statistic's null variance n1 n2 (n1 + n2 + 1) / 12, divided by (n1 n2)^2; ties make it a
    little smaller): how far a membership-inference AUC strays from 0.5 by sampling alone."""
    n1, n2 = n_members, n_nonmembers
    return math.sqrt((n1 + n2 + 1) / (12.0 * n1 * n2))


def aats_null_se(n: int) -> float:
    """The standard error of AA_TS on `n` records of each set when the synthetic records are as
    far from the training records as other real people are: it averages 2n nearest-neighbour
    indicators, each 1 with probability 1/2, so sqrt(1/4 / 2n) (their dependence ignored; an audit
    measured 0.053 at 48 records, against 0.051 here)."""
    return math.sqrt(1.0 / (8.0 * n)) if n > 0 else math.inf


def record_failures(
    *,
    real_train: np.ndarray,
    real_holdout: np.ndarray,
    synthetic: np.ndarray,
    quantile: float = 0.05,
) -> np.ndarray:
    """Boolean mask of synthetic records to drop: exact copies of a training record, and near
    copies, whose distance to the closest training record is below the `quantile` of the real
    holdout's distances to the training set (closer than all but 5 % of unseen real people).
    By construction a well-behaved generator loses about `quantile` of its records (fewer with
    tied integer distances, as the comparison is strict)."""
    train = as_dosages(real_train, "real_train")
    holdout = as_dosages(real_holdout, "real_holdout", train.shape[1])
    synthetic = as_dosages(synthetic, "synthetic", train.shape[1])
    dcr_s = nearest_distances(synthetic, train)
    cut = float(np.quantile(nearest_distances(holdout, train), quantile))
    return (dcr_s == 0) | (dcr_s < cut)
