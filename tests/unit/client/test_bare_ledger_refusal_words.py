"""A ledger outside any site (`genofed synth --state-dir DIR --budget B`) is no site: its budget
refusal says "this ledger has spent", not "this site has spent" (a walkthrough's finding)."""

from __future__ import annotations

from helpers.site_files import write_small_site

from genofed.cli.main import main


def test_a_bare_ledgers_budget_refusal_says_this_ledger(tmp_path, capsys):
    genotypes, phenotypes = write_small_site(tmp_path / "krasnodar")
    state = tmp_path / "kstate"
    argv = [
        "synth",
        "--genotypes",
        str(genotypes),
        "--phenotypes",
        str(phenotypes),
        "--out",
        str(tmp_path / "o"),
    ]
    assert main([*argv, "--epsilon", "5", "--budget", "3", "--state-dir", str(state)]) != 0
    err = capsys.readouterr().err
    assert (
        "this ledger has spent epsilon 0; the generator at epsilon 5 (the release's own) would exceed "
        "its budget of 3" in err
    )
    assert "this site" not in err and not state.exists()
