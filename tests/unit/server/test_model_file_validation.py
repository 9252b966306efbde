"""A federated run's model file records who it was validated on (`genofed.server.results.
validated_on_test_cohort`): the coordinator's test cohort's ages and sexes, read with the cohort
(`TestCohort.load`), and the calibration verdict the run's report states on the same risks, word for
word; a run without a test cohort records that there was none. Nothing comes from the hospitals."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch
from helpers.model_files import model_file, people, write_people

from genofed.server.evaluation import TestCohort as HeldOut
from genofed.server.report.assessment import assess
from genofed.server.report.run_files import Predictions
from genofed.server.report.verdict import stated_items
from genofed.server.results import NO_TEST_COHORT, TEST_COHORT_SOURCE, validated_on_test_cohort


def _fed(test: HeldOut | None):
    """What `validated_on_test_cohort` reads of a finished federation: its test cohort and final model."""
    model = model_file()
    return SimpleNamespace(test=test, model_config=model.model_config, state_dict=model.state_dict)


def test_the_test_cohort_is_read_with_its_ages_and_sexes(tmp_path):
    write_people(tmp_path / "test")
    cohort = HeldOut.load(tmp_path / "test", model_file().panel)
    _, samples, _, covariates = people()
    assert list(cohort.sample_ids) == samples
    np.testing.assert_array_equal(cohort.ages, covariates["age"].to_numpy(dtype=float))
    np.testing.assert_array_equal(cohort.sexes, covariates["sex"].map({"M": 0.0, "F": 1.0}).to_numpy())


def test_the_record_is_the_test_cohorts_and_its_verdict_the_reports(tmp_path):
    write_people(tmp_path / "test")
    cohort = HeldOut.load(tmp_path / "test", model_file().panel)
    fed = _fed(cohort)
    record = validated_on_test_cohort(fed)
    _, _, labels, covariates = people()
    ages = covariates["age"]
    assert record["cohort"] == "the coordinator's test cohort" and record["source"] == TEST_COHORT_SOURCE
    assert record["people"] == 60 and record["cases"] == int(labels.sum())
    assert (record["age"]["min"], record["age"]["max"]) == (float(ages.min()), float(ages.max()))
    assert record["sex"]["female"] == int((covariates["sex"] == "F").sum())
    # the report's verdict on the same risks (as it reads them back from test_predictions.csv)
    risks = cohort.predict(fed.model_config, fed.state_dict)
    assessment = assess({}, Predictions(cohort.labels.astype(np.int64), risks.astype(np.float64)), None)
    said = [item for item in stated_items(assessment) if item.startswith("**Calibration:**")]
    assert said == [f"**Calibration:** {record['calibration']['statement']} (see Calibration)"]
    # risks the caller computed once are used as they are
    assert validated_on_test_cohort(fed, risks) == record


def test_a_run_without_a_test_cohort_records_that_there_was_none():
    assert validated_on_test_cohort(_fed(None)) == {"cohort": None, "note": NO_TEST_COHORT}


def test_unknown_covariates_stay_unknown(tmp_path):
    genotypes, phenotypes = write_people(tmp_path / "test")
    frame = pd.read_csv(phenotypes, dtype=str, keep_default_na=False)
    frame.loc[0, "age"], frame.loc[1, "sex"] = "", ""
    frame.to_csv(phenotypes, index=False)
    cohort = HeldOut.load(tmp_path / "test", model_file().panel)
    record = validated_on_test_cohort(_fed(cohort), torch.zeros(60).numpy() + 0.4)
    assert record["age"]["known"] == 59 and record["sex"]["unknown"] == 1
