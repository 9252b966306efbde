"""Lowering `genofed predict --min-coverage` lets a sparse genotype file through, not its people:
the per-person minimum (`--min-call-rate`) keeps its own default (0.9) instead of following
--min-coverage, and the refusal's hint says what lowering --min-coverage does and does not change.
An outside walkthrough followed the old hint with `--min-coverage 0` on a file covering 12.3 % of the
panel and got every person scored on 88 % imputed genotypes, `high` calls with empty notes."""

from __future__ import annotations

import csv

import pytest
from helpers.model_files import model_file, write_people

from genofed.cli.main import main
from genofed.common.errors import DataError
from genofed.common.scoring.people import DEFAULT_MIN_CALL_RATE
from genofed.common.scoring.predict import predict_file
from genofed.common.scoring.risks_csv import NO_CALL


@pytest.fixture
def sparse(tmp_path):
    """A model file and a genotype file with 10 of its 30 panel variants (33.3 %)."""
    from genofed.common.scoring.model_file import save_model_file

    model = tmp_path / "model.pt"
    save_model_file(model, model_file())
    genotypes, phenotypes = write_people(tmp_path / "few", drop_last=20)
    return tmp_path, model, genotypes, phenotypes


def test_the_refusal_says_what_lowering_min_coverage_does_not_change(sparse, capsys):
    folder, model, genotypes, _ = sparse
    args = ["predict", "--model", str(model), "--genotypes", str(genotypes), "--out", str(folder / "r.csv")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "covers only 33.3% of the model's 30 panel variants" in err
    assert "or lower the minimum with --min-coverage SHARE if the federation agrees" in err
    assert "lets the file through but does not lower the per-person minimum" in err
    assert "--min-call-rate, default 90% whatever --min-coverage is" in err
    assert "nobody in this file has more than its 33.3% called, so everyone would get 'no call'" in err


def test_following_the_hint_scores_nobody_on_mostly_imputed_genotypes(sparse, capsys):
    folder, model, genotypes, phenotypes = sparse
    out = folder / "r.csv"
    args = ["predict", "--model", str(model), "--genotypes", str(genotypes), "--out", str(out)]
    assert main([*args, "--phenotypes", str(phenotypes), "--min-coverage", "0"]) == 0
    printed = capsys.readouterr()
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 60 and all(row["call"] == NO_CALL and row["risk"] == "" for row in rows)
    assert all("under the minimum 90%: not scored" in row["notes"] for row in rows)
    assert "60 of 60 under the minimum 90%: not called" in printed.out
    # scoring them anyway is an explicit, separate choice
    assert main([*args, "--min-coverage", "0", "--min-call-rate", "0", "--force"]) == 0
    assert all(row["call"] in {"high", "low"} for row in csv.DictReader(out.open()))


def test_the_per_person_minimum_does_not_follow_min_coverage(sparse):
    _, _, genotypes, _ = sparse
    model = model_file()
    result = predict_file(model, genotypes, min_coverage=0.0)
    assert DEFAULT_MIN_CALL_RATE == 0.9 and result.min_call_rate == pytest.approx(0.9)
    assert result.n_not_called == 60
    assert predict_file(model, genotypes, min_coverage=0.0, min_call_rate=0.3).n_not_called == 0
    with pytest.raises(DataError) as refused:  # `genofed adapt`'s reading: no per-person minimum named
        from genofed.common.scoring.people import encoded_cohort

        encoded_cohort(model, genotypes, purpose="fit")
    assert "--min-call-rate" not in refused.value.hint


def test_the_help_says_the_minimums_are_separate(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # no line wrapped inside an option's name
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "default: 0.9, whatever --min-coverage is" in text
    assert "lowering it lets a sparse file through, not its people" in text
