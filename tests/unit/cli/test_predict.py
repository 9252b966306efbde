"""`genofed predict`: writes risks.csv, says what it assumed, refuses clearly (exit 2, no
traceback), never overwrites unasked, and its --help does not import torch."""

from __future__ import annotations

import csv

import pytest
import torch
from helpers.cli_help import help_and_heavy_imports
from helpers.model_files import write_model_file, write_people

from genofed.cli.main import main


@pytest.fixture
def scored(tmp_path):
    model = write_model_file(tmp_path / "model.pt")
    genotypes, phenotypes = write_people(tmp_path / "people")
    return tmp_path, model, genotypes, phenotypes


def test_predict_writes_every_column_and_the_auc(scored, capsys):
    folder, model, genotypes, phenotypes = scored
    out = folder / "risks.csv"
    args = ["predict", "--model", str(model), "--genotypes", str(genotypes), "--out", str(out)]
    assert main([*args, "--phenotypes", str(phenotypes)]) == 0
    printed = capsys.readouterr()
    assert "AUC against 'label'" in printed.out and "operating threshold 0.5" in printed.out
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 60
    assert list(rows[0]) == ["sample_id", "risk", "percentile", "call", "coverage", "imputed", "label"]
    # never overwritten unasked; --force replaces it (here without phenotypes: no label column, a note)
    assert main(args) == 2
    assert "pass --force to replace it" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0
    assert "note: no phenotypes: covariates sex, age unknown" in capsys.readouterr().err
    assert "label" not in out.read_text().splitlines()[0]


def test_predict_refuses_with_clear_errors(scored, capsys):
    folder, model, genotypes, phenotypes = scored
    out = str(folder / "risks.csv")

    def refused(*args: str) -> str:
        assert main(["predict", *args, "--out", out]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and err.startswith("error: ")
        return err

    assert "model file not found" in refused(
        "--model", str(folder / "none.pt"), "--genotypes", str(genotypes)
    )
    raw = torch.load(model, weights_only=True)
    raw["operating"]["threshold"]["threshold"] = 0.2
    torch.save(raw, folder / "edited.pt")
    assert "content hash mismatch" in refused(
        "--model", str(folder / "edited.pt"), "--genotypes", str(genotypes)
    )
    (folder / "junk.vcf").write_text("this is not a VCF\n")
    assert "junk.vcf" in refused("--model", str(model), "--genotypes", str(folder / "junk.vcf"))
    few, _ = write_people(folder / "few", drop_last=10)
    assert "covers only 66.7%" in refused("--model", str(model), "--genotypes", str(few))
    assert "--min-coverage" in refused(
        "--model", str(model), "--genotypes", str(genotypes), "--min-coverage", "1.5"
    )
    assert not (folder / "risks.csv").exists()


def test_predict_help_does_not_import_torch():
    text, heavy = help_and_heavy_imports("predict")
    assert "--genotypes" in text and "(default: 0.9)" in text
    assert heavy == []
