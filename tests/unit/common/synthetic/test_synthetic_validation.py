"""Synthetic-batch validation on cases with known answers: a fresh draw from the same
simulated population passes; a memorised copy fails privacy; shuffled columns fail LD; shuffled
labels or associations at other variants fail the association checks; a shifted population fails
allele frequencies and PCA overlap. Plus the building blocks against direct computations."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import cdist

from genofed.common.synthetic.checks import (
    Thresholds,
    adversarial_accuracy,
    allelic_log_odds_ratios,
    associations,
    benjamini_hochberg,
    fidelity,
    knn_mixing,
    linkage,
    nearest_distances,
    population_structure,
    privacy,
    r2_matrix,
    record_failures,
    trend_test_pvalues,
    validate_synthetic,
)

N_BLOCKS, BLOCK, N_FOUNDERS, MUTATION = 10, 20, 6, 0.02
N_VARIANTS = N_BLOCKS * BLOCK
DISEASE_BLOCKS = (0, 3, 6)  # causal variants 5, 65, 125 (and 25, 85, 165 for "other variants")
POSITIONS = np.array([b * 1_000_000 + j * 2_000 for b in range(N_BLOCKS) for j in range(BLOCK)])


@dataclass
class Population:
    """Haplotype blocks copied from a few founders (LD inside blocks, none across), two
    subpopulations with different founder mixtures (structure), a logistic disease."""

    founders: np.ndarray  # (blocks, founders, block) 0/1
    weights: np.ndarray  # (subpops, blocks, founders)

    def draw(
        self,
        n: int,
        rng: np.random.Generator,
        *,
        subpop_share: float = 0.5,
        causal: tuple[int, ...] = (5, 65, 125),
        beta: float = 1.2,
    ) -> tuple[np.ndarray, np.ndarray]:
        subpop = (rng.random(n) < subpop_share).astype(int)
        g = np.zeros((n, N_VARIANTS), np.int8)
        for _ in range(2):  # two haplotypes
            for b in range(N_BLOCKS):
                p = self.weights[subpop, b]  # (n, founders)
                which = (p.cumsum(axis=1) > rng.random(n)[:, None]).argmax(axis=1)
                hap = self.founders[b, which].copy()
                flip = rng.random(hap.shape) < MUTATION
                hap[flip] = 1 - hap[flip]
                g[:, b * BLOCK : (b + 1) * BLOCK] += hap.astype(np.int8)
        logit = beta * (g[:, list(causal)] - g[:, list(causal)].mean(axis=0)).sum(axis=1)
        y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
        return g, y


def make_population(seed: int = 7) -> Population:
    rng = np.random.default_rng(seed)
    founders = (
        rng.random((N_BLOCKS, N_FOUNDERS, BLOCK)) < rng.uniform(0.2, 0.8, (N_BLOCKS, 1, BLOCK))
    ).astype(np.int8)
    weights = rng.dirichlet(np.full(N_FOUNDERS, 1.0), size=(2, N_BLOCKS))
    # Disease blocks: two complementary founder haplotypes, equally common in both
    # subpopulations, so every variant of the block tags the causal one almost perfectly and
    # there is no stratification: associations are sharp, and a fresh draw replicates them.
    # (With a continuum of moderate associations, a same-size held-out real sample misses some
    # at the nominal level by chance, so the spurious rate of real data itself exceeds 5 %.)
    for b in DISEASE_BLOCKS:
        founders[b, 1] = 1 - founders[b, 0]
        weights[:, b] = np.r_[0.5, 0.5, np.zeros(N_FOUNDERS - 2)]
    return Population(founders, weights)


@pytest.fixture(scope="module")
def cohort():
    pop = make_population()
    rng = np.random.default_rng(11)
    train, y_train = pop.draw(1000, rng)
    holdout, y_holdout = pop.draw(1000, rng)
    synth, y_synth = pop.draw(1000, rng)
    return dict(
        pop=pop,
        train=train,
        y_train=y_train,
        holdout=holdout,
        y_holdout=y_holdout,
        synth=synth,
        y_synth=y_synth,
    )


def _validate(c, synth, y_synth, **kw):
    return validate_synthetic(
        c["train"],
        c["holdout"],
        synth,
        labels_real=c["y_train"],
        labels_synth=y_synth,
        positions=POSITIONS,
        **kw,
    )


def _check(report, name):
    return next(ch for ch in report.checks if ch.name == name)


# --- verdicts on cases with known answers -----------------------------------------------------


def test_fresh_draw_from_same_population_passes(cohort):
    report = _validate(cohort, cohort["synth"], cohort["y_synth"], labels_holdout=cohort["y_holdout"])
    assert report.passed, report.to_markdown()
    assert report.associations.spurious_rate_holdout == 0.0
    assert report.structure.mixing_holdout > 0.8
    assert report.fidelity.af_correlation >= 0.99
    assert report.ld.ld_correlation >= 0.95
    assert 0.45 <= report.privacy.aats_train <= 0.55
    assert report.privacy.exact_copies == 0
    assert report.privacy.mia_auc <= 0.55
    assert report.associations.n_significant_synthetic > 0  # the check is not passing vacuously
    assert report.associations.spurious_rate < 0.05
    assert report.associations.association_recall >= 0.5


def test_memorised_copy_fails_privacy_but_not_fidelity(cohort):
    report = _validate(cohort, cohort["train"].copy(), cohort["y_train"].copy())
    assert not report.passed
    assert report.privacy.exact_copies == len(cohort["train"])
    assert report.privacy.aats_train < 0.05  # every real record's nearest neighbour is its copy
    assert report.privacy.privacy_loss > 0.3
    assert report.privacy.mia_auc > 0.9
    failed = set(report.failed_checks())
    assert {"exact_copies", "aats_train", "privacy_loss", "mia_auc"} <= failed
    assert "allele_frequency_correlation" not in failed and "ld_correlation" not in failed


def test_shuffled_columns_fail_ld_but_keep_allele_frequencies(cohort):
    rng = np.random.default_rng(3)
    shuffled = cohort["synth"].copy()
    for j in range(shuffled.shape[1]):
        shuffled[:, j] = shuffled[rng.permutation(len(shuffled)), j]
    report = _validate(cohort, shuffled, cohort["y_synth"])
    assert not report.passed
    assert _check(report, "allele_frequency_correlation").passed
    assert not _check(report, "ld_correlation").passed
    assert report.ld.ld_correlation < 0.5


def test_shuffled_labels_fail_association_recall(cohort):
    y = np.random.default_rng(5).permutation(cohort["y_synth"])
    report = _validate(cohort, cohort["synth"], y)
    assert not report.passed
    assert report.associations.n_significant_real > 0
    assert not _check(report, "association_recall").passed
    assert report.associations.association_recall < 0.2
    assert _check(report, "allele_frequency_correlation").passed


def test_associations_at_other_variants_fail_spurious_rate(cohort):
    synth, y = cohort["pop"].draw(1000, np.random.default_rng(13), causal=(25, 85, 165))
    report = _validate(cohort, synth, y)
    assert not report.passed
    assert report.associations.spurious_rate > 0.5
    assert not _check(report, "spurious_association_rate").passed
    assert _check(report, "allele_frequency_correlation").passed


def test_population_shift_fails_allele_frequencies_and_pca(cohort):
    synth, y = cohort["pop"].draw(1000, np.random.default_rng(17), subpop_share=1.0)
    report = _validate(cohort, synth, y)
    assert not report.passed
    assert not _check(report, "allele_frequency_correlation").passed
    assert not _check(report, "pca_mixing").passed
    assert report.structure.mixing_holdout > 0.8  # real data of the same population mixes


def test_report_serialises_and_renders(cohort):
    report = _validate(cohort, cohort["train"], cohort["y_train"])
    d = report.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["passed"] is False and "exact_copies" in d["failed_checks"]
    assert "log_or_real" not in d["associations"]
    assert len(report.to_dict(per_variant=True)["associations"]["p_real"]) == N_VARIANTS
    md = report.to_markdown()
    assert "FAILED" in md and "| exact_copies |" in md and "FAIL |" in md


def test_thresholds_are_configurable(cohort):
    shuffled_labels = np.random.default_rng(5).permutation(cohort["y_synth"])
    loose = Thresholds(association_recall_min=None, pca_mixing_min=None)
    report = _validate(cohort, cohort["synth"], shuffled_labels, thresholds=loose)
    assert report.passed, report.failed_checks()
    assert not _check(report, "association_recall").applicable


def test_record_failures_flags_copies_and_few_fresh_records(cohort):
    synth = cohort["synth"].copy()
    synth[:10] = cohort["train"][:10]  # exact copies
    synth[10:20] = cohort["train"][10:20]
    synth[10:20, :2] = 2 - synth[10:20, :2]  # near copies: at most 4 dosage units away
    bad = record_failures(real_train=cohort["train"], real_holdout=cohort["holdout"], synthetic=synth)
    assert bad.dtype == bool and bad.shape == (len(synth),)
    assert bad[:20].all()
    assert bad[20:].mean() <= 0.06  # about the 5th percentile of a fresh draw, by construction


def test_a_batch_of_copies_only_is_refused_in_words_not_a_traceback(cohort):
    """An outside walkthrough (`genofed synth --temperature 0.7` on 220 real patients): the filter
    dropped every record and validation ended in "nearest_distances needs a reference set with
    another record", with no file saying why."""
    from genofed.common.synthetic.config_base import SyntheticRecords
    from genofed.common.synthetic.pipeline import AllRecordsDropped, filter_and_validate

    dosages = np.concatenate([cohort["train"][:200], cohort["holdout"][:50]])
    labels = np.concatenate([cohort["y_train"][:200], cohort["y_holdout"][:50]])
    train, holdout = np.arange(200), np.arange(200, 250)
    copies = SyntheticRecords(genotypes=dosages[:40].copy(), labels=labels[:40].copy())
    with pytest.raises(AllRecordsDropped, match="dropped 40 of the 40 generated records.*--temperature"):
        filter_and_validate(dosages, labels, train, holdout, copies)
    one_left = SyntheticRecords(
        genotypes=np.concatenate([dosages[:39], cohort["synth"][:1]]), labels=labels[:40]
    )
    with pytest.raises(AllRecordsDropped):  # one record cannot be validated either
        filter_and_validate(dosages, labels, train, holdout, one_left)


