"""Genotype-aware augmentation: every transform's statistics on a large random matrix
(binomial tolerances of 5 sigma), the values it may produce, known-causal protection, same-label
partners, determinism by seed, and the `--augment` parser with every error it reports."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from genofed.common.augment import (
    Augmenter,
    AugmentSpec,
    CallNoise,
    Missingness,
    Mixup,
    Mutation,
    SegmentMix,
    inject_genotyping_error,
    parse_augment,
    protected_mask,
)
from genofed.common.data.cohort import MISSING, Cohort
from genofed.common.data.features import FeatureSpec, encode, encode_dosage_rows
from genofed.common.errors import GenofedError

N, V = 1500, 400
PROTECTED = np.zeros(V, dtype=bool)
PROTECTED[[3, 50, 51, 222, 399]] = True


def _cohort(
    seed: int = 0, n: int = N, v: int = V, missing: float = 0.03
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.02, 0.5, size=v)
    dosages = rng.binomial(2, freq, size=(n, v)).astype(np.int8)
    dosages[rng.random((n, v)) < missing] = MISSING
    labels = (rng.random(n) < 0.3).astype(np.int8)
    return dosages, labels, freq


DOSAGES, LABELS, FREQ = _cohort()


def _features(rows: np.ndarray) -> np.ndarray:
    """The model's dosage features of rows (int8 with MISSING, or float with NaN)."""
    rows = np.asarray(rows)
    return encode_dosage_rows(FeatureSpec(FREQ, covariates=()), rows if rows.ndim == 2 else rows[np.newaxis])


def _within(count: int, trials: int, rate: float, sigmas: float = 5.0) -> bool:
    return abs(count - trials * rate) <= sigmas * math.sqrt(trials * rate * (1 - rate)) + 1


def _valid_int(rows: np.ndarray) -> bool:
    return rows.dtype == np.int8 and bool(np.isin(rows, (MISSING, 0, 1, 2)).all())


# --- element-wise transforms ---------------------------------------------------------------


@pytest.mark.parametrize("model", ["adjacent", "uniform"])
def test_call_noise_changes_rate_of_called_genotypes(model: str) -> None:
    before = DOSAGES.copy()
    out = CallNoise(0.02, model=model).apply(DOSAGES, np.random.default_rng(1))
    assert np.array_equal(DOSAGES, before), "the input must not change"
    assert _valid_int(out)
    called = DOSAGES != MISSING
    changed = out != DOSAGES
    assert np.array_equal(out == MISSING, ~called), "missing stays missing, no call becomes missing"
    assert _within(int(changed.sum()), int(called.sum()), 0.02)
    jumps = np.abs(out[changed].astype(int) - DOSAGES[changed])
    from_hom = np.isin(DOSAGES[changed], (0, 2))
    two_step = (jumps == 2) & from_hom
    if model == "adjacent":
        assert not two_step.any(), "adjacent noise never turns one homozygote into the other"
    else:  # a homozygote goes to either other genotype: about half of them jump by two
        assert _within(int(two_step.sum()), int(from_hom.sum()), 0.5)


def test_mutation_rate_direction_and_protection() -> None:
    freq = np.full(V, 0.2)
    out = Mutation(0.05).apply(DOSAGES, np.random.default_rng(2), freq, PROTECTED)
    assert _valid_int(out)
    changed = out != DOSAGES
    assert not changed[:, PROTECTED].any(), "known-causal variants are never mutated by default"
    eligible = (DOSAGES != MISSING) & ~PROTECTED
    assert _within(int(changed.sum()), int(eligible.sum()), 0.05)
    assert (np.abs(out[changed].astype(int) - DOSAGES[changed]) == 1).all(), "one allele flips"
    assert (out[changed] != MISSING).all()
    het = changed & (DOSAGES == 1)
    assert _within(int((out[het] == 2).sum()), int(het.sum()), 0.2), (
        "a heterozygote gains an alt allele with probability p"
    )

    allowed = Mutation(0.05, allow_causal=True).apply(DOSAGES, np.random.default_rng(2), freq, PROTECTED)
    causal_called = DOSAGES[:, PROTECTED] != MISSING
    assert _within(
        int((allowed[:, PROTECTED] != DOSAGES[:, PROTECTED]).sum()), int(causal_called.sum()), 0.05
    )


