"""`coordinator init --wait-seconds`: how long a deployed run waits for every enrolled hospital
before it starts with the --min-hospitals present is the operator's choice, recorded in
federation.json and handed to the run; a negative wait is refused before anything is made."""

from __future__ import annotations

import pytest

from genofed.cli.main import main
from genofed.server.service.federation_folder import deployed_run_config
from genofed.server.settings import RunSettings


def test_the_wait_is_recorded_at_init_and_reaches_the_run(tmp_path, simulated_cohorts, capsys):
    panel = simulated_cohorts(5) / "panel.tsv"
    fed = tmp_path / "fed"
    init = ["coordinator", "init", str(fed), "--host", "localhost", "--panel", str(panel)]
    assert main([*init, "--wait-seconds", "15"]) == 0
    assert deployed_run_config(fed)["wait-seconds"] == 15
    assert main([*init[:2], str(tmp_path / "default"), *init[3:]]) == 0
    assert deployed_run_config(tmp_path / "default")["wait-seconds"] == RunSettings().wait_seconds == 120


def test_a_negative_wait_is_refused_and_nothing_is_made(tmp_path, simulated_cohorts, capsys):
    panel = simulated_cohorts(5) / "panel.tsv"
    fed = tmp_path / "fed"
    init = ["coordinator", "init", str(fed), "--host", "localhost", "--panel", str(panel)]
    assert main([*init, "--wait-seconds", "-1"]) != 0
    assert "wait-seconds must be >= 0" in capsys.readouterr().err
    assert not fed.exists()


@pytest.mark.parametrize("seconds", [0.0, 600.0])
def test_run_settings_take_any_wait_from_zero(seconds):
    assert RunSettings(wait_seconds=seconds).wait_seconds == seconds
