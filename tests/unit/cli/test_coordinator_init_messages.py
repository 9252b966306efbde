"""`coordinator init` speaks the operator's words: a refused setting is named by the option typed
(--min-hospitals, not the run config's min-nodes), and the settings line shows "rule" where the
stored 0 / -1 mean "the model's rule fills it in"; federation.json keeps the stored values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genofed.cli.main import main

PANEL_TEXT = (
    "id\tchrom\tpos\tref\talt\talt_freq\n1:100:A:G\t1\t100\tA\tG\t0.1\n1:200:C:T\t1\t200\tC\tT\t0.3\n"
)


def _init(tmp_path: Path, *options: str) -> tuple[list[str], Path]:
    (tmp_path / "panel.tsv").write_text(PANEL_TEXT)
    fed = tmp_path / "fed"
    return [
        "coordinator",
        "init",
        str(fed),
        "--host",
        "localhost",
        "--panel",
        str(tmp_path / "panel.tsv"),
        *options,
    ], fed


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--min-hospitals", "0"], "error: --min-hospitals must be >= 1, got 0"),
        (["--secagg", "--min-hospitals", "1"], "error: --secagg needs --min-hospitals >= 2"),
        (["--lr", "-1"], "error: --lr must be >= 0, got -1"),
    ],
)
def test_a_refused_setting_is_named_as_typed(tmp_path, capsys, options, said):
    argv, fed = _init(tmp_path, *options)
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert err.startswith(said) and "min-nodes" not in err
    assert not fed.exists()


def test_the_settings_line_shows_rule_for_the_rules_sentinels_and_stores_them_unchanged(tmp_path, capsys):
    argv, fed = _init(tmp_path, "--rounds", "4", "--batch-size", "32")
    assert main(argv) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("  settings"))
    # what `rule` means comes before the values, not after the last one (prevalence), which it read
    # as being about (a deployment walkthrough)
    note, values = line.split(": ", 1)
    rule = "a value shown as `rule` is filled in by the model's rule at the run's start, docs/models.md"
    assert note == f"  settings ({rule})"
    assert values.split(", ")[-1] == "prevalence unknown" and "(" not in values
    for shown in ("rounds 4", "batch-size 32", "local-epochs rule", "lr rule", "clip rule", "momentum rule"):
        assert shown in line
    assert "min-hospitals 2" in line and "secagg off" in line
    assert "min-nodes" not in line and "-1" not in line and "'lr': 0.0" not in line
    stored = json.loads((fed / "federation.json").read_text())["settings"]
    assert stored["local-epochs"] == 0 and stored["lr"] == 0.0 and stored["momentum"] == -1.0
    assert stored["min-nodes"] == 2 and stored["batch-size"] == 32


def test_the_settings_line_says_nothing_of_the_rule_when_no_value_is_the_rules(tmp_path, capsys):
    argv, _fed = _init(
        tmp_path,
        *("--rounds", "4", "--local-epochs", "2", "--batch-size", "32", "--lr", "0.1"),
        *("--clip", "1", "--momentum", "0", "--prevalence", "0.001"),
    )
    assert main(argv) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("  settings"))
    assert line.startswith("  settings: ") and "rule" not in line and line.endswith("prevalence 0.001")


def test_prior_variants_help_says_what_init_accepts(tmp_path, capsys):
    """The help said "with --gene-prior give K", and init refused --gene-prior with a K: it now
    says K needs --prior (and must be >= 1 with both priors), which is what init enforces."""
    with pytest.raises(SystemExit):
        main(["coordinator", "init", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    described = help_text.split("--prior-variants K ", 1)[1].split("--gene-prior FILE", 1)[0]
    assert "with --gene-prior give K" not in described
    assert "Needs --prior" in described and "with --prior and --gene-prior give K >= 1" in described

    (tmp_path / "genes.bed").write_text("1\t50\t150\tG1\n")
    argv, fed = _init(tmp_path, "--gene-prior", str(tmp_path / "genes.bed"), "--prior-variants", "10")
    assert main(argv) == 2  # as the help says: K without --prior is refused
    assert "it needs prior" in capsys.readouterr().err and not fed.exists()
