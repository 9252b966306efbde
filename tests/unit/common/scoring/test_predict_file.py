"""`predict_file`: risks as the model computes them on the hospitals' encoding, REF/ALT swaps,
panel coverage, missing covariates, files without a threshold, and what it refuses."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from helpers.model_files import N_VARIANTS, model_file, people, write_people

from genofed.common.data.cohort import Cohort
from genofed.common.data.features import encode
from genofed.common.errors import DataError
from genofed.common.model.metrics import binary_metrics
from genofed.common.model.network import ModelConfig, build_model, predict_proba
from genofed.common.scoring.model_file import ModelFileError, Task
from genofed.common.scoring.predict import COLUMNS, predict_file


def _expected_risks(model, covariates: pd.DataFrame | None) -> np.ndarray:
    """The risks computed directly: the people's dosages, the model file's encoding, the model."""
    dosages, samples, labels, cov = people()
    frame = cov if covariates is None else covariates
    if "sex" in frame:
        frame = frame.assign(sex=frame["sex"].map({"M": 0.0, "F": 1.0}))  # the phenotype reader's coding
    cohort = Cohort(dosages, samples, list(model.panel.variant_ids), labels.astype(np.int8), frame)
    return predict_proba(model.build(), encode(model.feature_spec(), cohort))


def test_risks_percentiles_calls_and_auc(tmp_path):
    model = model_file()
    genotypes, phenotypes = write_people(tmp_path)
    result = predict_file(model, genotypes, phenotypes=phenotypes)
    np.testing.assert_allclose(result.risks, _expected_risks(model, None), rtol=0, atol=1e-7)
    dosages, samples, labels, _ = people()
    assert result.sample_ids == samples
    assert result.auc() == pytest.approx(binary_metrics(labels, result.risks)["auc"])
    assert result.threshold == pytest.approx(0.5)
    assert result.calls == ["high" if r >= 0.5 else "low" for r in result.risks]
    assert np.all(np.diff(result.percentiles[np.argsort(result.risks)]) >= 0)  # monotone in the risk
    missing = (dosages < 0).sum(axis=1)
    np.testing.assert_array_equal(result.imputed, missing)
    np.testing.assert_allclose(result.coverage, 1 - missing / N_VARIANTS)
    rows = list(csv.DictReader(io.StringIO(result.to_csv())))
    assert list(rows[0]) == [*COLUMNS, "label"]
    assert [float(r["risk"]) for r in rows] == list(result.risks)  # full precision: AUC reproducible
    assert {r["call"] for r in rows} <= {"high", "low"} and rows[0]["sample_id"] == samples[0]


def test_ref_alt_swapped_file_gives_the_same_risks(tmp_path):
    model = model_file()
    plain = predict_file(model, write_people(tmp_path / "plain")[0])
    genotypes, _ = write_people(tmp_path / "swapped", swap_first=7)
    swapped = predict_file(model, genotypes)
    assert swapped.alignment.swapped == 7 and plain.alignment.swapped == 0
    np.testing.assert_array_equal(swapped.risks, plain.risks)
    assert any("7 panel variants have REF/ALT swapped" in note for note in swapped.notes)


def test_absent_variants_are_imputed_and_too_little_of_the_panel_refused(tmp_path):
    model = model_file()
    genotypes, _ = write_people(tmp_path / "some", drop_last=2)
    result = predict_file(model, genotypes)
    dosages = people()[0]
    np.testing.assert_array_equal(result.imputed, (dosages[:, :-2] < 0).sum(axis=1) + 2)
    assert result.alignment.absent == 2
    few, _ = write_people(tmp_path / "few", drop_last=10)
    with pytest.raises(DataError, match="covers only 66.7% of the model's 30 panel variants") as refused:
        predict_file(model, few)
    assert "genome build" in refused.value.hint and "--min-coverage" in refused.value.hint  # the option
    assert predict_file(model, few, min_coverage=0.5).alignment.absent == 10  # the user's call


def test_a_file_on_another_panel_is_refused(tmp_path):
    model = model_file()
    other = replace(
        model, panel=replace(model.panel, variant_ids=[f"2:{v[2:]}" for v in model.panel.variant_ids])
    )
    genotypes, _ = write_people(tmp_path)
    # no panel variant at all: everyone would get the same risk, so refused even at --min-coverage 0
    for minimum in (0.9, 0.0):
        with pytest.raises(
            DataError, match="none of the model's 30 panel variants is in this file"
        ) as refused:
            predict_file(other, genotypes, min_coverage=minimum)
        assert "cannot lower this" in refused.value.hint


def test_without_phenotypes_covariates_are_unknown_and_said_so(tmp_path):
    model = model_file()
    genotypes, _ = write_people(tmp_path)
    result = predict_file(model, genotypes)
    n = len(result.sample_ids)
    unknown = pd.DataFrame({"sex": [np.nan] * n, "age": [np.nan] * n}, index=result.sample_ids)
    np.testing.assert_allclose(result.risks, _expected_risks(model, unknown), rtol=0, atol=1e-7)
    assert result.labels is None and result.auc() is None
    assert any("no phenotypes: covariates sex, age unknown" in note for note in result.notes)
    assert "label" not in result.to_csv().splitlines()[0].split(",")


def test_new_patients_without_a_diagnosis_are_scored_with_their_covariates(tmp_path):
    model = model_file()
    genotypes, phenotypes = write_people(tmp_path)
    frame = pd.read_csv(phenotypes, dtype=str).drop(columns=["label"])
    undiagnosed = tmp_path / "new_patients.csv"
    frame.to_csv(undiagnosed, index=False)
    result = predict_file(model, genotypes, phenotypes=undiagnosed)
    labelled = predict_file(model, genotypes, phenotypes=phenotypes)
    np.testing.assert_array_equal(result.risks, labelled.risks)  # the same covariates used
    assert result.labels is None and result.auc() is None
    assert any("no 'label' column" in note for note in result.notes)
    assert "label" not in result.to_csv().splitlines()[0].split(",")


def test_a_person_without_a_label_is_scored_and_left_out_of_the_auc(tmp_path):
    """A new patient with no diagnosis yet has an empty label: scored, label cell empty, the AUC
    over the others, and a note that says how many."""
    model = model_file()
    genotypes, phenotypes = write_people(tmp_path)
    frame = pd.read_csv(phenotypes, dtype=str, keep_default_na=False)
    frame.loc[[3, 7], "label"] = ["", "NA"]
    partial = tmp_path / "partial.csv"
    frame.to_csv(partial, index=False)
    result = predict_file(model, genotypes, phenotypes=partial)
    full = predict_file(model, genotypes, phenotypes=phenotypes)
    np.testing.assert_array_equal(result.risks, full.risks)
    assert result.n_labelled == 58 and not result.labelled[3] and not result.labelled[7]
    keep = np.ones(60, dtype=bool)
    keep[[3, 7]] = False
    assert result.auc() == pytest.approx(binary_metrics(full.labels[keep], full.risks[keep])["auc"])
    rows = list(csv.DictReader(io.StringIO(result.to_csv())))
    assert rows[3]["label"] == "" and rows[7]["label"] == "" and rows[0]["label"] in {"0", "1"}
    assert any(
        "2 of 60 people have no 'label'" in note and "the 58 with one" in note for note in result.notes
    )
    # a label that is given is still held to the codings
    frame.loc[5, "label"] = "2"
    frame.to_csv(partial, index=False)
    with pytest.raises(DataError, match="PLINK coding"):
        predict_file(model, genotypes, phenotypes=partial)


def test_a_column_that_looks_like_the_label_is_suggested(tmp_path):
    model = model_file()
    genotypes, phenotypes = write_people(tmp_path)
    renamed = tmp_path / "disease.csv"
    pd.read_csv(phenotypes, dtype=str).rename(columns={"label": "disease"}).to_csv(renamed, index=False)
    result = predict_file(model, genotypes, phenotypes=renamed)
    assert result.labels is None
    assert any("pass --label-column disease" in note for note in result.notes)
    assert predict_file(model, genotypes, phenotypes=renamed, label_column="disease").auc() is not None


def test_adapting_still_refuses_a_patient_without_a_label(tmp_path):
    """`genofed adapt` fits on the labels: there an empty one is an error, as in training."""
    from genofed.common.scoring.predict import encoded_cohort

    model = model_file()
    genotypes, phenotypes = write_people(tmp_path)
    frame = pd.read_csv(phenotypes, dtype=str)
    frame.loc[3, "label"] = ""
    partial = tmp_path / "partial.csv"
    frame.to_csv(partial, index=False)
    with pytest.raises(DataError, match="label is missing"):
        encoded_cohort(model, genotypes, partial)


def test_a_model_without_threshold_or_distribution_leaves_those_columns_empty(tmp_path):
    model = model_file(operating=False)
    genotypes, phenotypes = write_people(tmp_path)
    result = predict_file(model, genotypes, phenotypes=phenotypes)
    assert result.calls is None and result.percentiles is None
    rows = list(csv.DictReader(io.StringIO(result.to_csv())))
    assert {r["call"] for r in rows} == {""} and {r["percentile"] for r in rows} == {""}
    assert any("no operating threshold" in note for note in result.notes)


def test_a_model_that_does_not_score_a_binary_risk_is_refused(tmp_path):
    model = model_file()
    config = ModelConfig(n_variants=N_VARIANTS, architecture="logistic", n_outputs=3)
    multiclass = replace(
        model,
        model_config=config,
        state_dict=build_model(config, 0).state_dict(),
        task=Task("multiclass", "pop"),
    )
    genotypes, _ = write_people(tmp_path)
    with pytest.raises(ModelFileError, match="multiclass classes of 'pop', not a disease risk"):
        predict_file(multiclass, genotypes)
