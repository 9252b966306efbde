"""Every metric of one synthetic set against a dataset's training half, and the synthetic-data
targets judged on them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from genofed.common.synthetic.checks import Thresholds, allele_frequencies, nearest_distances, r2_matrix
from genofed.simulations.experiments.synthetic_fidelity.datasets import Dataset, EvalSets

#: The synthetic-data targets: the FIXED limits of `checks.Thresholds` (AF r >= 0.99, LD r >= 0.95,
#: AATS 0.45-0.55), the figures of the literature this experiment compares with, not the
#: sample-size band a hospital's batch is judged on.
TARGETS = Thresholds(fidelity_limits="fixed")


def aats_from_distances(
    d_rs: np.ndarray, d_rr: np.ndarray, d_sr: np.ndarray, d_ss: np.ndarray, *, tie: float
) -> float:
    """AATS from the four nearest-neighbour distance vectors, ties weighted `tie` (1/2:
    `checks.adversarial_accuracy`; 0: Yale et al.'s strict `>`, which the README used).
    Integer distances tie often, so the two conventions differ by about 0.03."""
    return float(
        0.5 * (((d_rs > d_rr) + tie * (d_rs == d_rr)).mean() + ((d_sr > d_ss) + tie * (d_sr == d_ss)).mean())
    )


@dataclass
class Reference:
    """What every row of one dataset is compared with (computed once per dataset)."""

    train_all: np.ndarray  # all training records
    af: np.ndarray
    r2: np.ndarray
    train_people_dosages: np.ndarray


def reference(ds: Dataset) -> Reference:
    train_all = ds.records(ds.train)
    return Reference(
        train_all, allele_frequencies(train_all), r2_matrix(train_all), ds.people_dosages(train_all)
    )


def _pearson_pairs(
    r2_real: np.ndarray, r2_syn: np.ndarray, keep: np.ndarray, pairs: np.ndarray | None = None
) -> float:
    """Pearson r of the r^2 of variant pairs i < j with both variants in `keep` (and `pairs[i, j]`)."""
    iu = np.triu_indices(len(r2_real), k=1)
    mask = keep[iu[0]] & keep[iu[1]]
    if pairs is not None:
        mask &= pairs[iu]
    a, b = r2_real[iu][mask], r2_syn[iu][mask]
    return float(np.corrcoef(a, b)[0, 1]) if a.size > 1 and a.std() > 0 and b.std() > 0 else float("nan")


def measure(ds: Dataset, ref: Reference, sets: EvalSets, synthetic: np.ndarray) -> dict[str, float]:
    """Every metric of one synthetic set (records as rows), against the dataset's training half.
    DCR, exact copies and the membership-inference AUC follow `checks.privacy`: members = all
    training records, non-members = E, attack score = -distance to the nearest synthetic record."""
    s = np.asarray(synthetic, dtype=np.int8)
    t, e = ds.records(sets.train_people), ds.records(sets.test_people)
    polymorphic = ref.train_all.min(axis=0) != ref.train_all.max(axis=0)
    r2_syn = r2_matrix(s)
    same_chrom = ds.chromosomes[:, None] == ds.chromosomes[None, :]
    af_s = allele_frequencies(s)
    # Each distance vector once (the AATS of both tie conventions, DCR and MIA share them):
    # `checks.privacy` would recompute its own AATS on top, doubling the cost.
    nn = nearest_distances
    d_ss = nn(s, s, exclude_self=True)
    aats = {}
    for name, real in (("train", t), ("test", e)):
        d_rs, d_rr, d_sr = nn(real, s), nn(real, real, exclude_self=True), nn(s, real)
        for suffix, tie in (("", 0.5), ("_strict", 0.0)):
            aats[f"aats_{name}{suffix}"] = aats_from_distances(d_rs, d_rr, d_sr, d_ss, tie=tie)
        if name == "test":
            d_nonmembers = d_rs
    dcr_s, dcr_e = nn(s, ref.train_all), nn(e, ref.train_all)
    d_members = nn(ref.train_all, s)
    truth = np.r_[np.ones(len(d_members)), np.zeros(len(d_nonmembers))]
    mia = float(roc_auc_score(truth, -np.r_[d_members, d_nonmembers]))
    people = ds.people_dosages(s)
    genotype_copies = int((nn(people, ref.train_people_dosages) == 0).sum())
    return {
        "af_correlation": float(np.corrcoef(ref.af, af_s)[0, 1]) if af_s.std() > 0 else float("nan"),
        "af_mean_abs_diff": float(np.abs(ref.af - af_s).mean()),
        "ld_correlation": _pearson_pairs(ref.r2, r2_syn, polymorphic),
        "ld_correlation_within_chrom": _pearson_pairs(ref.r2, r2_syn, polymorphic, same_chrom),
        "mean_r2_real": float(ref.r2[np.triu_indices(len(ref.r2), 1)].mean()),
        "mean_r2_synthetic": float(r2_syn[np.triu_indices(len(r2_syn), 1)].mean()),
        **aats,
        "privacy_loss": aats["aats_test"] - aats["aats_train"],
        "privacy_loss_strict": aats["aats_test_strict"] - aats["aats_train_strict"],
        "exact_copies": int((dcr_s == 0).sum()),
        "exact_copies_genotypes": genotype_copies,
        "exact_copies_heldout_real": int((dcr_e == 0).sum()),
        "dcr_median": float(np.median(dcr_s)),
        "dcr_median_heldout_real": float(np.median(dcr_e)),
        "mia_auc": mia,
        "n_records": len(s),
    }


def targets(metrics: dict[str, Any]) -> dict[str, bool]:
    """The synthetic-data targets, on one row's (mean) metrics; AATS with ties = 1/2 (our checks)."""
    t = TARGETS

    def ok(value: Any, test: Callable[[float], bool]) -> bool:
        return value is not None and math.isfinite(float(value)) and bool(test(float(value)))

    return {
        "af": ok(metrics.get("af_correlation"), lambda v: v >= t.af_correlation_min),
        "ld": ok(metrics.get("ld_correlation"), lambda v: v >= t.ld_correlation_min),
        "aats": ok(metrics.get("aats_train"), lambda v: t.aats_low <= v <= t.aats_high),
        "privacy_loss": ok(metrics.get("privacy_loss"), lambda v: v < t.privacy_loss_max),
        "exact_copies": ok(metrics.get("exact_copies"), lambda v: v <= t.exact_copies_max)
        and ok(metrics.get("exact_copies_genotypes"), lambda v: v <= t.exact_copies_max),
        "mia_auc": ok(metrics.get("mia_auc"), lambda v: v <= t.mia_auc_max),
    }
