"""Without DP, blank ages (or sexes) switch sex and age modelling off for every patient: `genofed synth`
now says so on the terminal and in report.md, as a DP run says how it filled the same blanks. A
walkthrough's run, 53 of 160 ages blank, said nothing anywhere."""

from __future__ import annotations

import json

from helpers.site_files import synth_args, write_small_site

from genofed.cli.main import main
from genofed.client.synth_input import covariates_off_note


def test_blank_ages_without_dp_are_said_on_the_terminal_and_in_the_report(tmp_path, capsys):
    genotypes, phenotypes = write_small_site(tmp_path / "kmiss")
    lines = phenotypes.read_text().splitlines()
    blanked = [lines[0]] + [
        line.rsplit(",", 1)[0] + "," if i % 4 == 0 else line for i, line in enumerate(lines[1:])
    ]
    phenotypes.write_text("\n".join(blanked) + "\n")  # 10 of 40 ages blank
    out = tmp_path / "syn"
    main(synth_args((genotypes, phenotypes), out))
    said = "10 blank age cells: without --epsilon sex and age are modelled only when every patient has both"
    err = capsys.readouterr().err
    assert f"warning: {said}" in err and "models NEITHER for any patient" in err
    assert f"**Missing covariates:** {said}" in (out / "report.md").read_text()
    summary = json.loads((out / "validation.json").read_text())
    assert summary["missing_covariates"]["modelled"] is False


def test_the_note_is_silent_when_nothing_is_blank_or_the_blanks_were_filled():
    assert covariates_off_note({"modelled": True, "missing_sex": 0, "missing_age": 0}) == ""
    assert covariates_off_note({"modelled": False, "missing_sex": 0, "missing_age": 0}) == ""  # no columns
    assert covariates_off_note({"modelled": True, "missing_sex": 1, "missing_age": 0, "filled": 1}) == ""
    assert covariates_off_note({"modelled": False, "missing_sex": 1, "missing_age": 0}).startswith(
        "1 blank sex cell:"
    )
