"""`genofed simulate --data` on real files bound to a hospital ledger names that ledger and what it
has spent, and says the simulation's spending is in no hospital ledger (a walkthrough's run spent a
fresh budget on patients whose site ledger was spent, without a word)."""

from __future__ import annotations

from helpers.site_files import synth_args, write_small_site

from genofed.cli.main import main
from genofed.common.data.layout import SiteFolder
from genofed.simulations.local.bound_ledgers import say_bound_ledgers


def test_a_hospital_bound_to_a_ledger_is_named_with_what_it_spent(tmp_path, capsys):
    genotypes, phenotypes = write_small_site(tmp_path / "volgograd")
    other = write_small_site(tmp_path / "elista", patients=30)
    state = tmp_path / "kstate"
    main(
        synth_args(
            (genotypes, phenotypes),
            tmp_path / "syn",
            "--epsilon",
            "1",
            "--state-dir",
            str(state),
            "--budget",
            "3",
        )
    )
    capsys.readouterr()
    said: list[str] = []
    folders = [SiteFolder("volgograd", genotypes, phenotypes), SiteFolder("elista", *other)]
    lines = say_bound_ledgers(folders, "runs/x/privacy-ledgers", said.append)
    assert lines == said and len(said) == 1  # elista's files are bound to no ledger
    (line,) = said
    assert line.startswith(
        f"warning: volgograd: these patients are bound to the privacy ledger in {state.resolve()}"
    )
    assert "spent epsilon " in line and "of budget epsilon 3" in line
    assert "spends its own budget on them in runs/x/privacy-ledgers, recorded in no hospital ledger" in line
