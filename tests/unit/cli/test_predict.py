"""`genofed predict`: writes risks.csv, says what it assumed, refuses clearly (exit 2, no
traceback), never overwrites unasked, and its --help does not import torch."""

from __future__ import annotations

import csv
import gzip
import io
import sys

import pytest
import torch
from helpers.cli_help import help_and_heavy_imports
from helpers.cli_refusal import refused
from helpers.model_files import write_model_file, write_people

from genofed.cli.main import main
from genofed.common.scoring.model_file import load_model_file


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


def _refused(args: list[str], capsys) -> str:
    return refused(args, capsys, max_lines=2)


def test_an_out_folder_is_refused_before_any_work(scored, capsys):
    folder, model, genotypes, _ = scored
    (folder / "adir").mkdir()
    # the model does not even exist: the --out refusal comes first, before anything is read
    args = ["predict", "--model", str(folder / "none.pt"), "--genotypes", str(genotypes)]
    err = _refused([*args, "--out", str(folder / "adir"), "--force"], capsys)
    assert "--out" in err and "is a folder: give the path of a file" in err
    err = _refused([*args, "--out", str(genotypes / "x.csv")], capsys)
    assert "is a file, not a folder" in err
    assert sorted(p.name for p in (folder / "adir").iterdir()) == []


def test_a_file_without_any_panel_variant_is_refused_even_at_min_coverage_0(scored, capsys):
    folder, model, _, _ = scored
    other, _ = write_people(folder / "other")
    text = other.read_text().replace("\n1\t", "\n2\t")  # every variant on another chromosome
    other.write_text(text)
    out = folder / "risks.csv"
    err = _refused(
        [
            "predict",
            "--model",
            str(model),
            "--genotypes",
            str(other),
            "--out",
            str(out),
            "--min-coverage",
            "0",
        ],
        capsys,
    )
    assert "none of the model's 30 panel variants is in this file" in err and not out.exists()


def test_the_low_coverage_refusal_names_min_coverage(scored, capsys):
    folder, model, _, _ = scored
    few, _ = write_people(folder / "few", drop_last=10)
    err = _refused(
        ["predict", "--model", str(model), "--genotypes", str(few), "--out", str(folder / "r.csv")], capsys
    )
    assert "covers only 66.7%" in err and "lower the minimum with --min-coverage" in err


def test_expect_hash_must_pin_the_model(scored, capsys):
    folder, model, genotypes, _ = scored
    args = ["predict", "--model", str(model), "--genotypes", str(genotypes), "--out", str(folder / "r.csv")]
    assert "--expect-hash is empty" in _refused([*args, "--expect-hash", ""], capsys)
    digest = load_model_file(model).content_hash
    err = _refused([*args, "--expect-hash", digest[0]], capsys)  # it does start with it: too short
    assert "at least the first 12" in err and "not the approved" not in err
    wrong = ("0" if digest[0] != "0" else "1") + digest[1:12]
    err = _refused([*args, "--expect-hash", wrong], capsys)
    assert "is not the approved" in err and "refusing to use it" in err and "start from it" not in err
    assert main([*args, "--expect-hash", digest[:12].upper()]) == 0


def test_a_genotype_file_as_model_is_named_for_what_it_is(scored, capsys):
    folder, _, genotypes, _ = scored
    gz = folder / "genotypes.vcf.gz"
    gz.write_bytes(gzip.compress(genotypes.read_bytes()))
    for wrong, kind in ((gz, "gzip-compressed"), (genotypes, "a VCF genotype file")):
        args = [
            "predict",
            "--model",
            str(wrong),
            "--genotypes",
            str(genotypes),
            "--out",
            str(folder / "r.csv"),
        ]
        err = _refused(args, capsys)
        assert f"not a genofed model file: it looks like {'a ' if kind.startswith('g') else ''}{kind}" in err
        assert "weights_only" not in err and "RUN/model.pt" in err


def test_a_patient_without_a_label_is_scored_and_the_auc_says_over_whom(scored, capsys):
    folder, model, genotypes, phenotypes = scored
    lines = phenotypes.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[3].split(",")
    row[header.index("label")] = ""
    lines[3] = ",".join(row)
    partial = folder / "partial.csv"
    partial.write_text("\n".join(lines) + "\n")
    out = folder / "risks.csv"
    args = ["predict", "--model", str(model), "--genotypes", str(genotypes), "--out", str(out)]
    assert main([*args, "--phenotypes", str(partial)]) == 0
    printed = capsys.readouterr()
    assert "AUC against 'label' over the 59 of 60 people with one" in printed.out
    assert "note: 1 of 60 people have no 'label'" in printed.err
    assert list(csv.DictReader(out.open()))[2]["label"] == ""
    disease = folder / "disease.csv"
    disease.write_text(phenotypes.read_text().replace("label", "disease", 1))
    assert main([*args, "--force", "--phenotypes", str(disease)]) == 0
    assert "pass --label-column disease" in capsys.readouterr().err


def test_a_closed_stdout_ends_quietly_with_the_file_written(scored, capsys, monkeypatch):
    """`genofed predict ... | head`: the reader is gone before the summary; no traceback, exit 0."""
    folder, model, genotypes, _ = scored

    class Closed(io.TextIOBase):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self) -> int:
            raise io.UnsupportedOperation("no descriptor")

    monkeypatch.setattr(sys, "stdout", Closed())
    out = folder / "risks.csv"
    assert main(["predict", "--model", str(model), "--genotypes", str(genotypes), "--out", str(out)]) == 0
    monkeypatch.undo()
    assert "Traceback" not in capsys.readouterr().err and len(out.read_text().splitlines()) == 61


def test_predict_help_states_the_hash_minimum():
    text, _ = help_and_heavy_imports("predict")
    assert "at least its first 12 hex" in " ".join(text.split())