def test_missingness_masks_called_genotypes() -> None:
    out = Missingness(0.1).apply(DOSAGES, np.random.default_rng(3), PROTECTED)
    changed = out != DOSAGES
    assert (out[changed] == MISSING).all(), "a masked call becomes MISSING (imputed by the normal encoding)"
    assert not changed[:, PROTECTED].any()
    eligible = (DOSAGES != MISSING) & ~PROTECTED
    assert _within(int(changed.sum()), int(eligible.sum()), 0.1)
    features = _features(out)
    assert (features[out == MISSING] == 0).all(), "masked calls encode like real missing calls"


def test_rate_zero_and_one() -> None:
    rng = np.random.default_rng(0)
    assert np.array_equal(CallNoise(0.0).apply(DOSAGES, rng), DOSAGES)
    everything = CallNoise(1.0).apply(DOSAGES, rng)
    assert ((everything != DOSAGES) == (DOSAGES != MISSING)).all()


# --- pair transforms -----------------------------------------------------------------------


def test_segment_mix_takes_whole_segments_from_two_parents() -> None:
    mix = SegmentMix(1.0, segment=10)
    row, partner = np.zeros(103, dtype=np.int8), np.full(103, 2, dtype=np.int8)
    for seed in range(50):
        out = mix.apply(row, partner, np.random.default_rng(seed))
        assert out.dtype == np.int8 and np.isin(out, (0, 2)).all()
        blocks = [out[i : i + 10] for i in range(0, 103, 10)]
        assert all(len(set(b.tolist())) == 1 for b in blocks), "every segment comes whole from one parent"
        assert 0 in out and 2 in out, "both parents contribute"
    protected = np.zeros(103, dtype=bool)
    protected[[5, 60]] = True
    kept = [mix.apply(row, partner, np.random.default_rng(s), protected) for s in range(20)]
    assert all((k[protected] == 0).all() for k in kept), "protected variants keep the record's genotype"
    short = mix.apply(row[:10], partner[:10], np.random.default_rng(0))
    assert np.array_equal(short, row[:10]), "a panel of one segment has no crossover point"


def test_segment_mix_in_augmenter_uses_one_same_label_partner() -> None:
    # high-entropy rows (every genotype equally likely), so a 20-variant segment identifies its record
    dosages = np.random.default_rng(10).integers(0, 3, size=(N, V)).astype(np.int8)
    augmenter = Augmenter(
        AugmentSpec(mix=SegmentMix(0.3, segment=20)), dosages=dosages, labels=LABELS, alt_freq=FREQ
    )
    rng = np.random.default_rng(4)
    mixed = 0
    for i in range(400):
        out = augmenter.augment_row(i, rng)
        if np.array_equal(out, dosages[i]):
            continue
        mixed += 1
        parents = set()
        for start in range(0, V, 20):
            block = out[start : start + 20]
            if np.array_equal(block, dosages[i, start : start + 20]):
                continue
            sources = np.flatnonzero((dosages[:, start : start + 20] == block).all(axis=1))
            assert len(sources) == 1, "a foreign segment is copied whole from one record"
            parents.add(int(sources[0]))
        assert len(parents) == 1, "exactly two parents: the record and one partner"
        partner = parents.pop()
        assert partner != i and LABELS[partner] == LABELS[i]
    assert _within(mixed, 400, 0.3)


