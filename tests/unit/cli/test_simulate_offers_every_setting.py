"""Every run setting is an option of `genofed simulate` that reaches the run's settings, or is named
below with the reason simulate does not offer it (docs/extending.md, "A run setting", place 5): a
setting added to `RunSettings` without its option and its line in `_settings` cannot be set in a
simulation, and argparse answers its option with the nearest other one ("did you mean
--momentum?", another setting). The settings come from `RunSettings`' fields, so a new field fails
here until it has both, or its reason here.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path
from typing import Any

import genofed.server.settings as settings_module
from genofed.cli.simulation import SIMULATE_OPTION_NAMES, _settings, register_simulate
from genofed.server.settings import RunSettings

#: Run settings `genofed simulate` deliberately has no option for, each with its reason.
NOT_OFFERED = {
    "panel": "the run reads --data's panel.tsv, or builds one from the hospitals' variant summaries "
    "into RUN (simulations/local/run_panel.py)",
    "ledger-dir": "the virtual hospitals' ledgers live in RUN/privacy-ledgers, which --force replaces "
    "and --resume reads (simulations/local/simulate.py)",
    "expected-nodes": "deployment only: how many enrolled hospitals a deployed run waits for; a "
    "simulation's virtual hospitals are all there from the start",
    "wait-seconds": "deployment only: how long a deployed run waits for its expected-nodes",
    "round-timeout": "a simulation keeps Flower's hour (DEFAULT_ROUND_TIMEOUT), so a slow machine does "
    "not change which hospitals a round hears from (docs/deployment.md)",
}


def _simulate_parser() -> argparse.ArgumentParser:
    commands = argparse.ArgumentParser().add_subparsers()
    register_simulate(commands)
    return commands.choices["simulate"]


def _option(setting: str) -> str:
    """The simulate option of a run setting (its name, unless `SIMULATE_OPTION_NAMES` renames it)."""
    return SIMULATE_OPTION_NAMES.get(setting, f"--{setting}")


def _run_settings() -> list[str]:
    """Every run setting, by its run-config key."""
    return [field.name.replace("_", "-") for field in fields(RunSettings)]


def _options() -> dict[str, str]:
    """Every option of `genofed simulate`, with the attribute argparse stores it in."""
    return {string: action.dest for action in _simulate_parser()._actions for string in action.option_strings}


def test_every_run_setting_is_a_simulate_option_or_says_why_not() -> None:
    options = _options()
    missing = [s for s in _run_settings() if s not in NOT_OFFERED and _option(s) not in options]
    assert missing == [], (
        f"run setting(s) {missing} have no `genofed simulate` option: add one in cli/simulation.py and "
        "its line in `_settings`, or its reason in NOT_OFFERED (docs/extending.md, 'A run setting', "
        "place 5)"
    )


def test_the_settings_not_offered_are_run_settings_without_an_option() -> None:
    options = _options()
    assert set(NOT_OFFERED) <= set(_run_settings())
    assert [s for s in NOT_OFFERED if _option(s) in options] == []


def test_every_simulate_option_reaches_its_own_run_setting(monkeypatch) -> None:
    """`_settings` passes each option's value to its setting: an option without its line there is
    parsed, then dropped (the run gets the default), and one on another's line sets the wrong one."""
    options = _options()
    args = _simulate_parser().parse_args(["--out", "RUN"])
    expected: dict[str, Any] = {"data_dir": "<data>", "out_dir": "<out>"}  # `run_simulate` resolves both
    for setting in _run_settings():  # one without an option: the test above
        if _option(setting) in options and setting not in SIMULATE_OPTION_NAMES:
            dest = options[_option(setting)]
            setattr(args, dest, f"<{dest}>")  # a value no other option holds
            expected[setting.replace("-", "_")] = f"<{dest}>"
    given: dict[str, Any] = {}
    monkeypatch.setattr(settings_module, "RunSettings", lambda **settings: given.update(settings))
    _settings(args, Path("<data>"), Path("<out>"))
    assert given == expected
