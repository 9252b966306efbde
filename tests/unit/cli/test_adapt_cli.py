"""`genofed adapt`: writes an adapted model file that `genofed predict` reads, prints the local
comparison and the privacy warning, refuses clearly (exit 2, no traceback), never overwrites
unasked, and its --help does not import torch."""

from __future__ import annotations

import pytest
from helpers.cli_help import help_and_heavy_imports
from helpers.model_files import write_model_file, write_people

from genofed.cli.main import main
from genofed.common.scoring.model_file import load_model_file


@pytest.fixture
def hospital(tmp_path):
    model = write_model_file(tmp_path / "shared.pt")
    genotypes, phenotypes = write_people(tmp_path / "people")
    return tmp_path, model, genotypes, phenotypes


def _args(model, genotypes, phenotypes, out) -> list[str]:
    return ["adapt", "--model", str(model), "--genotypes", str(genotypes), "--phenotypes", str(phenotypes),
            "--out", str(out)]  # fmt: skip


def test_adapt_writes_a_file_predict_reads(hospital, capsys):
    folder, model, genotypes, phenotypes = hospital
    out = folder / "adapted.pt"
    assert main(_args(model, genotypes, phenotypes, out)) == 0
    printed = capsys.readouterr().out
    assert "weight on the shared model's score" in printed and "validation patients" in printed
    assert "keep this file inside the hospital" in printed
    adapted = load_model_file(out)
    assert adapted.provenance["kind"] == "adapted"
    assert adapted.provenance["shared_model"] == load_model_file(model).content_hash
    risks = folder / "risks.csv"
    predict = ["predict", "--model", str(out), "--genotypes", str(genotypes), "--out", str(risks)]
    assert main([*predict, "--phenotypes", str(phenotypes)]) == 0
    assert len(risks.read_text().splitlines()) == 61
    # never overwritten unasked
    assert main(_args(model, genotypes, phenotypes, out)) == 2
    assert "pass --force to replace it" in capsys.readouterr().err


def test_adapt_refuses_a_cohort_without_diagnoses(hospital, capsys):
    folder, model, genotypes, phenotypes = hospital
    args = _args(model, genotypes, phenotypes, folder / "adapted.pt")
    assert main([*args, "--label-column", "diagnosis"]) == 2
    err = capsys.readouterr().err
    assert "has no 'diagnosis' column" in err and "Traceback" not in err
    assert not (folder / "adapted.pt").exists()


def test_adapt_help_does_not_import_torch():
    text, heavy = help_and_heavy_imports("adapt")
    assert "--validation-fraction" in text
    assert heavy == []