def test_mixup_is_a_convex_combination_closer_to_the_record() -> None:
    x, y = DOSAGES[0], DOSAGES[1]
    expected = (2 * np.clip(FREQ, 1e-3, 1 - 1e-3)).astype(np.float32)
    mixup = Mixup(1.0, alpha=0.4)
    out = mixup.apply(x, y, np.random.default_rng(5), expected)
    lam = np.random.default_rng(5).beta(0.4, 0.4)
    lam = max(lam, 1 - lam)
    assert out.dtype == np.float32
    both_missing = (x == MISSING) & (y == MISSING)
    assert np.array_equal(np.isnan(out), both_missing)
    assert ((out[~both_missing] >= 0) & (out[~both_missing] <= 2)).all()
    fx, fy = _features(x), _features(y)
    assert np.allclose(_features(out), lam * fx + (1 - lam) * fy, atol=1e-5), (
        "mixing dosages = mixing features"
    )
    protected = np.zeros(V, dtype=bool)
    protected[:10] = True
    kept = mixup.apply(x, y, np.random.default_rng(5), expected, protected)
    assert np.array_equal(np.nan_to_num(kept[:10], nan=-1), x[:10].astype(np.float32))


def test_mixup_in_augmenter_rate_and_dtype() -> None:
    augmenter = Augmenter(AugmentSpec(mixup=Mixup(0.25)), dosages=DOSAGES, labels=LABELS, alt_freq=FREQ)
    rows = augmenter.augment_rows(range(600), np.random.default_rng(6))
    assert rows.dtype == np.float32 and rows.shape == (600, V)
    called = ~np.isnan(rows)
    assert ((rows[called] >= 0) & (rows[called] <= 2)).all()
    original = np.where(DOSAGES[:600] == MISSING, np.nan, DOSAGES[:600]).astype(np.float32)
    unchanged = np.array([np.array_equal(r, o, equal_nan=True) for r, o in zip(rows, original, strict=False)])
    assert _within(int((~unchanged).sum()), 600, 0.25)
    features = augmenter.augment_features(range(5), np.random.default_rng(6))
    assert features.dtype == np.float32 and np.isfinite(features).all()


def test_partners_share_the_label_and_exclude_the_record() -> None:
    labels = np.array([0, 0, 0, 1, 1, 0, 1, 0], dtype=np.int8)
    lonely = np.array([0, 0, 1], dtype=np.int8)
    d = DOSAGES[:8]
    augmenter = Augmenter(AugmentSpec(), dosages=d, labels=labels, alt_freq=FREQ)
    rng = np.random.default_rng(7)
    for i in range(8):
        drawn = {augmenter.draw_partner(i, rng) for _ in range(200)}
        same = set(np.flatnonzero(labels == labels[i]).tolist()) - {i}
        assert drawn == same, "every other same-label record, and only those"
    alone = Augmenter(AugmentSpec(), dosages=DOSAGES[:3], labels=lonely, alt_freq=FREQ)
    assert alone.draw_partner(2, rng) == 2, "a record alone in its label is its own partner"


# --- the augmenter ---------------------------------------------------------------------------


def test_identity_spec_returns_rows_and_features_unchanged() -> None:
    for spec in (AugmentSpec(), parse_augment("noise=0,mix=0,mixup=0")):
        assert spec.is_identity and not spec.mixes_patients
        augmenter = Augmenter(spec, dosages=DOSAGES, labels=LABELS, alt_freq=FREQ)
        rows = augmenter.augment_rows(range(50), np.random.default_rng(0))
        assert rows.dtype == np.int8 and np.array_equal(rows, DOSAGES[:50])
    cohort = Cohort(
        DOSAGES,
        [f"s{i}" for i in range(N)],
        [f"1:{i + 1}:A:G" for i in range(V)],
        LABELS,
        pd.DataFrame(index=range(N)),
    )
    reference = encode(FeatureSpec(FREQ, covariates=()), cohort)
    assert np.array_equal(augmenter.augment_features(range(N), np.random.default_rng(0)), reference)


