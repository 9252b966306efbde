"""`genofed predict`, `adapt` and `synth` after an outside audit: --force replaces only an earlier
output of the same command; empty or impossible file options are refused in `genofed data
check`'s words before anything is read; predict's --out must be a .csv; a write the storage
refuses is one line; adapt's notes do not speak of a notes column; an AUC over few people is
flagged the same way in predict and adapt; a folder made for --out is said."""

from __future__ import annotations

import errno
import pathlib

import pytest
from helpers.cli_refusal import refused
from helpers.model_files import write_model_file, write_people

from genofed.cli.main import main
from genofed.common.scoring.predict import ROUGH_AUC_BELOW, rough_auc_caveat


@pytest.fixture
def site(tmp_path):
    model = write_model_file(tmp_path / "model.pt")
    genotypes, phenotypes = write_people(tmp_path / "people")
    return tmp_path, model, genotypes, phenotypes


def _predict(model, genotypes, out, *extra) -> list[str]:
    return ["predict", "--model", str(model), "--genotypes", str(genotypes), "--out", str(out), *extra]


def _adapt(model, genotypes, phenotypes, out, *extra) -> list[str]:
    return ["adapt", "--model", str(model), "--genotypes", str(genotypes), "--phenotypes", str(phenotypes),
            "--out", str(out), *extra]  # fmt: skip


# M1: --force replaces an earlier output of the same command, nothing else


def test_predict_force_never_replaces_a_file_it_did_not_write(site, capsys):
    folder, model, genotypes, phenotypes = site
    victims = {"genotypes copy.csv": genotypes.read_bytes(), "phenotypes copy.csv": phenotypes.read_bytes()}
    for name, content in victims.items():
        (folder / name).write_bytes(content)
        for extra in ([], ["--force"]):
            err = refused(_predict(model, genotypes, folder / name, *extra), capsys, max_lines=1)
            assert "is not a predictions CSV written by `genofed predict`" in err
            assert "choose another --out" in err and "pass --force" not in err
        assert (folder / name).read_bytes() == content


def test_predict_force_replaces_its_own_csv_but_not_once_it_was_edited(site, capsys):
    folder, model, genotypes, _ = site
    out = folder / "risks.csv"
    assert main(_predict(model, genotypes, out)) == 0
    capsys.readouterr()
    assert "pass --force to replace it" in refused(_predict(model, genotypes, out), capsys)
    assert main(_predict(model, genotypes, out, "--force")) == 0
    capsys.readouterr()
    out.write_text(out.read_text() + "edited,by,hand\n")  # its provenance no longer describes it
    edited = out.read_text()
    err = refused(_predict(model, genotypes, out, "--force"), capsys)
    assert "is not a predictions CSV written by `genofed predict`" in err
    assert out.read_text() == edited


def test_adapt_force_replaces_only_an_adapted_model_file(site, capsys):
    folder, model, genotypes, phenotypes = site
    (folder / "victim.csv").write_bytes(phenotypes.read_bytes())
    (folder / "shared copy.pt").write_bytes(model.read_bytes())
    for victim in ("victim.csv", "shared copy.pt"):
        before = (folder / victim).read_bytes()
        err = refused(_adapt(model, genotypes, phenotypes, folder / victim, "--force"), capsys, max_lines=1)
        assert "is not an adapted model file of `genofed adapt`" in err and "choose another --out" in err
        assert (folder / victim).read_bytes() == before
    adapted = folder / "adapted.pt"
    assert main(_adapt(model, genotypes, phenotypes, adapted)) == 0
    capsys.readouterr()
    assert "pass --force to replace it" in refused(_adapt(model, genotypes, phenotypes, adapted), capsys)
    capsys.readouterr()
    assert main(_adapt(model, genotypes, phenotypes, adapted, "--force")) == 0


# M3: empty or impossible file options, refused as `genofed data check` refuses them


def _file_options(genotypes, phenotypes, option: str, value: str) -> list[str]:
    """--genotypes, --phenotypes and --label-column, `option` given as `value`."""
    given = {"--genotypes": str(genotypes), "--phenotypes": str(phenotypes), "--label-column": "label"}
    given[option] = value
    return [part for pair in given.items() for part in pair]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--genotypes", ""),
        ("--phenotypes", " "),
        ("--label-column", ""),
        ("--label-column", "sample_id"),
        ("--label-column", "sex"),
    ],
)
@pytest.mark.parametrize("command", ["predict", "adapt", "synth"])
def test_empty_file_options_are_refused_in_data_checks_words(site, capsys, command, option, value):
    folder, _, genotypes, phenotypes = site
    options = _file_options(genotypes, phenotypes, option, value)
    expected = refused(["data", "check", *options], capsys)
    out = {"synth": folder / "synthetic", "predict": folder / "r.csv", "adapt": folder / "a.pt"}[command]
    model = [] if command == "synth" else ["--model", str(folder / "missing.pt")]  # never read
    assert refused([command, *model, *options, "--out", str(out)], capsys, max_lines=1) == expected
    assert not out.exists()