def test_rejects_missing_codes_and_mismatched_columns(cohort):
    bad = cohort["synth"].copy()
    bad[0, 0] = -1
    with pytest.raises(ValueError, match="missing"):
        fidelity(real=cohort["train"], synthetic=bad)
    with pytest.raises(ValueError, match="variants"):
        fidelity(real=cohort["train"], synthetic=cohort["synth"][:, :10])


# --- building blocks against direct computations ----------------------------------------------


def test_nearest_distances_match_scipy_cityblock():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 3, (57, 31)), rng.integers(0, 3, (43, 31))
    full = cdist(a, b, "cityblock")
    np.testing.assert_array_equal(nearest_distances(a, b), full.min(axis=1))
    self_d = cdist(a, a, "cityblock")
    np.fill_diagonal(self_d, np.inf)
    np.testing.assert_array_equal(nearest_distances(a, a, exclude_self=True), self_d.min(axis=1))


def test_adversarial_accuracy_extremes():
    rng = np.random.default_rng(1)
    real = rng.integers(0, 2, (100, 50))
    assert adversarial_accuracy(real, real.copy()) == 0.0  # memorised
    assert adversarial_accuracy(real, real + 1) > 0.99  # separated: nearest neighbours are own kind
    other = rng.integers(0, 2, (100, 50))
    assert abs(adversarial_accuracy(real, other) - 0.5) < 0.1  # same distribution