def test_augmenter_protects_known_causal_and_is_deterministic() -> None:
    spec = parse_augment("noise=0.05,mutate=0.05,missing=0.05,mix=0.5,mix-segment=7")
    before = DOSAGES.copy()
    augmenter = Augmenter(spec, dosages=DOSAGES, labels=LABELS, alt_freq=FREQ, protected=PROTECTED)
    rows = augmenter.augment_rows(range(300), np.random.default_rng(8))
    assert _valid_int(rows)
    assert np.array_equal(rows[:, PROTECTED], DOSAGES[:300, PROTECTED]), "known-causal variants untouched"
    assert np.array_equal(DOSAGES, before), "the training rows never change"
    again = augmenter.augment_rows(range(300), np.random.default_rng(8))
    other = augmenter.augment_rows(range(300), np.random.default_rng(9))
    assert np.array_equal(rows, again), "same seed, same examples"
    assert not np.array_equal(rows, other), "another seed, other examples"
    mixed_spec = parse_augment("noise=0.05,mixup=0.5")
    mixed = Augmenter(mixed_spec, dosages=DOSAGES, labels=LABELS, alt_freq=FREQ, protected=PROTECTED)
    a = mixed.augment_rows(range(100), np.random.default_rng(8))
    assert np.array_equal(a, mixed.augment_rows(range(100), np.random.default_rng(8)), equal_nan=True)
    original = np.where(DOSAGES[:100] == MISSING, np.nan, DOSAGES[:100])[:, PROTECTED]
    assert np.array_equal(a[:, PROTECTED], original, equal_nan=True)


def test_augmenter_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="int8"):
        Augmenter(AugmentSpec(), dosages=DOSAGES.astype(np.float32), labels=LABELS, alt_freq=FREQ)
    with pytest.raises(ValueError, match="labels"):
        Augmenter(AugmentSpec(), dosages=DOSAGES, labels=LABELS[:-1], alt_freq=FREQ)
    with pytest.raises(ValueError, match="alt_freq"):
        Augmenter(AugmentSpec(), dosages=DOSAGES, labels=LABELS, alt_freq=FREQ[:-1])
    with pytest.raises(ValueError, match="protected"):
        Augmenter(AugmentSpec(), dosages=DOSAGES, labels=LABELS, alt_freq=FREQ, protected=np.zeros(V))


def test_inject_genotyping_error() -> None:
    before = DOSAGES.copy()
    noisy = inject_genotyping_error(DOSAGES, 0.01, seed=3)
    assert np.array_equal(DOSAGES, before)
    assert _valid_int(noisy) and np.array_equal(noisy == MISSING, DOSAGES == MISSING)
    assert _within(int((noisy != DOSAGES).sum()), int((DOSAGES != MISSING).sum()), 0.01)
    assert np.array_equal(noisy, inject_genotyping_error(DOSAGES, 0.01, seed=3))
    assert not np.array_equal(noisy, inject_genotyping_error(DOSAGES, 0.01, seed=4))


def test_protected_mask() -> None:
    ids = ["1:10:A:G", "1:20:C:T", "2:5:G:A"]
    assert protected_mask(ids, ["2:5:G:A"]).tolist() == [False, False, True]
    with pytest.raises(GenofedError, match="not in the panel"):
        protected_mask(ids, ["2:5:A:G"])


# --- the spec and its parser -----------------------------------------------------------------


def test_parse_full_string() -> None:
    spec = parse_augment(
        " noise=0.01, mutate=0.005 ,mix=0.3,missing=0.02,mixup=0.2,mix_segment=15,"
        "mixup-alpha=0.3,mutate-causal=yes,noise-model=uniform,"
    )
    assert spec.noise == CallNoise(0.01, model="uniform")
    assert spec.mutate == Mutation(0.005, allow_causal=True)
    assert spec.mix == SegmentMix(0.3, segment=15)
    assert spec.missing == Missingness(0.02)
    assert spec.mixup == Mixup(0.2, alpha=0.3)
    assert [t.key for t in spec.transforms] == ["mix", "mutate", "noise", "missing", "mixup"], "fixed order"
    assert spec.mixes_patients and spec.output_dtype == np.float32
    assert AugmentSpec.from_dict(spec.to_dict()) == spec
    assert "segment mix 30%" in spec.describe() and "\n" not in spec.describe()
    for empty in ("", "none", None):
        assert parse_augment(empty) == AugmentSpec() and parse_augment(empty).describe() == "no augmentation"


