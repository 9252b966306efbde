"""A hospital's hand-run DP release (`genofed synth --epsilon`, `genofed hospital variants --release
dp`) needs a cap: outside a site's state folder, without `--budget` the ledger had none, and every
repeated release spent without limit. Refused before anything is read, trained, written or charged."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers.site_files import write_small_site

from genofed.cli.main import main
from genofed.client.agent.ledger_indexes import INDEX_FILE
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """40 patients' genotypes and phenotypes: enough for the old code to train and charge."""
    return write_small_site(tmp_path / "rostov")


def _nothing_anywhere(tmp_path: Path, *paths: Path) -> None:
    """None of `paths` exists, and the machine-wide ledger index binds nothing."""
    assert not any(p.exists() for p in paths)
    assert not (Path(os.environ["GENOFED_HOME"]) / INDEX_FILE).exists()


def _refused_for_no_cap(argv: list[str], capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert "needs a cap" in err and "--budget EPSILON" in err and "SITE/state" in err
    assert "genofed hospital check" in err and "Nothing was computed, written or charged" in err


def test_synth_with_epsilon_outside_a_site_folder_needs_a_budget(files, tmp_path, capsys):
    genotypes, phenotypes = files
    state, out = tmp_path / "synth-state", tmp_path / "syn"
    argv = ["synth", "--genotypes", str(genotypes), "--phenotypes", str(phenotypes), "--out", str(out)]
    _refused_for_no_cap([*argv, "--epochs", "1", "--epsilon", "2", "--state-dir", str(state)], capsys)
    _nothing_anywhere(tmp_path, out, state)


def test_a_dp_variant_summary_outside_a_site_folder_needs_a_budget_before_the_genotypes_are_read(
    files, tmp_path, capsys
):
    genotypes, _ = files
    state, out = tmp_path / "state", tmp_path / "v.tsv"  # named `state`, but no hospital.json next to it
    argv = ["hospital", "variants", "--release", "dp", "--epsilon", "1", "--state-dir", str(state)]
    _refused_for_no_cap([*argv, "--genotypes", str(genotypes), "--out", str(out)], capsys)
    _nothing_anywhere(tmp_path, out, state)
    # refused before the genotypes are read: a missing file is not what it says
    _refused_for_no_cap([*argv, "--genotypes", str(tmp_path / "none.vcf"), "--out", str(out)], capsys)
    # with a cap it is released and charged
    assert main([*argv, "--budget", "3", "--genotypes", str(genotypes), "--out", str(out)]) == 0
    assert len(PrivacyLedger(state / LEDGER_FILE).charges) == 1


def test_a_site_state_folder_without_a_declared_budget_needs_one_too(files, tmp_path, capsys):
    genotypes, _ = files
    site = tmp_path / "site_rostov"
    site.mkdir()
    (site / "hospital.json").write_text(json.dumps({"name": "rostov", "data": {}}))
    argv = ["hospital", "variants", "--genotypes", str(genotypes), "--release", "dp", "--epsilon", "1"]
    _refused_for_no_cap([*argv, "--state-dir", str(site / "state"), "--out", str(tmp_path / "v.tsv")], capsys)
    _nothing_anywhere(tmp_path, tmp_path / "v.tsv", site / "state")


def test_the_sites_declared_budget_is_the_cap_without_budget(files, tmp_path, capsys):
    genotypes, _ = files
    site = tmp_path / "site_rostov"
    site.mkdir()
    (site / "hospital.json").write_text(json.dumps({"name": "rostov", "data": {"epsilon_budget": 3.0}}))
    argv = ["hospital", "variants", "--genotypes", str(genotypes), "--release", "dp", "--state-dir"]
    argv += [str(site / "state"), "--epsilon"]
    assert main([*argv, "2", "--out", str(tmp_path / "a.tsv")]) == 0
    assert main([*argv, "2.5", "--out", str(tmp_path / "b.tsv")]) == 2  # 2 and 2.5 compose to 3.31 > 3
    assert "exceed its budget of 3" in capsys.readouterr().err
    assert len(PrivacyLedger(site / "state" / LEDGER_FILE).charges) == 1


@pytest.mark.parametrize("budget", ["nan", "0", "-1", "inf"])
def test_a_budget_that_is_no_positive_cap_is_refused(files, tmp_path, capsys, budget):
    """`--budget nan` compared false with every epsilon, so it was no cap at all; inf is none either."""
    genotypes, _ = files
    state, out = tmp_path / "s", tmp_path / "v.tsv"
    argv = ["hospital", "variants", "--genotypes", str(genotypes), "--release", "dp", "--epsilon", "1"]
    assert main([*argv, "--state-dir", str(state), "--budget", budget, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--budget" in err and "Traceback" not in err
    _nothing_anywhere(tmp_path, out, state)


def test_a_larger_budget_raises_a_dp_variant_summarys_cap_only_with_raise_budget(
    files, tmp_path, capsys, caplog
):
    """As for `genofed synth`: a second release given `--budget 10` after `--budget 3` ran with no
    word, the cap of these patients' lifetime loss moved by a command line."""
    genotypes, _ = files
    state = tmp_path / "state"
    argv = ["hospital", "variants", "--genotypes", str(genotypes), "--release", "dp", "--epsilon", "1"]
    argv += ["--state-dir", str(state)]
    assert main([*argv, "--budget", "3", "--out", str(tmp_path / "a.tsv")]) == 0
    capsys.readouterr()
    assert main([*argv, "--budget", "10", "--out", str(tmp_path / "b.tsv")]) == 2
    assert "is above the lifetime cap recorded" in capsys.readouterr().err
    assert not (tmp_path / "b.tsv").exists() and len(PrivacyLedger(state / LEDGER_FILE).charges) == 1
    assert main([*argv, "--budget", "10", "--raise-budget", "--out", str(tmp_path / "c.tsv")]) == 0
    assert "goes from 3 to 10" in caplog.text  # a warning line (logging, on stderr)
    assert len(PrivacyLedger(state / LEDGER_FILE).charges) == 2
