"""`predict_file`: risks as the model computes them on the hospitals' encoding, REF/ALT swaps,
panel coverage, missing covariates, files without a threshold, and what it refuses."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from helpers.model_files import HISTOGRAM, N_VARIANTS, RUN_HISTOGRAM, model_file, people, write_people

from genofed.common.data.cohort import Cohort
from genofed.common.data.features import encode
from genofed.common.data.writers import write_phenotypes, write_vcf
from genofed.common.errors import DataError
from genofed.common.model.metrics import binary_metrics
from genofed.common.model.network import ModelConfig, build_model, predict_proba
from genofed.common.scoring.model_file import ModelFileError, Task
from genofed.common.scoring.operating import percentiles_shown, risk_distribution
from genofed.common.scoring.percentile_words import reference_population
from genofed.common.scoring.predict import predict_file
from genofed.common.scoring.risks_csv import COLUMNS, NO_CALL, NOTES_COLUMN, Predictions, shown_risk
from genofed.common.scoring.verdict_notes import risk_note


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
    assert list(rows[0]) == [*COLUMNS, "label", NOTES_COLUMN]
    # a score, not a probability measured to 16 digits: 3 decimals
    assert [r["risk"] for r in rows] == [f"{risk:.3f}" for risk in result.risks]
    assert {r["call"] for r in rows} <= {"high", "low"} and rows[0]["sample_id"] == samples[0]
    assert {r[NOTES_COLUMN] for r in rows} == {""}  # every covariate known, every person called
    assert all(1 <= int(r["percentile"]) <= 99 for r in rows)


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


def test_call_rates_and_imputed_counts_are_exactly_the_called_share(tmp_path):
    # counted per person (the (people x panel) bool matrix is no longer held while scoring): the same
    # bits as its mean, absent panel variants counted as not called
    genotypes, _ = write_people(tmp_path, drop_last=2)
    result = predict_file(model_file(), genotypes)
    called = people()[0] >= 0
    called[:, -2:] = False  # the last two panel variants are not in the file
    np.testing.assert_array_equal(result.coverage, called.mean(axis=1))
    np.testing.assert_array_equal(result.imputed, (~called).sum(axis=1))


def test_a_file_on_another_panel_is_refused(tmp_path):
    model = model_file()
    other = replace(
        model, panel=replace(model.panel, variant_ids=[f"2:{v[2:]}" for v in model.panel.variant_ids])
    )
    genotypes, _ = write_people(tmp_path)
    # no panel variant at all: everyone would get the same risk, so refused even at --min-coverage 0
    for minimum in (0.9, 0.0):
        with pytest.raises(DataError, match="no panel variant is in this file") as refused:
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
    rows = list(csv.DictReader(io.StringIO(result.to_csv())))
    # said on every row; and the threshold's figures, measured with sex and age, do not describe the
    # call: on the row too, which a clinician reading the CSV alone sees (a walkthrough's person was
    # 'low' with phenotypes and 'high' without, the row saying nothing of it)
    blind = (
        "called without sex and age (no --phenotypes): the threshold's sensitivity and specificity do not "
        "describe this call"
    )
    assert {r[NOTES_COLUMN] for r in rows} == {f"sex and age unknown: imputed; {blind}"}
    assert {r["call"] for r in rows} == {"high", "low"}  # the calls themselves are kept
    assert any(
        "these people were scored without them (no --phenotypes), so those figures do not describe" in note
        for note in result.notes
    )
    with_them = predict_file(model, genotypes, phenotypes=write_people(tmp_path / "with")[1])
    assert not any("scored without them" in note for note in with_them.notes)
    assert blind not in with_them.to_csv()
    own = predict_file(model, genotypes, threshold=0.3)  # a cut-off of the user's: no figures to qualify
    assert not any("scored without them" in note for note in own.notes) and blind not in own.to_csv()
    # a person not scored (too few genotypes called) has no call to qualify
    strict = list(csv.DictReader(io.StringIO(predict_file(model, genotypes, min_call_rate=0.99).to_csv())))
    assert {r["call"] for r in strict if blind in r[NOTES_COLUMN]} <= {"high", "low"}
    assert any(r["call"] == NO_CALL and blind not in r[NOTES_COLUMN] for r in strict)


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
    from genofed.common.scoring.people import encoded_cohort

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


def test_percentiles_the_dp_noise_dominates_are_withheld_and_said_so(tmp_path):
    """A distribution from a few noisy patients (the model file records its noise) gives no
    percentiles: an audit found most of a test cohort at percentile 1 from 43 noisy patients."""
    model = model_file()
    noisy = risk_distribution(HISTOGRAM / 4, round_=3, noise_per_count=3.5)
    assert percentiles_shown(noisy) is False
    withheld = replace(model, operating={**model.operating, "risk_distribution": noisy})
    genotypes, phenotypes = write_people(tmp_path)
    result = predict_file(withheld, genotypes, phenotypes=phenotypes)
    assert result.percentiles is None and result.reference is None
    assert {r["percentile"] for r in csv.DictReader(io.StringIO(result.to_csv()))} == {""}
    (note,) = [n for n in result.notes if n.startswith("percentiles not shown")]
    # one decimal and the limit: "5 points" for a withheld 5.46 read as within the limit of 5
    assert f"whose DP noise moves a percentile by up to {noisy['percentile_sd']:.1f} points and " in note
    assert "sampling so few people by up to 12.4: 49.7 points together (one sd; shown up to 5)" in note
    shown = risk_distribution(HISTOGRAM * 4, round_=3, noise_per_count=3.5)  # 3.0 and 3.1 points: 4.3
    kept = predict_file(
        replace(model, operating={**model.operating, "risk_distribution": shown}),
        genotypes,
        phenotypes=phenotypes,
    )
    assert kept.percentiles is not None
    assert "the DP noise and sampling move a percentile by up to 4 points together (one sd)" in kept.reference


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


def _write_dosages(folder, dosages):
    """genotypes.vcf and phenotypes.csv of `people()` with other dosages."""
    _, samples, labels, covariates = people()
    folder.mkdir(parents=True, exist_ok=True)
    write_vcf(folder / "genotypes.vcf", dosages, samples, list(model_file().panel.variant_ids))
    write_phenotypes(folder / "phenotypes.csv", samples, labels, covariates)
    return folder / "genotypes.vcf", folder / "phenotypes.csv"


def test_a_person_with_too_few_genotypes_called_gets_no_call(tmp_path):
    """Imputed genotypes are the panel's average: a person with none called would get an
    ordinary, reassuring risk. Under the minimum call rate: no risk, percentile or call, a reason."""
    model = model_file()
    dosages = people()[0].copy()
    dosages[0] = -1  # nothing called
    dosages[1] = np.where(np.arange(N_VARIANTS) < 18, -1, np.maximum(dosages[1], 0))  # 12 of 30 called
    genotypes, phenotypes = _write_dosages(tmp_path, dosages)
    result = predict_file(model, genotypes, phenotypes=phenotypes)
    assert result.min_call_rate == pytest.approx(0.9)  # DEFAULT_MIN_CALL_RATE, whatever --min-coverage is
    assert result.n_not_called == 2 and list(np.flatnonzero(~result.scored)) == [0, 1]
    assert result.calls[:2] == [NO_CALL, NO_CALL] and set(result.calls[2:]) <= {"high", "low"}
    rows = list(csv.DictReader(io.StringIO(result.to_csv())))
    for row in rows[:2]:
        assert row["risk"] == "" and row["percentile"] == "" and row["call"] == NO_CALL
    assert rows[0][NOTES_COLUMN] == "0.0% of panel genotypes called, under the minimum 90%: not scored"
    assert rows[1][NOTES_COLUMN].startswith("40.0% of panel genotypes called")
    assert rows[1]["coverage"] == "0.4000"
    assert rows[2]["risk"] != "" and rows[2][NOTES_COLUMN] == ""
    assert any("2 of 60 people have under 90% of the panel's genotypes called" in n for n in result.notes)
    # the AUC is over the people scored
    keep = np.arange(60) >= 2
    assert result.auc() == pytest.approx(binary_metrics(result.labels[keep], result.risks[keep])["auc"])
    # the minimum is the user's: 0 scores everyone; it does not follow --min-coverage (its own default)
    assert predict_file(model, genotypes, min_call_rate=0.0).n_not_called == 0
    assert predict_file(model, genotypes, min_coverage=0.3).n_not_called == 2
    assert predict_file(model, genotypes, min_coverage=0.3, min_call_rate=0.3).n_not_called == 1
    # no call even where the model has no threshold (the call column is otherwise empty)
    bare = predict_file(model_file(operating=False), genotypes)
    assert [r["call"] for r in csv.DictReader(io.StringIO(bare.to_csv()))][:3] == [NO_CALL, NO_CALL, ""]


def test_percentiles_are_whole_numbers_clipped_to_1_99():
    """The reference holds a few hundred noisy patients: neither 0 nor 100, nor a decimal, is meant."""
    result = Predictions(
        sample_ids=[f"P{i}" for i in range(6)],
        risks=np.array([0.01, 0.1, 0.3, 0.5, 0.75, 0.9]),
        coverage=np.ones(6),
        imputed=np.zeros(6, dtype=int),
        alignment=None,
        percentiles=np.array([0.0, 0.4, 12.5, 50.6, 99.7, 100.0]),
    )
    np.testing.assert_array_equal(result.shown_percentiles, [1, 1, 12, 51, 99, 99])
    rows = list(csv.DictReader(io.StringIO(result.to_csv())))
    assert [r["percentile"] for r in rows] == ["1", "1", "12", "51", "99", "99"]
    assert [r["risk"] for r in rows] == ["0.010", "0.100", "0.300", "0.500", "0.750", "0.900"]


def test_a_risk_is_never_rounded_across_the_threshold():
    """0.4996 called low must not show as 0.500 (a row that looks wrong, and that a spreadsheet's
    `risk >= 0.5` would count as high)."""
    result = Predictions(
        sample_ids=["A", "B", "C", "D"],
        risks=np.array([0.4996, 0.5, 0.50004, 0.2996]),
        coverage=np.ones(4),
        imputed=np.zeros(4, dtype=int),
        alignment=None,
        threshold=0.5,
    )
    rows = list(csv.DictReader(io.StringIO(result.to_csv())))
    assert [(r["risk"], r["call"]) for r in rows] == [
        ("0.499", "low"),
        ("0.500", "high"),
        ("0.500", "high"),
        ("0.300", "low"),
    ]
    assert shown_risk(0.67745, 0.67741) == 0.678 and shown_risk(0.6773, None) == 0.677


def test_a_threshold_given_replaces_the_models_and_says_so(tmp_path):
    model = model_file()
    genotypes, phenotypes = write_people(tmp_path)
    own = predict_file(model, genotypes, phenotypes=phenotypes)
    assert own.threshold_source == "model"
    assert "the model's operating threshold (youden" in own.threshold_detail
    given = predict_file(model, genotypes, phenotypes=phenotypes, threshold=0.7)
    assert given.threshold == 0.7 and given.threshold_source == "--threshold"
    assert "the model's own is 0.5" in given.threshold_detail
    assert given.calls == ["high" if r >= 0.7 else "low" for r in given.risks]
    assert given.calls != own.calls
    # a model without one: calls at the given threshold, and no "call column is empty" note
    bare = predict_file(model_file(operating=False), genotypes, phenotypes=phenotypes, threshold=0.7)
    assert bare.calls == given.calls and "the model file has none" in bare.threshold_detail
    assert not any("no operating threshold" in note for note in bare.notes)


def test_imputed_covariates_and_an_implausible_age_are_noted_per_person(tmp_path):
    model = model_file()
    genotypes, phenotypes = write_people(tmp_path)
    frame = pd.read_csv(phenotypes, dtype=str, keep_default_na=False)
    frame.loc[0, "age"], frame.loc[1, "age"], frame.loc[2, "sex"] = "118", "", ""
    frame.to_csv(phenotypes, index=False)
    result = predict_file(model, genotypes, phenotypes=phenotypes)
    rows = list(csv.DictReader(io.StringIO(result.to_csv())))
    assert rows[0][NOTES_COLUMN].startswith("age 118 over 100: check it")
    assert "does not record the ages it was validated on" in rows[0][NOTES_COLUMN] and rows[0]["risk"] != ""
    assert rows[1][NOTES_COLUMN] == "age unknown: imputed"
    assert rows[2][NOTES_COLUMN] == "sex unknown: imputed"
    assert {r[NOTES_COLUMN] for r in rows[3:]} == {""}
    assert any("1 of 60 people are older than 100: P000 (118)" in note for note in result.notes)
    assert any("covariate age unknown for 1 of 60" in n and "notes column" in n for n in result.notes)


def test_the_risk_is_said_to_be_a_score_and_the_reference_population_named(tmp_path):
    model = model_file()
    genotypes, _ = write_people(tmp_path)
    result = predict_file(model, genotypes)
    said = [note for note in result.notes if note.startswith("'risk' is the model's score")]
    assert len(said) == 1 and "judged nowhere" in said[0]  # a pretrain-like file: judged nowhere
    federated = replace(
        model, provenance={"kind": "federated", "metrics": {"test": {"ece": 0.1123, "auc": 0.7}}}
    )
    note = risk_note(federated)
    assert "report.md, 'Calibration'" in note and "records no verdict" in note and "0.112" in note
    assert "recalibrated on the hospital's own training patients" in risk_note(
        replace(model, provenance={"kind": "adapted"})
    )
    # the helpers' run: 70 controls and 60 cases, exact counts (a run without DP)
    assert result.reference == reference_population(model)
    assert result.reference == (
        "the federation's validation patients (exact counts): 130 people, 46% cases; clinic "
        "patients, not the general population"
    )
    assert reference_population(model_file(operating=False)) is None
    # beside a DP run's noisy count, what the hospitals declared (public, in the provenance): an audit
    # read "about 304" with nothing to say that the hospitals declared 242
    noisy = risk_distribution(RUN_HISTOGRAM, round_=3, noise_per_count=0.5)
    declared = replace(
        model,
        provenance={"sites": {"a": {"train": 40, "validation": 10}, "b": {"validation": 42}}},
        operating={**model.operating, "risk_distribution": noisy},
    )
    assert reference_population(declared).startswith(
        "the federation's validation patients (noisy counts): about 130 people (the hospitals declared 52), "
        "about 46% cases"
    )


def test_people_are_encoded_and_scored_a_batch_at_a_time(tmp_path, monkeypatch):
    """60 people in batches of 25: no encoding of more than 25 rows (5,000 people on a whole
    array's panel would otherwise hold about 25 GB of features), and the same risks, covariates
    included, as the whole cohort encoded at once."""
    from genofed.common.scoring import people as people_module
    from genofed.common.scoring import predict as predict_module

    model = model_file()
    genotypes, phenotypes = write_people(tmp_path)
    encoded = []

    def encode_counted(spec, cohort):
        encoded.append(cohort.n_samples)
        return encode(spec, cohort)

    monkeypatch.setattr(predict_module, "SCORE_ROWS", 25)
    monkeypatch.setattr(people_module, "encode", encode_counted)
    result = predict_file(model, genotypes, phenotypes=phenotypes)
    assert encoded == [25, 25, 10]
    np.testing.assert_allclose(result.risks, _expected_risks(model, None), rtol=0, atol=1e-7)
