"""What the score rests on (`TestCohort.score_parts`, results.json `score_parts`, the report): the
test cohort's AUC with the genotypes alone and with sex and age alone. A walkthrough found the
default run's "genetic risk" mostly an age call (age alone AUC 0.677, the genotypes 0.594) while the
report listed only variants; scoring without phenotypes then turned every high call low."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.report_run import write_run

from genofed.common.data.features import FeatureSpec, unknown_covariates
from genofed.common.model.network import ModelConfig, build_model
from genofed.server.evaluation import TestCohort as HeldOut
from genofed.server.report import write_report

N, V = 400, 30


def _cohort_and_model(age_weight: float, genotype_weight: float):
    """People whose disease follows their age and the first variant; a logistic model weighting them."""
    rng = np.random.default_rng(0)
    spec = FeatureSpec(alt_freq=np.full(V, 0.3))
    genotypes = rng.binomial(2, 0.3, (N, V)) - 0.6
    sex = rng.integers(0, 2, N).astype(float)
    age = rng.normal(0.0, 1.0, N)
    labels = (rng.random(N) < 1 / (1 + np.exp(-(age + genotypes[:, 0])))).astype(np.float32)
    features = np.column_stack([genotypes, sex, age]).astype(np.float32)
    config = ModelConfig(n_variants=V, architecture="logistic")
    model = build_model(config, seed=0)
    with torch.no_grad():
        model.linear.weight[0, 0] = genotype_weight
        model.linear.weight[0, V + 1] = age_weight
    return HeldOut(features, labels), config, model.state_dict(), spec


def test_the_parts_are_the_model_read_with_the_other_part_unknown():
    cohort, config, state, spec = _cohort_and_model(age_weight=1.0, genotype_weight=0.2)
    parts = cohort.score_parts(config, state, spec)
    assert parts["covariates"] == ["sex", "age"]
    assert parts["auc"] == pytest.approx(cohort.evaluate(config, state)["auc"])
    assert parts["covariates_only_auc"] > parts["genotypes_only_auc"] > 0.5
    assert 0.5 < parts["covariates_only_low"] < parts["covariates_only_auc"]
    assert list(unknown_covariates(spec)) == [0.5, 0.0]  # sex halfway, age at the centre
    genotype_led = _cohort_and_model(age_weight=0.0, genotype_weight=1.0)
    parts = genotype_led[0].score_parts(*genotype_led[1:])
    assert parts["covariates_only_auc"] == pytest.approx(0.5)  # the model does not read age here
    assert parts["genotypes_only_auc"] == pytest.approx(parts["auc"])
    one_class = HeldOut(cohort.features, np.zeros(N, dtype=np.float32))
    assert one_class.score_parts(config, state, spec) is None


def test_the_report_says_what_the_score_rests_on_and_the_verdict_when_it_is_sex_and_age(tmp_path):
    run_dir, results = write_run(tmp_path)
    results["score_parts"] = {
        "auc": 0.702,
        "genotypes_only_auc": 0.594,
        "covariates_only_auc": 0.677,
        "covariates_only_low": 0.603,
        "covariates": ["sex", "age"],
    }
    text = write_report(run_dir, results).read_text()
    drivers = text[text.index("## Which variants drive the model") : text.index("## Model card")]
    assert (
        "**What the score rests on** (the test cohort): the final model ranks its people with AUC 0.702"
        in drivers
    )
    assert (
        "0.594 from the genotypes alone (sex and age read as unknown); 0.677 from sex and age alone"
        in drivers
    )
    assert "Sex and age alone rank these people at least as well as the genotypes" in drivers
    verdict = text[text.index("## Verdict") : text.index("## At the bedside")]
    assert (
        "**What the score rests on:** on the test cohort sex and age alone rank people with AUC 0.677"
        in verdict
    )
    for change in ({"genotypes_only_auc": 0.690}, {"covariates_only_low": 0.48}):  # genotypes lead; chance
        results["score_parts"] = {**results["score_parts"], **change}
        text = write_report(run_dir, results).read_text()
        assert "**What the score rests on** (the test cohort)" in text  # always said
        assert "at least as well as the genotypes" not in text and "**What the score rests on:**" not in text


@pytest.mark.parametrize(
    "damaged",
    [{"auc": 0.7}, {"auc": "x", "genotypes_only_auc": 0.6, "covariates_only_auc": 0.6, "covariates": ["age"]},
     {"auc": 0.7, "genotypes_only_auc": 0.6, "covariates_only_auc": 0.6, "covariates": "age"}],
)  # fmt: skip
def test_a_damaged_record_is_not_measured_never_a_crash(tmp_path, damaged):
    """A review: a score_parts missing a key, or a text where a number or a list goes, crashed the
    report (KeyError, a format error) or said "a and g and e"."""
    run_dir, results = write_run(tmp_path)
    results["score_parts"] = damaged
    text = write_report(run_dir, results).read_text()
    assert "What the score rests on" not in text
