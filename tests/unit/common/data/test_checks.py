"""Cross-file checks: join errors name the files and samples; cohort checks raise or warn as documented."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from genofed.common.data.checks import check_cohort, join_cohort, summarize_cohort
from genofed.common.data.cohort import MISSING, GenotypeMatrix, Phenotypes
from genofed.common.errors import DataError


def genotypes(n: int = 40, m: int = 5, ids: list[str] | None = None, seed: int = 0) -> GenotypeMatrix:
    rng = np.random.default_rng(seed)
    dosages = rng.integers(0, 3, size=(n, m)).astype(np.int8)
    dosages[0, :] = 0  # every variant polymorphic: both 0 and 2 present
    dosages[1, :] = 2
    return GenotypeMatrix(
        dosages,
        ids or [f"P{i:03d}" for i in range(n)],
        [f"1:{100 + j}:A:G" for j in range(m)],
        source="genotypes.vcf.gz",
    )


def phenotypes(ids: list[str], labels: list[int] | None = None, age: list[float] | None = None) -> Phenotypes:
    labels = labels if labels is not None else [i % 2 for i in range(len(ids))]
    covariates = pd.DataFrame({"age": age if age is not None else [40.0] * len(ids)}, index=ids)
    return Phenotypes(list(ids), np.array(labels, dtype=np.int8), covariates, source="phenotypes.csv")


def error(call, *args, **kwargs) -> DataError:
    with pytest.raises(DataError) as info:
        call(*args, **kwargs)
    assert info.value.hint
    return info.value


def test_join_orders_by_genotype_file_and_aligns_covariates():
    g = genotypes(n=4)
    ids = list(reversed(g.sample_ids))
    ph = phenotypes(ids, labels=[1, 0, 0, 1], age=[1.0, 2.0, 3.0, 4.0])
    cohort = join_cohort(g, ph)
    assert cohort.sample_ids == g.sample_ids
    np.testing.assert_array_equal(cohort.labels, [1, 0, 0, 1][::-1])
    assert list(cohort.covariates["age"]) == [4.0, 3.0, 2.0, 1.0]
    assert list(cohort.covariates.index) == g.sample_ids


def test_join_missing_phenotypes_lists_examples_and_count():
    g = genotypes(n=10)
    e = error(join_cohort, g, phenotypes(g.sample_ids[:2]))
    assert e.file == "phenotypes.csv"
    assert "8 sample(s)" in e.problem and "P002, P003, P004, P005, P006 and 3 more" in e.problem
    assert "bcftools view -S" in e.hint


def test_join_leaves_out_rows_without_genotypes_and_refuses_duplicates():
    """A registry export lists patients who were not genotyped: their rows are left out (and counted
    in `phenotypes_without_genotypes`, tests/unit/common/data/test_phenotypes_without_genotypes.py)."""
    g = genotypes(n=3)
    cohort = join_cohort(g, phenotypes(["X1", *g.sample_ids], labels=[1, 0, 1, 0]))
    assert cohort.sample_ids == g.sample_ids and list(cohort.labels) == [0, 1, 0]
    dup = genotypes(n=3, ids=["A", "B", "A"])
    assert "A" in error(join_cohort, dup, phenotypes(["A", "B"])).problem


def test_check_cohort_clean_has_no_warnings():
    g = genotypes()
    cohort = join_cohort(g, phenotypes(g.sample_ids))
    assert check_cohort(cohort) == []


def test_check_cohort_errors():
    g = genotypes(n=10)
    small = error(check_cohort, join_cohort(g, phenotypes(g.sample_ids)))
    assert "only 10 samples" in small.problem
    # no command takes that name (an audit: `synth` has no such option)
    assert "min_samples" not in str(small)
    g = genotypes()
    assert "no cases" in error(check_cohort, join_cohort(g, phenotypes(g.sample_ids, [0] * 40))).problem
    assert "no controls" in error(check_cohort, join_cohort(g, phenotypes(g.sample_ids, [1] * 40))).problem
    g.dosages[:, 2] = MISSING
    e = error(check_cohort, join_cohort(g, phenotypes(g.sample_ids)))
    assert "1 variant(s)" in e.problem and "1:102:A:G" in e.problem and "F_MISSING" in e.hint


def test_check_cohort_warnings():
    g = genotypes(m=20)
    g.dosages[:10, 0] = MISSING  # 25% missing variant
    g.dosages[5, :] = MISSING  # a sample with all calls missing
    g.dosages[:, 1] = 1  # monomorphic
    labels = [1] * 3 + [0] * 37
    ages = [np.nan] + [40.0] * 39
    warnings = check_cohort(join_cohort(g, phenotypes(g.sample_ids, labels, ages)))
    codes = {w.code: w.message for w in warnings}
    assert set(codes) == {
        "high_missing_variant",
        "high_missing_sample",
        "monomorphic",
        "class_imbalance",
        "missing_covariate",
    }
    assert "1:100:A:G (25%)" in codes["high_missing_variant"]
    assert "P005" in codes["high_missing_sample"]
    assert codes["monomorphic"].startswith("1 variant(s)")
    assert "3 cases and 37 controls" in codes["class_imbalance"]
    assert "P000" in codes["missing_covariate"]


def test_every_known_age_zero_is_warned_as_unknown_ages_written_as_0():
    """A blank exported as 0 (an outside walkthrough's file passed without a word)."""
    g = genotypes(m=20)
    labels = [1] * 20 + [0] * 20
    warnings = check_cohort(join_cohort(g, phenotypes(g.sample_ids, labels, [np.nan] + [0.0] * 39)))
    codes = {w.code: w.message for w in warnings}
    assert codes["constant_age"].startswith("covariate age is 0 for all 39 samples with an age")
    ages = [0.0] * 39 + [1.0]  # infants with one older patient: real ages, no warning
    assert "constant_age" not in {
        w.code for w in check_cohort(join_cohort(g, phenotypes(g.sample_ids, labels, ages)))
    }


def test_summary_is_json_ready():
    g = genotypes()
    g.dosages[0, 0] = MISSING
    summary = summarize_cohort(join_cohort(g, phenotypes(g.sample_ids)))
    assert json.loads(json.dumps(summary)) == summary
    assert summary["samples"] == 40 and summary["cases"] == 20 and summary["variants"] == 5
    assert summary["missing_rate"] == pytest.approx(1 / 200)
    assert summary["covariates"] == ["age"]


def test_join_refuses_repeated_variant_ids_and_check_refuses_no_variants():
    g = genotypes(m=3)
    g.variant_ids[2] = g.variant_ids[0]
    e = error(join_cohort, g, phenotypes(g.sample_ids))
    assert "1 variant id(s) appear more than once: 1:100:A:G" in e.problem and "norm -d" in e.hint
    empty = GenotypeMatrix(
        np.zeros((40, 0), dtype=np.int8), [f"P{i:03d}" for i in range(40)], [], source="genotypes.csv"
    )
    e = error(check_cohort, join_cohort(empty, phenotypes(empty.sample_ids)))
    assert e.file == "genotypes.csv" and "no variants" in e.problem


@pytest.mark.parametrize(
    ("column", "value"),
    [("age", np.inf), ("age", -1.0), ("age", 130.0), ("sex", 0.5), ("pc1", 1e300), ("pc1", -np.inf)],
)
def test_check_cohort_refuses_covariates_outside_the_documented_ranges(column, value):
    g = genotypes()
    ph = phenotypes(g.sample_ids)
    ph.covariates[column] = 0.0 if column != "age" else 40.0
    ph.covariates.loc["P003", column] = value
    e = error(check_cohort, join_cohort(g, ph))
    assert e.file == "phenotypes.csv" and e.location == "sample P003" and f"covariate {column}" in e.problem


def test_diploid_calls_on_haploid_chromosomes_are_warned_of():
    """A VCF that writes a male's X (outside the pseudo-autosomal regions), or anyone's Y or MT, as
    0/0 and 1/1 passes the reader and counts 0 or 2 copies where the person has 0 or 1: the PLINK
    reader refuses male X for that bias; an array-scale walkthrough's VCF trained without a word."""
    ids = ["1:100:A:G", "X:60000:C:T", "X:50000000:A:G", "X:155000000:G:A", "1:200:C:T"]
    g = genotypes(m=5)
    g = GenotypeMatrix(g.dosages, g.sample_ids, ids, source=g.source)
    ph = phenotypes(g.sample_ids)
    ph.covariates["sex"] = [0.0 if i < 10 else 1.0 for i in range(len(g.sample_ids))]  # 10 males
    warnings = [w for w in check_cohort(join_cohort(g, ph)) if w.code == "haploid_as_diploid"]
    hets = int((g.dosages[:10, 2] == 1).sum())
    assert len(warnings) == 1
    assert "10 call(s) of 10 male patient(s) on chromosome X" in warnings[0].message  # PAR1/2 left out
    assert f"({hets} of them heterozygous" in warnings[0].message and "bcftools view -t ^X,Y,MT" in (
        warnings[0].message
    )
    # females only, or no sex column: X says nothing; Y and MT are haploid in everyone
    ph.covariates["sex"] = 1.0
    assert not [w for w in check_cohort(join_cohort(g, ph)) if w.code == "haploid_as_diploid"]
    on_y = GenotypeMatrix(g.dosages, g.sample_ids, [*ids[:4], "MT:300:A:G"], source=g.source)
    (warning,) = [
        w for w in check_cohort(join_cohort(on_y, phenotypes(g.sample_ids))) if w.code == "haploid_as_diploid"
    ]
    assert warning.message.startswith("40 call(s) on chromosome Y or MT")
