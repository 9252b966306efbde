"""`genofed predict`: writes risks.csv, says what it assumed, refuses clearly (exit 2, no
traceback), never overwrites unasked, and its --help does not import torch."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
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
    assert "AUC against 'label'" in printed.out
    assert "on people who trained the model" in printed.out.split("AUC against 'label'")[1]
    # the helper's file is a run's without DP: exact counts, each rate with its interval
    assert "threshold 0.5, the model's operating threshold (youden, sensitivity 0.800 (" in printed.out
    assert "genotypes called per person: lowest 93.3%; 0 of 60 under the minimum 90%" in printed.out
    assert "percentiles (whole numbers, 1-99) relative to the federation's validation patients" in printed.out
    assert "note: 'risk' is the model's score, rounded to 3 decimals" in printed.err
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 60
    header = ["sample_id", "risk", "percentile", "call", "coverage", "imputed", "label", "notes"]
    assert list(rows[0]) == header
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
    # the VCF reader reads only the panel's positions, and finds none of them
    assert "no panel variant is in this file" in err and not out.exists()


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


def test_predict_writes_its_provenance_next_to_the_csv(scored, capsys):
    """risks.csv.json: which model (hash, label), threshold and its source, settings, version, time
    and every note printed; written with the CSV, and never replaced unasked either."""
    folder, model, genotypes, phenotypes = scored
    out = folder / "risks.csv"
    args = ["predict", "--model", str(model), "--genotypes", str(genotypes), "--out", str(out)]
    assert main([*args, "--phenotypes", str(phenotypes)]) == 0
    err = capsys.readouterr().err
    record = json.loads((folder / "risks.csv.json").read_text())
    assert record["format"] == "genofed-predictions/1" and record["csv"] == "risks.csv"
    assert record["csv_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert record["model"]["content_hash"] == load_model_file(model).content_hash
    assert record["model"]["label"] == "label" and record["genofed_version"] and record["written"]
    assert record["threshold"]["value"] == 0.5 and record["threshold"]["source"] == "model"
    assert record["min_call_rate"] == 0.9 and record["people"] == 60 and record["not_called"] == 0
    assert record["notes"] == err.strip().splitlines()  # every line printed on stderr
    # the CSV gone but its provenance left: still refused without --force, nothing written
    out.unlink()
    assert main(args) == 2
    assert "risks.csv.json exists" in capsys.readouterr().err and not out.exists()
    assert main([*args, "--force", "--threshold", "0.7"]) == 0
    record = json.loads((folder / "risks.csv.json").read_text())
    assert record["threshold"]["source"] == "--threshold" and record["threshold"]["model_threshold"] == 0.5
    assert record["csv_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    # the provenance file is never one of the inputs, even with --force
    taken = folder / "p.csv.json"
    taken.write_text(phenotypes.read_text())
    capsys.readouterr()
    err = _refused([*args[:-1], str(folder / "p.csv"), "--phenotypes", str(taken), "--force"], capsys)
    assert "would write its provenance to" in err and "the file given as --phenotypes" in err
    assert taken.read_text() == phenotypes.read_text()


def test_predict_threshold_overrides_the_models_and_is_checked_first(scored, capsys):
    folder, model, genotypes, _ = scored
    out = folder / "risks.csv"
    args = ["predict", "--model", str(model), "--genotypes", str(genotypes), "--out", str(out)]
    assert main([*args, "--threshold", "0.7"]) == 0
    printed = capsys.readouterr().out
    assert "threshold 0.7, given with --threshold (the model's own is 0.5)" in printed
    high = sum(row["call"] == "high" for row in csv.DictReader(out.open()))
    assert f": {high} of 60 called high" in printed
    # the model's own threshold typed in: its recorded rates are said, not "unknown here"
    assert main([*args[:-1], str(folder / "own.csv"), "--threshold", "0.50"]) == 0
    printed = capsys.readouterr().out
    assert "threshold 0.5, given with --threshold, equal to the model's operating threshold (" in printed
    assert "unknown here" not in printed
    missing = ["predict", "--model", str(folder / "none.pt"), "--genotypes", str(genotypes)]
    for bad in ("0", "1", "1.5", "nan"):  # refused before the (missing) model is looked for
        err = _refused([*missing, "--out", str(folder / "r.csv"), "--threshold", bad], capsys)
        assert "--threshold must be in (0, 1)" in err and "not found" not in err
    err = _refused([*missing, "--out", str(folder / "r.csv"), "--min-call-rate", "1.5"], capsys)
    assert "--min-call-rate must be in [0, 1]" in err


def test_people_with_too_few_genotypes_called_are_not_called(scored, capsys):
    folder, model, genotypes, _ = scored
    lines = genotypes.read_text().splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("#"):
            fields = line.split("\t")
            fields[9] = "./."  # the first person: no genotype called at all
            lines[i] = "\t".join(fields)
    genotypes.write_text("\n".join(lines) + "\n")
    out = folder / "risks.csv"
    args = ["predict", "--model", str(model), "--genotypes", str(genotypes), "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr()
    assert "called per person: lowest 0.0%; 1 of 60 under the minimum 90%: not called" in printed.out
    assert ": 1 of 60 people have under 90% of the panel's genotypes called: not scored" in printed.err
    first = next(csv.DictReader(out.open()))
    assert first["call"] == "no call" and first["risk"] == "" and first["percentile"] == ""
    assert first["notes"].startswith("0.0% of panel genotypes called, under the minimum 90%: not scored")
    assert main([*args, "--force", "--min-call-rate", "0"]) == 0
    assert "0 of 60 under the minimum 0%" in capsys.readouterr().out
    assert next(csv.DictReader(out.open()))["call"] in {"high", "low"}


def test_predict_states_who_the_model_was_validated_on(tmp_path, capsys):
    """stdout and risks.csv.json state the validated population and the calibration verdict the
    model file records, with the people outside its ages; a file without them says so."""
    from dataclasses import replace

    from helpers.model_files import model_file
    from helpers.validated_on import adults

    from genofed.common.scoring.model_file import save_model_file
    from genofed.common.scoring.validation import NOT_RECORDED, calibration_words

    validated = replace(model_file(), validated_on=adults())
    save_model_file(tmp_path / "validated.pt", validated)
    genotypes, phenotypes = write_people(tmp_path / "people")
    text = phenotypes.read_text().splitlines()
    header = text[0].split(",")
    first = text[1].split(",")
    first[header.index("age")] = "7"
    phenotypes.write_text("\n".join([text[0], ",".join(first), *text[2:]]) + "\n")
    out = tmp_path / "risks.csv"
    args = ["predict", "--genotypes", str(genotypes), "--phenotypes", str(phenotypes), "--out", str(out)]
    assert main([*args, "--model", str(tmp_path / "validated.pt")]) == 0
    printed = capsys.readouterr()
    assert (
        "  validated on: the coordinator's test cohort: 40 people (20 with the disease), ages 18-79 "
        "(5th-95th percentile 21-76), 20 female, 20 male; 1 of 60 people here are outside its ages "
        "18-79 (marked in the notes column)"
    ) in printed.out
    statement = calibration_words(validated.validated_on)  # 40 people: "cannot tell", not the sentence
    assert statement.startswith("cannot tell on 40 people")
    assert f"  calibration there: {statement}" in printed.out
    assert "age 7: below the ages the model was validated on, 18-79" in out.read_text()
    assert "note: 1 of 60 people are outside the ages the model was validated on" in printed.err
    record = json.loads((tmp_path / "risks.csv.json").read_text())["validated_on"]
    assert record["recorded"] and record["calibration"] == statement and record["outside_ages"] == 1
    # a model file without the record: said on stdout and in the provenance
    assert main([*args, "--model", str(write_model_file(tmp_path / "old.pt")), "--force"]) == 0
    printed = capsys.readouterr()
    assert f"  validated population and calibration verdict: {NOT_RECORDED}" in printed.out
    assert "validated on:" not in printed.out
    record = json.loads((tmp_path / "risks.csv.json").read_text())["validated_on"]
    assert not record["recorded"] and record["population"] == NOT_RECORDED


def test_a_json_that_is_not_predicts_provenance_is_never_replaced(scored, capsys):
    """`--out RUN/results` would write its provenance to RUN/results.json, a run's results: refused
    with or without --force, and said for what it is (not 'the provenance of an earlier results')."""
    folder, model, genotypes, _ = scored
    results = folder / "results.json"
    results.write_text(json.dumps({"plan_id": "p1", "test_auc": 0.72}))
    before = results.read_text()
    args = ["predict", "--model", str(model), "--genotypes", str(genotypes), "--out", str(folder / "results")]
    for extra in ([], ["--force"]):
        err = _refused([*args, *extra], capsys)
        assert "is not a genofed predictions provenance file" in err and "choose another --out" in err
        assert "the provenance of an earlier" not in err and len(err.strip().splitlines()) == 1
    (folder / "garbage.json").write_bytes(b"\xff\x00 not json")
    err = _refused([*args[:-1], str(folder / "garbage"), "--force"], capsys)
    assert "not a genofed predictions provenance file" in err
    assert results.read_text() == before and not (folder / "results").exists()
    # predict's own provenance is still replaced with --force
    assert main([*args[:-1], str(folder / "risks.csv")]) == 0
    assert main([*args[:-1], str(folder / "risks.csv"), "--force"]) == 0


def test_a_resaved_model_with_a_nan_weight_or_a_bad_threshold_is_refused(scored, capsys):
    """Edited and saved again (a valid hash): a NaN weight called everyone 'low' with risk nan, rc 0
    (with labels, a traceback in the AUC); a threshold of 1.5 in the file called nobody high. Both
    are refused before anyone is scored, naming the file and the field."""
    from dataclasses import replace

    from genofed.common.scoring.model_file import save_model_file

    folder, model, genotypes, phenotypes = scored
    loaded = load_model_file(model)
    state = {k: v.clone() for k, v in loaded.state_dict.items()}
    state["linear.weight"][0, 0] = float("nan")
    point = {**loaded.operating["threshold"], "threshold": 1.5}
    edits = {
        "nan.pt": (replace(loaded, state_dict=state), "weights linear.weight hold 1 value"),
        "t15.pt": (
            replace(loaded, operating={**loaded.operating, "threshold": point}),
            r"operating.threshold.threshold is 1.5, outside (0, 1)",
        ),
    }
    for name, (edited, says) in edits.items():
        save_model_file(folder / name, edited)
        out = folder / f"{name}.csv"
        err = _refused(
            [
                "predict",
                "--model",
                str(folder / name),
                "--genotypes",
                str(genotypes),
                "--phenotypes",
                str(phenotypes),
                "--out",
                str(out),
            ],  # fmt: skip
            capsys,
        )
        assert f"{folder / name}: not a usable model file: {says}" in err and not out.exists()
        assert main(["inspect-model", str(folder / name)]) == 2
        assert says in capsys.readouterr().err


def test_the_label_column_defaults_to_the_one_the_model_was_trained_on(tmp_path, capsys):
    """A run on `--label-column disease` writes a model whose task says so; predicting on a file with
    `disease` read `label` instead, called `disease` unused and computed no AUC (an outside walkthrough)."""
    from dataclasses import replace

    from helpers.model_files import model_file

    from genofed.common.scoring.model_file import Task, save_model_file

    model = tmp_path / "model.pt"
    save_model_file(model, replace(model_file(), task=Task("binary", "disease")))
    genotypes, phenotypes = write_people(tmp_path / "people")
    text = phenotypes.read_text()
    phenotypes.write_text(text.replace("label", "disease", 1))
    args = ["predict", "--model", str(model), "--genotypes", str(genotypes), "--phenotypes", str(phenotypes)]
    assert main([*args, "--out", str(tmp_path / "risks.csv")]) == 0
    printed = capsys.readouterr()
    assert "AUC against 'disease'" in printed.out and "not used" not in printed.err
    assert "label" in (tmp_path / "risks.csv").read_text().splitlines()[0]  # risks.csv's own column name
    # a column given wins, and one the file lacks is a mistake, refused before any work (a fuzzing
    # review's `--label-column nope` got a note, exit 0 and no AUC)
    assert main([*args, "--label-column", "label", "--out", str(tmp_path / "r2.csv")]) == 2
    err = capsys.readouterr().err
    assert "has no 'label' column, which --label-column names (its columns: sample_id, disease" in err
    assert not (tmp_path / "r2.csv").exists()


def test_an_unclear_label_is_refused_with_how_to_write_no_diagnosis_yet(scored, capsys):
    """'?' or 'unknown' for a person not yet diagnosed: the reader's 0/1 advice, and (unlike
    training) that an empty label is allowed."""
    folder, model, genotypes, phenotypes = scored
    phenotypes.write_text(phenotypes.read_text().replace("P001,1,", "P001,?,", 1))
    out = folder / "risks.csv"
    args = ["--model", str(model), "--genotypes", str(genotypes), "--phenotypes", str(phenotypes)]
    assert main(["predict", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "label '?' in column label is not binary" in err and "line 3" in err
    assert "leave the label empty for a person without a diagnosis yet" in err and not out.exists()


def test_a_sample_id_a_spreadsheet_would_run_as_a_formula_is_written_as_text():
    """A walkthrough's VCF sample id `=HYPERLINK(...)` went into risks.csv as it was: Excel runs it."""
    from genofed.common.scoring.risks_csv import spreadsheet_text

    assert spreadsheet_text('=HYPERLINK("http://x","y")') == '\'=HYPERLINK("http://x","y")'
    assert spreadsheet_text("@SUM(A1)") == "'@SUM(A1)" and spreadsheet_text("+1-2") == "'+1-2"
    assert spreadsheet_text("-cmd|' /C calc'!A0") == "'-cmd|' /C calc'!A0"
    assert spreadsheet_text("-12") == "-12" and spreadsheet_text("NA19307") == "NA19307"
