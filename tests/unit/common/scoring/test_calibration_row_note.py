"""A model whose file records that its risks failed their calibration check says so on every row of
risks.csv, not only on stderr and in risks.csv.json: a clinician who opens only the CSV read
"0.948, high" as a 95 % chance (a new-user walkthrough). A model whose check passed gets no such
note."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import numpy as np
from helpers.model_files import model_file, write_people
from helpers.validated_on import adults

from genofed.cli.main import main
from genofed.common.scoring.model_file import save_model_file
from genofed.common.scoring.predict import predict_file
from genofed.common.scoring.risks_csv import NOTES_COLUMN
from genofed.common.scoring.validation import validation_record
from genofed.common.scoring.verdict_notes import calibration_row_note

FEDERATED = {"source": "federated run RUN", "kind": "federated"}
#: What every row of a model whose risks failed their calibration check says in its notes.
ROW_NOTE = "risk is a score, not a probability: not calibrated on the coordinator's test cohort"


def _overconfident() -> dict:
    """A test cohort's record whose risks are far off: half cases, everyone at 0.95 or 0.05 at random."""
    labels = np.arange(200) % 2
    risks = np.where(np.random.default_rng(0).random(200) < 0.5, 0.95, 0.05)
    return validation_record(
        cohort="the coordinator's test cohort",
        source="held out by the coordinator (a test)",
        labels=labels,
        risks=risks,
        ages=np.linspace(18, 79, 200),
        sexes=labels,
        said_as="the test cohort",
    )


def test_every_row_of_a_model_whose_risks_failed_calibration_says_the_risk_is_a_score(tmp_path, capsys):
    record = _overconfident()
    assert record["calibration"]["calibrated"] is False
    path = tmp_path / "model.pt"
    save_model_file(path, replace(model_file(), provenance=FEDERATED, validated_on=record))
    genotypes, phenotypes = write_people(tmp_path / "people")
    out = tmp_path / "risks.csv"
    args = ["predict", "--model", str(path), "--genotypes", str(genotypes), "--phenotypes", str(phenotypes)]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = list(csv.DictReader(out.open()))
    note = calibration_row_note(replace(model_file(), validated_on=record))
    gap = round(100 * record["calibration"]["largest_gap"])
    assert note == f"{ROW_NOTE} (up to {gap} percentage points off)"
    assert rows and all(row[NOTES_COLUMN].startswith(note) for row in rows)
    assert f"(every row's notes column says '{note}')" in printed
    provenance = json.loads((tmp_path / "risks.csv.json").read_text())
    assert provenance["validated_on"]["row_note"] == note


def test_a_model_whose_risks_passed_or_were_not_judged_gets_no_such_note(tmp_path):
    genotypes, phenotypes = write_people(tmp_path)
    for validated_on in (adults(), {}):  # consistent with calibration; not recorded
        model = replace(model_file(), provenance=FEDERATED, validated_on=validated_on)
        assert calibration_row_note(model) is None
        result = predict_file(model, genotypes, phenotypes=phenotypes)
        assert not any(ROW_NOTE in result.notes_of(i) for i in range(len(result.sample_ids)))