def test_privacy_of_memorised_copy():
    rng = np.random.default_rng(2)
    train, holdout = rng.integers(0, 3, (200, 60)), rng.integers(0, 3, (200, 60))
    p = privacy(real_train=train, real_holdout=holdout, synthetic=train.copy())
    assert p.exact_copies == 200 and p.dcr_synthetic_median == 0
    assert p.mia_auc == 1.0 and p.aats_train == 0.0


def test_r2_matrix_and_linkage_known_values():
    rng = np.random.default_rng(3)
    g = rng.integers(0, 3, (300, 5))
    g[:, 1] = g[:, 0]  # perfect LD
    g[:, 4] = 1  # monomorphic
    r2 = r2_matrix(g)
    np.testing.assert_allclose(r2[:4, :4], np.corrcoef(g[:, :4].T) ** 2, atol=1e-12)
    assert r2[0, 1] == pytest.approx(1.0) and np.all(r2[4] == 0)
    same = linkage(real=g, synthetic=g.copy())
    assert same.ld_correlation == pytest.approx(1.0) and same.n_pairs == 6  # monomorphic pairs left out


def test_r2_decay_is_higher_within_blocks(cohort):
    ld = linkage(real=cohort["train"], synthetic=cohort["synth"], positions=POSITIONS)
    bins, real = np.array(ld.decay_bins), ld.decay_real
    within = [r for lo, r in zip(bins[:-1], real, strict=False) if r is not None and lo < BLOCK * 2_000]
    far = [r for lo, r in zip(bins[:-1], real, strict=False) if r is not None and lo >= 1e6]
    assert min(within) > 5 * max(far)
    assert sum(ld.decay_pairs) == ld.n_pairs