def test_mixes_patients_exactly_for_mix_and_mixup() -> None:
    assert not parse_augment("noise=0.1,mutate=0.1,missing=0.1").mixes_patients
    assert parse_augment("mix=0.1").mixes_patients
    assert parse_augment("mixup=0.1").mixes_patients
    assert not parse_augment("mix=0,mixup=0,noise=0.1").mixes_patients, "a mix at rate 0 mixes nobody"
    assert SegmentMix.mixes_patients and Mixup.mixes_patients
    assert not (CallNoise.mixes_patients or Mutation.mixes_patients or Missingness.mixes_patients)


def test_parse_files(tmp_path) -> None:
    toml = tmp_path / "augment.toml"
    toml.write_text(
        "noise = 0.01\nmutate_causal = false\nmutate = 0.005\n\n"
        '[sites.small_clinic]\nmix = 0.3\n"mix-segment" = 10\n'
    )
    assert parse_augment(str(toml)) == AugmentSpec(noise=CallNoise(0.01), mutate=Mutation(0.005))
    assert parse_augment(toml, site="small_clinic").mix == SegmentMix(0.3, segment=10)
    assert parse_augment(toml, site="small_clinic").noise == CallNoise(0.01)
    assert parse_augment(toml, site="elsewhere") == parse_augment(toml)
    nested = tmp_path / "run.toml"
    nested.write_text("[augment]\nmissing = 0.02\n")
    assert parse_augment(nested) == AugmentSpec(missing=Missingness(0.02))
    spec = parse_augment("noise=0.01,mixup=0.2,mixup-alpha=1")
    as_json = tmp_path / "augment.json"
    as_json.write_text(json.dumps(spec.to_dict()))
    assert parse_augment(str(as_json)) == spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nois=0.01", "unknown key 'nois'"),
        ("noise=abc", "noise must be a number"),
        ("noise=nan", "noise must be a number"),
        ("noise=1.5", r"rate in \[0, 1\]"),
        ("mix=-0.1", r"rate in \[0, 1\]"),
        ("noise", "not key=value"),
        ("noise=0.1,noise=0.2", "given twice"),
        ("mix-segment=20", "mix-segment is given but mix is not"),
        ("mix=0.2,mix-segment=0", "whole number of variants >= 1"),
        ("mix=0.2,mix-segment=2.5", "whole number"),
        ("mixup=0.2,mixup-alpha=0", "alpha must be a finite number > 0"),
        ("mutate=0.1,mutate-causal=maybe", "yes or no"),
        ("noise=0.1,noise-model=gaussian", "noise model must be one of"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(GenofedError, match=message) as info:
        parse_augment(text)
    assert "\n" not in str(info.value)


def test_parse_file_errors(tmp_path) -> None:
    with pytest.raises(GenofedError, match="not found"):
        parse_augment(str(tmp_path / "missing.toml"))
    broken = tmp_path / "broken.toml"
    broken.write_text("noise = = 1\n")
    with pytest.raises(GenofedError, match="cannot read"):
        parse_augment(broken)
    bad_site = tmp_path / "sites.toml"
    bad_site.write_text("noise = 0.1\n[sites.a]\nmix = 2\n")
    with pytest.raises(GenofedError, match=r"\[sites.a\].*rate in"):
        parse_augment(bad_site)  # every site's table is checked, even when no site is asked for
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    with pytest.raises(GenofedError, match="table"):
        parse_augment(listed)
    other = tmp_path / "augment.yaml"
    other.write_text("noise: 0.1\n")
    with pytest.raises(GenofedError, match=".toml or .json"):
        parse_augment(other)


def test_transforms_validate_their_parameters() -> None:
    for bad in (
        lambda: CallNoise(-0.1),
        lambda: Mutation(2.0),
        lambda: Missingness(float("nan")),
        lambda: Mixup(0.1, alpha=-1),
        lambda: SegmentMix(0.1, segment=0),
        lambda: CallNoise(True),
    ):
        with pytest.raises(ValueError):
            bad()
