"""`coordinator init --round-timeout`: how long a deployed coordinator waits for the hospitals'
replies to one exchange is the operator's choice, 10 minutes unless given, recorded in
federation.json and handed to the run; a folder made before the setting existed gets the same
default; a timeout that would wait for nothing is refused, naming the option, before anything is
made."""

from __future__ import annotations

import json
import math

from genofed.cli.main import main
from genofed.server.service.federation_folder import deployed_run_config
from genofed.server.service.folder_files import FEDERATION_FILE
from genofed.server.settings import DEPLOYED_ROUND_TIMEOUT, RunSettings


def _init(tmp_path, simulated_cohorts, name: str) -> list[str]:
    panel = simulated_cohorts(5) / "panel.tsv"
    return ["coordinator", "init", str(tmp_path / name), "--host", "localhost", "--panel", str(panel)]


def test_the_timeout_is_recorded_at_init_and_reaches_the_run(tmp_path, simulated_cohorts, capsys):
    assert main([*_init(tmp_path, simulated_cohorts, "fed"), "--round-timeout", "90"]) == 0
    assert "round-timeout 90" in capsys.readouterr().out
    assert RunSettings.from_config(deployed_run_config(tmp_path / "fed")).round_timeout == 90
    assert main([*_init(tmp_path, simulated_cohorts, "forever"), "--round-timeout", "inf"]) == 0
    assert math.isinf(RunSettings.from_config(deployed_run_config(tmp_path / "forever")).round_timeout)


def test_a_deployment_waits_ten_minutes_unless_told_also_in_an_older_folder(tmp_path, simulated_cohorts):
    assert main(_init(tmp_path, simulated_cohorts, "fed")) == 0
    assert deployed_run_config(tmp_path / "fed")["round-timeout"] == DEPLOYED_ROUND_TIMEOUT == 600
    path = tmp_path / "fed" / FEDERATION_FILE
    federation = json.loads(path.read_text())
    del federation["settings"]["round-timeout"]  # as `coordinator init` wrote it before the setting
    path.write_text(json.dumps(federation))
    assert deployed_run_config(tmp_path / "fed")["round-timeout"] == DEPLOYED_ROUND_TIMEOUT
    assert RunSettings().round_timeout != DEPLOYED_ROUND_TIMEOUT  # simulations keep Flower's hour


def test_a_timeout_of_nothing_is_refused_naming_the_option_and_nothing_is_made(
    tmp_path, simulated_cohorts, capsys
):
    assert main([*_init(tmp_path, simulated_cohorts, "fed"), "--round-timeout", "0"]) != 0
    err = capsys.readouterr().err
    assert "--round-timeout must be > 0, got 0" in err and "inf = wait for every reply" in err
    assert not (tmp_path / "fed").exists()