def test_windows_do_not_cross_chromosomes():
    rng = np.random.default_rng(4)
    g = rng.integers(0, 3, (100, 30))
    chrom = np.repeat([1, 2, 3], 10)
    ld = linkage(real=g, synthetic=g, window=200, chromosomes=chrom)
    assert ld.n_windows == 3 and ld.n_pairs == 3 * 45


def test_association_statistics_known_values():
    g = np.array([[0], [1], [2], [2], [0], [0], [1], [0]])
    y = np.array([0, 1, 1, 1, 0, 0, 1, 0])
    # cases: alt 6 of 8 alleles; controls: alt 0 of 8 -> Haldane (6.5 * 8.5) / (2.5 * 0.5)
    assert allelic_log_odds_ratios(g, y)[0] == pytest.approx(np.log(6.5 * 8.5 / (2.5 * 0.5)))
    r = np.corrcoef(g[:, 0], y)[0, 1]
    assert trend_test_pvalues(g, y)[0] == pytest.approx(stats.chi2.sf(8 * r**2, 1))
    p = np.random.default_rng(5).random(200) ** 3
    np.testing.assert_array_equal(benjamini_hochberg(p, q=0.05), stats.false_discovery_control(p) <= 0.05)


def test_holdout_reference_rate_is_the_rate_of_holdout_as_synthetic(cohort):
    kw = dict(real=cohort["train"], labels_real=cohort["y_train"])
    as_synth = associations(**kw, synthetic=cohort["holdout"], labels_synth=cohort["y_holdout"])
    ref = associations(
        **kw,
        synthetic=cohort["synth"],
        labels_synth=cohort["y_synth"],
        holdout=cohort["holdout"],
        labels_holdout=cohort["y_holdout"],
    )
    assert ref.spurious_rate_holdout == as_synth.spurious_rate
    assert (
        associations(**kw, synthetic=cohort["synth"], labels_synth=cohort["y_synth"]).spurious_rate_holdout
        is None
    )


def test_spurious_rate_counts_opposite_signs():
    rng = np.random.default_rng(6)
    g = rng.integers(0, 3, (600, 4))
    y = (rng.random(600) < 1 / (1 + np.exp(-(g[:, 0] - 1) * 1.5))).astype(int)
    flipped = g.copy()
    flipped[:, 0] = 2 - flipped[:, 0]  # same strength, opposite direction
    a = associations(real=g, labels_real=y, synthetic=flipped, labels_synth=y)
    assert a.n_significant_synthetic >= 1 and a.spurious_rate == 1.0 and a.association_recall == 0.0
    ok = associations(real=g, labels_real=y, synthetic=g, labels_synth=y)
    assert (
        ok.spurious_rate == 0.0
        and ok.association_recall == 1.0
        and ok.effect_correlation == pytest.approx(1.0)
    )


def test_knn_mixing_and_structure_extremes():
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(300, 3)), rng.normal(size=(200, 3))
    assert knn_mixing(a, b) == pytest.approx(1.0, abs=0.15)
    assert knn_mixing(a, b + 20) == 0.0
    g = rng.integers(0, 3, (200, 40))
    s = population_structure(real=g, synthetic=g.copy(), holdout=g.copy(), n_components=3)
    assert s.n_components == 3 and s.mean_shift == pytest.approx(0.0, abs=1e-9)


def test_the_tests_permissive_thresholds_fail_no_value():
    """PERMISSIVE (tests/helpers/synthetic.py) must let any batch pass: with a spurious-rate limit
    of 1.0 the strict check failed a batch whose one finding was spurious (rate 1.0), which a
    reference release with secret noise at epsilon 1 drew now and then (a flaky synth test)."""
    from helpers.synthetic import PERMISSIVE

    from genofed.common.synthetic.checks.verdict import _at_most

    assert _at_most("spurious_association_rate", 1.0, PERMISSIVE.spurious_rate_max, strict=True).passed