@pytest.mark.parametrize("option", ["--model", "--out"])
def test_an_empty_model_or_out_is_named_not_taken_for_the_current_folder(site, capsys, option):
    folder, model, genotypes, _ = site
    given = {"--model": str(model), "--genotypes": str(genotypes), "--out": str(folder / "r.csv")}
    given[option] = ""
    err = refused(["predict", *[part for pair in given.items() for part in pair]], capsys, max_lines=1)
    assert err == f"error: {option} is empty: give the file's path\n"


# L1: predict writes CSV only, so --out must say so


@pytest.mark.parametrize("name", ["r.xlsx", "r.parquet", "r.csv.gz", "r.tsv"])
def test_predict_refuses_an_out_named_for_another_format(site, capsys, name):
    folder, model, genotypes, _ = site
    err = refused(_predict(model, genotypes, folder / name), capsys, max_lines=1)
    assert "writes comma-separated values (CSV) only" in err and "--out" in err and "r.csv" in err
    assert not (folder / name).exists()


# L2: a write the storage refuses is one line, and leaves nothing


def test_a_write_the_storage_refuses_is_one_line_and_leaves_nothing(site, capsys, monkeypatch):
    folder, model, genotypes, _ = site
    (folder / "out").mkdir()

    def too_large(self, *args, **kwargs):
        raise OSError(errno.EFBIG, "File too large")

    monkeypatch.setattr(pathlib.Path, "write_text", too_large)
    err = refused(_predict(model, genotypes, folder / "out" / "big.csv"), capsys, max_lines=1)
    assert err.startswith(f"error: could not write {folder / 'out' / 'big.csv'}: File too large; nothing was")
    assert list((folder / "out").iterdir()) == []


# L3: adapt writes no notes column, so its notes do not mention one


def test_adapts_note_on_an_unknown_covariate_mentions_no_notes_column(site, capsys):
    folder, model, genotypes, phenotypes = site
    no_age = folder / "no_age.csv"
    lines = phenotypes.read_text().splitlines()
    assert lines[0].split(",")[:3] == ["sample_id", "label", "sex"]
    no_age.write_text("\n".join(",".join(line.split(",")[:3]) for line in lines) + "\n")
    assert main(_adapt(model, genotypes, no_age, folder / "adapted.pt")) == 0
    err = capsys.readouterr().err
    assert "note: covariate age unknown for 60 of 60 people" in err
    assert "the adapted model cannot use it" in err and "notes column" not in err


# L4: one caveat rule for an AUC over few people


def test_rough_auc_caveat_is_one_rule():
    assert rough_auc_caveat(ROUGH_AUC_BELOW - 1) == " (few patients: a rough estimate)"
    assert rough_auc_caveat(2, "comparison") == " (few patients: a rough comparison)"
    assert rough_auc_caveat(ROUGH_AUC_BELOW) == ""


def test_predicts_auc_over_few_labelled_people_is_flagged(site, capsys):
    folder, model, genotypes, phenotypes = site
    lines = phenotypes.read_text().splitlines()
    column = lines[0].split(",").index("label")
    few = [lines[0]]
    for i, line in enumerate(lines[1:]):
        cells = line.split(",")
        cells[column] = cells[column] if i < 2 else ""  # two labelled people (a case and a control)
        few.append(",".join(cells))
    (folder / "few.csv").write_text("\n".join(few) + "\n")
    assert main(_predict(model, genotypes, folder / "r.csv", "--phenotypes", str(folder / "few.csv"))) == 0
    out = capsys.readouterr().out
    assert "AUC against 'label' over the 2 of 60 people with one: " in out
    assert out.split("AUC against 'label'")[1].splitlines()[0].endswith("(few patients: a rough estimate)")


# L6: a folder made for --out is said


def test_a_folder_made_for_out_is_said(site, capsys):
    folder, model, genotypes, _ = site
    out = folder / "nodir" / "sub" / "r.csv"
    assert main(_predict(model, genotypes, out)) == 0
    assert f"note: created the folder {out.parent} for --out (it did not exist)" in capsys.readouterr().err
    assert main(_predict(model, genotypes, folder / "r.csv")) == 0
    assert "created the folder" not in capsys.readouterr().err
