"""`predict_file` against the population the model was validated on (`ModelFile.validated_on`): a
child scored by a model validated on adults is flagged in the notes column and counted once, the
older-than-100 note stays, a sex nobody of the validation cohort had is flagged, the risk note
quotes the recorded calibration verdict, and a model file without the record says so in the notes
and the provenance."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import numpy as np
import pandas as pd
from helpers.model_files import model_file, write_people
from helpers.validated_on import adults

from genofed.common.scoring.predict import predict_file
from genofed.common.scoring.risks_csv import NOTES_COLUMN
from genofed.common.scoring.risks_provenance import provenance_record
from genofed.common.scoring.validation import NOT_RECORDED, calibration_words, no_validation_cohort
from genofed.common.scoring.verdict_notes import risk_note

FEDERATED = {"kind": "federated", "metrics": {"test": {"ece": 0.1123}}}


def _with_ages(phenotypes, ages: dict[int, str]) -> None:
    frame = pd.read_csv(phenotypes, dtype=str, keep_default_na=False)
    for row, age in ages.items():
        frame.loc[row, "age"] = age
    frame.to_csv(phenotypes, index=False)


def _ages(phenotypes) -> list[str]:
    return list(pd.read_csv(phenotypes, dtype=str, keep_default_na=False)["age"])


def _validated_on_provenance(model, result, tmp_path, genotypes, phenotypes) -> dict:
    """The `validated_on` block of the provenance file `predict` writes beside its CSV."""
    return provenance_record(
        model,
        result,
        model_path=tmp_path / "model.pt",
        genotypes=genotypes,
        phenotypes=phenotypes,
        label_column="label",
        min_coverage=0.9,
        messages=[],
    )["validated_on"]


def _rows(result) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(result.to_csv())))


def test_a_child_scored_by_a_model_validated_on_adults_is_flagged(tmp_path):
    model = replace(model_file(), provenance=FEDERATED, validated_on=adults())
    genotypes, phenotypes = write_people(tmp_path)  # ages 20-79
    _with_ages(phenotypes, {0: "7", 1: "85", 2: "118", 3: ""})
    result = predict_file(model, genotypes, phenotypes=phenotypes)
    rows = _rows(result)
    assert rows[0][NOTES_COLUMN] == "age 7: below the ages the model was validated on, 18-79"
    assert rows[0]["risk"] != ""  # scored all the same
    assert rows[1][NOTES_COLUMN] == "age 85: above the ages the model was validated on, 18-79"
    # the existing notes stay: over 100, and an unknown age imputed (never "outside")
    assert rows[2][NOTES_COLUMN] == (
        "age 118 over 100: check it; age 118: above the ages the model was validated on, 18-79"
    )
    assert rows[3][NOTES_COLUMN] == "age unknown: imputed"
    # inside 18-79 but beyond its 5th-95th percentiles (21.1-75.9): few people that age were checked
    p5, p95 = model.validated_on["age"]["p5"], model.validated_on["age"]["p95"]
    edge = {i: r[NOTES_COLUMN] for i, r in enumerate(rows) if i >= 4 and r[NOTES_COLUMN]}
    ages = {i: float(a) for i, a in enumerate(_ages(phenotypes)) if i >= 4 and a}
    assert edge and set(edge) == {i for i, a in ages.items() if a < p5 or a > p95}
    for i, note in edge.items():
        side = "younger" if ages[i] < p5 else "older"
        assert note.startswith(f"age {ages[i]:g}: {side} than 95% of the people the model was validated on")
    assert any(n.endswith("few people of their age were checked") for n in result.notes)
    assert result.outside_ages == 3
    counted = [n for n in result.notes if "outside the ages the model was validated on" in n]
    assert len(counted) == 1
    assert counted[0].startswith(
        "3 of 60 people are outside the ages the model was validated on (18-79, the coordinator's test "
        "cohort): P000 (7), P001 (85), P002 (118)"
    )
    assert any(n.startswith("1 of 60 people are older than 100: P002 (118)") for n in result.notes)
    # the risk note quotes the verdict the file records, the run report's own sentence
    said = [n for n in result.notes if n.startswith("'risk' is the model's score")]
    statement = calibration_words(model.validated_on)  # 40 people: "cannot tell", not the sentence
    assert said == [risk_note(model)] and said[0].endswith(statement)
    assert "the model file records the verdict on the coordinator's test cohort" in said[0]


def test_a_sex_nobody_of_the_validation_cohort_had_is_flagged(tmp_path):
    model = replace(model_file(), validated_on=adults(sexes=np.ones(40)))  # women only
    genotypes, phenotypes = write_people(tmp_path)
    result = predict_file(model, genotypes, phenotypes=phenotypes)
    men = [r for r in _rows(result) if "sex male" in r[NOTES_COLUMN]]
    assert men and all("the model was validated on no male people" in r[NOTES_COLUMN] for r in men)
    assert any(n.startswith(f"{len(men)} of 60 people are of a sex nobody of") for n in result.notes)


def test_a_model_without_the_record_says_so(tmp_path):
    model = replace(model_file(), provenance=FEDERATED)  # as every file written before the record
    genotypes, phenotypes = write_people(tmp_path)
    _with_ages(phenotypes, {0: "7", 1: "118"})
    result = predict_file(model, genotypes, phenotypes=phenotypes)
    rows = _rows(result)
    assert rows[0][NOTES_COLUMN] == ""  # nothing to check a child against
    assert rows[1][NOTES_COLUMN] == (
        "age 118 over 100: check it; the model file does not record the ages it was validated on"
    )
    assert result.outside_ages == 0
    assert f"ages not checked against the population the model was validated on: {NOT_RECORDED}" in (
        result.notes
    )
    assert "records no verdict" in risk_note(model) and "0.112" in risk_note(model)
    record = _validated_on_provenance(model, result, tmp_path, genotypes, phenotypes)
    assert record["recorded"] is False and record["record"] is None
    assert record["population"] == record["calibration"] == NOT_RECORDED
    assert record["ages"] is None and record["outside_ages"] is None


def test_a_run_without_a_test_cohort_is_said_to_have_judged_nothing(tmp_path):
    model = replace(model_file(), provenance=FEDERATED, validated_on=no_validation_cohort("no test cohort"))
    genotypes, phenotypes = write_people(tmp_path)
    result = predict_file(model, genotypes, phenotypes=phenotypes)
    assert "judged nowhere (no test cohort)" in risk_note(model)
    assert "ages not checked against the population the model was validated on: none: no test cohort" in (
        result.notes
    )


def test_the_provenance_states_the_validated_population(tmp_path):
    model = replace(model_file(), validated_on=adults())
    genotypes, phenotypes = write_people(tmp_path)
    _with_ages(phenotypes, {0: "7"})
    result = predict_file(model, genotypes, phenotypes=phenotypes)
    record = _validated_on_provenance(model, result, tmp_path, genotypes, phenotypes)
    assert record["recorded"] is True and record["record"] == model.validated_on
    assert record["population"].startswith("the coordinator's test cohort: 40 people (20 with the disease)")
    assert "ages 18-79" in record["population"]
    assert record["calibration"] == calibration_words(model.validated_on)
    assert record["ages"] == {"min": 18.0, "max": 79.0} and record["outside_ages"] == 1
