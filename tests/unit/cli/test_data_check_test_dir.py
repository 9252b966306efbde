"""`genofed data check --test-dir DIR` checks a held-out test cohort kept outside the federation
folder as `genofed simulate --test-dir DIR` reads it: its two files found by the hospital-folder
rule, the hospitals' label column (a test file without it is told to rename its own), the same
refusal of a --test-dir that is no folder; every refusal one line, or JSON under --json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers.site_files import NAMED_COHORT_VARIANTS, write_named_cohort

from genofed.cli.main import main
from genofed.common.data.panel import VariantPanel


@pytest.fixture
def held(tmp_path: Path) -> Path:
    """A test cohort under a name no federation folder would give it, outside any federation."""
    folder = tmp_path / "elsewhere" / "holdout_2024"
    write_named_cohort(folder, "T")
    return folder


def _check(capsys, *options: str) -> tuple[int, str, str]:
    code = main(["data", "check", *options])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_test_cohort_kept_elsewhere_is_checked_as_simulate_reads_it(held, tmp_path, capsys):
    panel = tmp_path / "panel.tsv"
    VariantPanel(NAMED_COHORT_VARIANTS, np.full(len(NAMED_COHORT_VARIANTS), 0.5)).save(panel)
    code, out, _ = _check(capsys, "--test-dir", str(held), "--panel", str(panel), "--json")
    summary = json.loads(out)
    assert code == 0 and summary["ok"] is True
    assert summary["test_dir"] == str(held)
    assert (summary["genotypes"], summary["phenotypes"]) == (
        str(held / "genotypes.vcf.gz"),
        str(held / "phenotypes.csv"),
    )
    assert summary["samples"] == 24 and summary["alignment"]["coverage"] == 1.0
    code, out, _ = _check(capsys, "--test-dir", str(held), "--panel", str(panel))
    assert code == 0 and out.startswith(f"test cohort: {held}\n")
    assert out.rstrip().endswith("OK: the test cohort can be used to evaluate the model.")
    # without the panel simulate aligns it to, its coverage is not checked, and the OK says so
    code, out, _ = _check(capsys, "--test-dir", str(held))
    assert code == 0 and "OK: the test cohort can be used" not in out
    assert out.rstrip().endswith("add --panel FED/panel.tsv to check it as `genofed simulate` reads it.")


def test_a_test_dir_that_is_no_folder_is_refused_in_simulates_words(tmp_path, capsys):
    code, _, checked = _check(capsys, "--test-dir", "nowhere")
    assert code == 2
    fed = tmp_path / "fed"
    write_named_cohort(fed / "rostov", "R")
    code, _, simulated = _check_simulate(capsys, fed, tmp_path / "run")
    assert code == 2
    words = "--test-dir nowhere: not a folder; give the held-out test cohort's folder"
    assert checked.startswith(f"error: {words}") and simulated.startswith(f"error: {words}")
    assert "check a hospital's files with --genotypes and --phenotypes" in checked


def _check_simulate(capsys, fed: Path, out: Path) -> tuple[int, str, str]:
    code = main(["simulate", "--data", str(fed), "--test-dir", "nowhere", "--out", str(out)])
    stdout, err = capsys.readouterr()
    return code, stdout, err


def test_a_test_file_without_the_hospitals_label_column_is_told_to_rename_it(held, capsys):
    phenotypes = held / "phenotypes.csv"
    phenotypes.write_text(phenotypes.read_text().replace("sample_id,label", "sample_id,status", 1))
    code, out, _ = _check(capsys, "--test-dir", str(held), "--label-column", "label", "--json")
    error = json.loads(out)["error"]
    assert code == 2 and error["file"] == str(phenotypes)
    assert error["problem"].startswith("the test cohort has no 'label' column")
    assert "rename its label column to 'label' in phenotypes.csv" in error["hint"]
    assert "pass --label-column" not in error["hint"]  # that would make every hospital fail


def test_a_folder_without_a_genotype_file_is_named(tmp_path, capsys):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("the test cohort comes next week\n")
    code, _, err = _check(capsys, "--test-dir", str(tmp_path / "notes"))
    assert code == 2 and err.startswith(
        f"error: {tmp_path / 'notes'}: the test cohort folder holds no genotype file"
    )


def test_test_dir_beside_the_site_files_is_refused(held, capsys):
    code, out, err = _check(capsys, "--test-dir", str(held), "--genotypes", "g.vcf", "--json")
    message = "--test-dir names the files it checks: give either --test-dir DIR"
    assert code == 2 and json.loads(out)["error"]["problem"].startswith(message)
    assert err.startswith(f"error: {message}") and len(err.strip().splitlines()) == 1


def test_neither_test_dir_nor_the_site_files_is_refused(capsys):
    code, out, err = _check(capsys, "--json")
    message = "give the site's files with --genotypes FILE --phenotypes FILE, or a held-out test cohort's"
    assert code == 2 and json.loads(out)["error"]["problem"].startswith(message)
    assert err.startswith(f"error: {message}") and len(err.strip().splitlines()) == 1
