"""Who a model was validated on (`genofed.common.scoring.validation`, `ModelFile.validated_on`):
the record summarises ages, sexes and the calibration verdict by the report's own check; it round-
trips through the model file and is covered by its hash; a file written before it loads, keeps
its hash and reads "not recorded"; ages and sexes outside it are worded for the notes column."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers.model_files import model_file
from helpers.validated_on import AGES, adults

from genofed.common.reporting.calibration import calibration_statement, calibration_table, check_calibration
from genofed.common.scoring.model_file import ModelFileError, content_hash, load_model_file, save_model_file
from genofed.common.scoring.validation import (
    NOT_RECORDED,
    age_outside,
    calibration_words,
    no_validation_cohort,
    population_words,
    sex_outside,
    validated_age_range,
    validation_record,
)


def test_the_record_summarises_ages_sexes_and_the_reports_calibration_check():
    rng = np.random.default_rng(3)
    labels = (rng.random(200) < 0.4).astype(int)
    risks = np.clip(0.25 + 0.3 * labels + rng.normal(0, 0.15, 200), 0.01, 0.99)
    ages = rng.uniform(18, 80, 200)
    ages[:5] = np.nan  # unknown ages are left out, and counted
    sexes = (np.arange(200) % 3 == 0).astype(float)  # 67 female, 133 male
    sexes[:2] = np.nan
    record = validation_record(
        cohort="the coordinator's test cohort",
        source="test",
        labels=labels,
        risks=risks,
        ages=ages,
        sexes=sexes,
        said_as="the test cohort",
    )
    known = ages[5:]
    assert record["people"] == 200 and record["cases"] == int(labels.sum())
    assert record["age"]["known"] == 195
    assert (record["age"]["min"], record["age"]["max"]) == (round(known.min(), 2), round(known.max(), 2))
    assert record["age"]["p5"] == round(float(np.percentile(known, 5)), 1)
    assert record["age"]["p95"] == round(float(np.percentile(known, 95)), 1)
    assert record["sex"] == {"female": 66, "male": 132, "unknown": 2}
    check = check_calibration(calibration_table(labels, risks))  # what the run report computes
    calibration = record["calibration"]
    assert calibration["p_value"] == check.p_value and calibration["calibrated"] == check.calibrated
    assert calibration["statement"] == calibration_statement(check)  # the report's sentence
    assert calibration["bins"] == 10 and calibration["largest_gap"] == pytest.approx(check.largest_gap)
    words = population_words(record)
    cases = int(labels.sum())
    assert words.startswith(f"the coordinator's test cohort: 200 people ({cases} with the disease)")
    assert "ages of 195 known" in words and "66 female, 132 male, 2 sex unknown" in words
    assert calibration_words(record) == calibration["statement"]


def test_a_small_cohort_gets_no_verdict_and_unknown_covariates_are_said():
    record = validation_record(
        cohort="the hospital's own validation patients",
        source="test",
        labels=np.array([0, 1, 0, 1]),
        risks=np.array([0.2, 0.7, 0.4, 0.6]),
        ages=None,
        sexes=None,
        min_for_calibration=20,
    )
    assert record["calibration"] is None and record["age"] is None and record["sex"] is None
    assert calibration_words(record).startswith("not judged: the hospital's own validation patients are 4")
    assert "no ages known" in population_words(record) and "sexes not recorded" in population_words(record)
    assert validated_age_range(record) is None and age_outside(7.0, record) is None


def test_no_test_cohort_and_no_record_are_said_as_such():
    none = no_validation_cohort("the run had no test cohort")
    assert population_words(none) == "none: the run had no test cohort"
    assert calibration_words(none).startswith("judged nowhere")
    assert population_words({}) == calibration_words({}) == NOT_RECORDED
    assert "not recorded" in NOT_RECORDED
    assert age_outside(7.0, {}) is None and sex_outside(0.0, {}) is None


def test_ages_and_sexes_outside_the_validated_population_are_worded():
    record = adults()
    assert validated_age_range(record) == AGES
    assert age_outside(7.0, record) == "age 7: below the ages the model was validated on, 18-79"
    assert age_outside(85.5, record) == "age 85.5: above the ages the model was validated on, 18-79"
    assert age_outside(18.0, record) is None and age_outside(79.0, record) is None
    assert age_outside(float("nan"), record) is None
    women = adults(sexes=np.ones(40))
    assert sex_outside(0.0, women) == "sex male: the model was validated on no male people"
    assert sex_outside(1.0, women) is None and sex_outside(float("nan"), women) is None
    assert sex_outside(0.0, record) is None  # both sexes were there


def test_the_record_round_trips_and_is_covered_by_the_hash(tmp_path):
    model = replace(model_file(), validated_on=adults())
    path = tmp_path / "model.pt"
    digest = save_model_file(path, model)
    loaded = load_model_file(path)
    assert loaded.validated_on == model.validated_on and loaded.content_hash == digest
    assert content_hash(model) != content_hash(replace(model, validated_on={}))
    raw = torch.load(path, weights_only=True)
    raw["validated_on"]["age"]["min"] = 1.0  # someone widens the validated ages by hand
    torch.save(raw, tmp_path / "edited.pt")
    with pytest.raises(ModelFileError, match="content hash mismatch"):
        load_model_file(tmp_path / "edited.pt")


def test_a_file_written_before_the_record_loads_with_its_hash(tmp_path):
    """A file without `validated_on` (every file written before it existed) has no such key, loads,
    keeps its hash and reads as not recorded."""
    old = model_file()
    path = tmp_path / "old.pt"
    digest = save_model_file(path, old)
    raw = torch.load(path, weights_only=True)
    assert "validated_on" not in raw and raw["content_hash"] == digest
    loaded = load_model_file(path)
    assert loaded.validated_on == {} and loaded.content_hash == digest
    assert population_words(loaded.validated_on) == NOT_RECORDED
