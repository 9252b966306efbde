"""`genofed predict` and `inspect-model` carry the threshold's exact test-cohort figures to the
prevalence where the model is used: what share of the people flagged, and of those not flagged, have
the disease there (a biostatistician's review: a "high" call came with LR+ alone, which left the
clinician to do Bayes' rule, and at a prevalence of 1.5 % most flags of a case-control-validated
model are false). The prevalence is --prevalence, else the one the model file records (its run's
--prevalence setting or a simulated disease's, which the run's report gave PPV at)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from helpers.cli_refusal import refused
from helpers.model_files import model_file, write_people

from genofed.cli.inspect_model import _federated_lines
from genofed.cli.main import main
from genofed.common.reporting.ratios import Prevalence
from genofed.common.scoring.model_file import save_model_file
from genofed.common.scoring.operating import held_out_figures_at, held_out_figures_words, recorded_prevalence

# 8 of 10 cases and 5 of 20 controls flagged: sensitivity 0.8, specificity 0.75
FIGURES = held_out_figures_at(
    np.array([1] * 10 + [0] * 20), np.array([0.9] * 8 + [0.1] * 2 + [0.8] * 5 + [0.2] * 15), 0.5
)


def _bayes(prevalence: float) -> tuple[float, float]:
    """(share of flagged people with the disease, share of those not flagged with it), by hand."""
    flagged_cases, flagged_controls = 0.8 * prevalence, 0.25 * (1 - prevalence)
    missed, cleared = 0.2 * prevalence, 0.75 * (1 - prevalence)
    return flagged_cases / (flagged_cases + flagged_controls), missed / (missed + cleared)


def test_the_figures_carried_to_a_prevalence_are_bayes_rule_with_intervals():
    words = held_out_figures_words(FIGURES, Prevalence(0.015, "given with --prevalence"))
    ppv, missed = _bayes(0.015)
    assert f"where 1.5% of people have the disease (given with --prevalence): {100 * ppv:.1f}% (" in words
    assert f"of the people flagged have it, and {100 * missed:.1f}% (" in words
    assert words.endswith("of those not flagged")
    # the intervals come from LR+'s and LR-'s: around the value, inside (0, 1)
    inside = words.split("have the disease")[1]
    low, high = (float(x) for x in inside.split("% (")[1].split(")")[0].split("-"))
    assert 0 < low < 100 * ppv < high < 100
    assert held_out_figures_words(FIGURES) == held_out_figures_words(FIGURES, None)  # as before without


def test_a_recorded_prevalence_must_be_a_share():
    assert recorded_prevalence(
        {"prevalence": {"value": 0.02, "source": "the run's --prevalence setting"}}
    ) == (Prevalence(0.02, "recorded in the model file: the run's --prevalence setting"))
    for bad in (None, {}, {"value": 0}, {"value": 1.0}, {"value": True}, {"value": "0.1"}, {"value": -0.1}):
        assert recorded_prevalence({"prevalence": bad}) is None
    assert recorded_prevalence(None) is None


@pytest.fixture
def site(tmp_path):
    model = model_file()
    recorded = replace(
        model,
        provenance={
            **model.provenance,
            "kind": "federated",
            "metrics": {
                "test_at_threshold": {**FIGURES, "threshold": model.operating["threshold"]["threshold"]}
            },
            "prevalence": {
                "value": 0.015,
                "source": "the simulated disease's population prevalence (truth.json)",
            },
        },
    )
    save_model_file(tmp_path / "model.pt", recorded)
    genotypes, phenotypes = write_people(tmp_path / "people")
    return tmp_path, genotypes, phenotypes


def _predict(folder, genotypes, phenotypes, *extra):
    out = folder / "risks.csv"
    args = ["predict", "--model", str(folder / "model.pt"), "--genotypes", str(genotypes)]
    assert main([*args, "--phenotypes", str(phenotypes), "--out", str(out), "--force", *extra]) == 0
    return json.loads((folder / "risks.csv.json").read_text())


def test_predict_carries_the_figures_to_the_model_files_prevalence_or_to_the_given_one(site, capsys):
    folder, genotypes, phenotypes = site
    record = _predict(folder, genotypes, phenotypes)
    said = capsys.readouterr().out
    ppv, _ = _bayes(0.015)
    assert (
        "where 1.5% of people have the disease (recorded in the model file: the simulated disease's "
        f"population prevalence (truth.json)): {100 * ppv:.1f}% (" in said
    )
    assert record["prevalence"] == {
        "value": 0.015,
        "source": "recorded in the model file: the simulated disease's population prevalence (truth.json)",
    }
    assert "where 1.5% of people" in record["threshold"]["described"]

    record = _predict(folder, genotypes, phenotypes, "--prevalence", "0.2")
    said = capsys.readouterr().out
    ppv, missed = _bayes(0.2)
    assert f"where 20.0% of people have the disease (given with --prevalence): {100 * ppv:.1f}% (" in said
    assert f"and {100 * missed:.1f}% (" in said
    assert record["prevalence"] == {"value": 0.2, "source": "given with --prevalence"}


def test_a_prevalence_that_cannot_be_used_is_said_not_dropped(site, capsys):
    folder, genotypes, phenotypes = site
    record = _predict(folder, genotypes, phenotypes, "--prevalence", "0.2", "--threshold", "0.91")
    captured = capsys.readouterr()
    assert "have the disease" not in captured.out and record["prevalence"] is None
    assert "note: --prevalence was not used: the threshold used is not the model's" in captured.err


def test_a_percentage_for_prevalence_is_refused_before_anything_is_read(site, capsys):
    folder, genotypes, phenotypes = site
    args = ["predict", "--model", str(folder / "model.pt"), "--genotypes", str(genotypes), "--out"]
    message = refused([*args, str(folder / "r.csv"), "--prevalence", "1.5"], capsys)
    assert "--prevalence must be in (0, 1), got 1.5" in message and "0.015 for 1.5 %" in message
    assert not (folder / "r.csv").exists()


def test_inspect_model_gives_the_figures_at_the_recorded_prevalence():
    provenance = {"metrics": {"test_at_threshold": FIGURES}, "prevalence": {"value": 0.015, "source": "x"}}
    (line,) = [line for line in _federated_lines(provenance) if line.startswith("at the operating threshold")]
    assert line.endswith("of those not flagged") and "(recorded in the model file: x)" in line
    (line,) = [
        line
        for line in _federated_lines({"metrics": {"test_at_threshold": FIGURES}})
        if line.startswith("at the operating threshold")
    ]
    assert "have the disease" not in line
