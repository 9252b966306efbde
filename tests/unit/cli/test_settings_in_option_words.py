"""A run-settings refusal reaches `genofed simulate` and `coordinator init` users in the words of
their options: `RunSettings` words it as a run config does ("privacy=distributed needs secagg; add
secagg"), which such a user never typed ("add --secagg")."""

from __future__ import annotations

import pytest

from genofed.cli.main import main
from genofed.cli.options import settings_as_options

SETTINGS = ["privacy", "secagg", "synthetic-ratio", "max-coalition-epsilon", "model", "epsilon", "prior"]


@pytest.mark.parametrize(
    ("message", "said"),
    [
        (
            "privacy=distributed needs secagg: each hospital adds only its share; add secagg",
            "--privacy=distributed needs --secagg: each hospital adds only its share; add --secagg",
        ),
        (
            "max-coalition-epsilon caps ... only under privacy=distributed: add privacy=distributed "
            "(with secagg), or drop it",
            "--max-coalition-epsilon caps ... only under --privacy=distributed: add --privacy=distributed "
            "(with --secagg), or drop it",
        ),
        ("set synthetic-ratio 0, or use privacy=local", "set --synthetic-ratio 0, or use --privacy=local"),
        # ordinary words stay: a setting without a dash is replaced only where it is given a value
        (
            "the model reads the prior's variants at this epsilon: use model=network",
            "the model reads the prior's variants at this epsilon: use --model=network",
        ),
    ],
)
def test_settings_become_options_where_they_are_settings(message: str, said: str) -> None:
    assert settings_as_options(message, SETTINGS) == said


def test_a_setting_the_command_has_no_option_for_is_left_alone() -> None:
    assert settings_as_options("add secagg", ["privacy"]) == "add secagg"


def test_simulate_names_the_switch_to_add(tmp_path, capsys) -> None:
    code = main(
        ["simulate", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--privacy", "distributed"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "add --secagg" in err and "needs --secagg" in err
