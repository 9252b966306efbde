"""`genofed data check`'s options and refusals: every option is checked before any file is read, a
wrong value is the user's error (not "a bug in genofed"), and with --json every refusal is JSON on
stdout with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genofed.cli.main import main
from genofed.common.data import loading

SAMPLES = [f"S{i}" for i in range(1, 5)]


def _site(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    vcf = folder / "calls.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=1>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(SAMPLES) + "\n"
        "1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0/0\t0/1\t1/1\t0|1\n"
    )
    pheno = folder / "phenotypes.csv"
    pheno.write_text("sample_id,label\nS1,0\nS2,1\nS3,1\nS4,0\n")
    return vcf, pheno


@pytest.fixture
def no_reading(monkeypatch):
    """Fail the test if the site's files are read: a refused option must cost nothing."""

    def read(*args, **kwargs):
        raise AssertionError("a file was read before the options were checked")

    monkeypatch.setattr(loading, "read_genotypes", read)
    monkeypatch.setattr(loading, "read_phenotypes", read)


def _check(capsys, *options: str) -> tuple[int, str, str]:
    code = main(["data", "check", *options])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--min-coverage", "90", "--min-coverage must be in [0, 1], got 90"),
        ("--min-coverage", "-0.1", "--min-coverage must be in [0, 1], got -0.1"),
        ("--min-coverage", "nan", "--min-coverage must be in [0, 1], got nan"),
        ("--min-coverage", "abc", "--min-coverage must be a number, got 'abc'"),
        ("--min-samples", "-3", "--min-samples must be >= 1, got -3"),
        ("--min-samples", "0", "--min-samples must be >= 1, got 0"),
        ("--min-samples", "2.5", "--min-samples must be a whole number, got '2.5'"),
        ("--label-column", " ", "--label-column is empty"),
        ("--label-column", "sample_id", "--label-column cannot be sample_id"),
        ("--label-column", "sex", "--label-column cannot be sex: every model reads sex and age as inputs"),
        ("--label-column", "Age", "--label-column cannot be Age: every model reads sex and age as inputs"),
        ("--panel", "", "--panel is empty"),
    ],
)
def test_a_bad_option_is_refused_before_any_file_is_read(
    tmp_path, capsys, no_reading, option, value, message
):
    vcf, pheno = _site(tmp_path)
    code, out, err = _check(capsys, "--genotypes", str(vcf), "--phenotypes", str(pheno), option, value)
    assert code == 2 and out == ""
    assert err.startswith(f"error: {message}"), err
    assert "bug in genofed" not in err and len(err.strip().splitlines()) == 1


def test_the_audit_case_is_a_user_error_and_json(tmp_path, capsys, no_reading):
    vcf, pheno = _site(tmp_path)
    code, out, err = _check(
        capsys, "--genotypes", str(vcf), "--phenotypes", str(pheno), "--min-coverage", "90", "--json"
    )
    assert code == 2 and "bug in genofed" not in err
    document = json.loads(out)
    assert document["ok"] is False
    assert document["error"]["problem"].startswith("--min-coverage must be in [0, 1], got 90")
    assert set(document["error"]) == {"file", "location", "problem", "hint"}


def test_every_refusal_has_the_same_json_shape(tmp_path, capsys, monkeypatch):
    """A data error, an option error and a bug in genofed all print {"ok": false, "error": {...}}."""
    vcf, pheno = _site(tmp_path)
    code, out, _ = _check(capsys, "--genotypes", str(vcf), "--phenotypes", str(pheno), "--json")
    data_error = json.loads(out)  # 4 samples are below the default --min-samples 20
    assert code == 2 and data_error["ok"] is False and "only 4 samples" in data_error["error"]["problem"]

    def broken(*args, **kwargs):
        raise RuntimeError("reader bug")

    monkeypatch.setattr(loading, "read_genotypes", broken)
    code, out, err = _check(capsys, "--genotypes", str(vcf), "--phenotypes", str(pheno), "--json")
    bug = json.loads(out)
    assert code == 2 and bug["ok"] is False and "RuntimeError: reader bug" in bug["error"]["problem"]
    assert set(bug["error"]) == set(data_error["error"]) == {"file", "location", "problem", "hint"}
    assert err.startswith("error: genofed failed while reading")


def test_valid_options_as_text_still_check_the_site(tmp_path, capsys):
    vcf, pheno = _site(tmp_path)
    code, out, _ = _check(
        capsys,
        "--genotypes",
        str(vcf),
        "--phenotypes",
        str(pheno),
        "--min-samples",
        "4",
        "--min-coverage",
        "0",
        "--label-column",
        " label ",
        "--json",
    )
    assert code == 0 and json.loads(out)["samples"] == 4


def test_missing_phenotypes_or_a_bad_panel_are_refused_before_the_genotypes_are_read(
    tmp_path, capsys, no_reading
):
    vcf, pheno = _site(tmp_path)
    code, _, err = _check(capsys, "--genotypes", str(vcf), "--phenotypes", str(tmp_path / "nope.csv"))
    assert code == 2 and "nope.csv: phenotype file not found" in err
    (tmp_path / "fed").mkdir()
    (tmp_path / "fed" / "panel.tsv").write_text("id\talt_freq\n1:100:A:G\t0.5\n")
    code, _, err = _check(
        capsys, "--genotypes", str(vcf), "--phenotypes", str(pheno), "--panel", str(tmp_path / "fed")
    )
    assert code == 2 and "this is a folder, not a panel file" in err
    assert f"what to do: pass the federation's panel.tsv: {tmp_path / 'fed' / 'panel.tsv'}" in err


def test_a_hospital_folder_as_genotypes_names_its_two_files(tmp_path, capsys, no_reading):
    vcf, pheno = _site(tmp_path / "kazan")
    code, out, err = _check(
        capsys, "--genotypes", str(tmp_path / "kazan"), "--phenotypes", str(pheno), "--json"
    )
    assert code == 2
    error = json.loads(out)["error"]
    assert error["problem"] == "this is a folder, not a genotype file"
    assert error["hint"] == f"it is a hospital folder: check it with --genotypes {vcf} --phenotypes {pheno}"


def test_a_federation_folder_as_genotypes_lists_its_hospitals(tmp_path, capsys, no_reading):
    _site(tmp_path / "fed" / "kazan")
    vcf, pheno = _site(tmp_path / "fed" / "omsk")
    code, _, err = _check(capsys, "--genotypes", str(tmp_path / "fed"), "--phenotypes", str(pheno))
    assert code == 2 and "this is a folder, not a genotype file" in err
    assert "a federation folder of 2 hospital(s) (kazan, omsk)" in err
    assert f"`genofed simulate --data {tmp_path / 'fed'}` reads the whole folder" in err
