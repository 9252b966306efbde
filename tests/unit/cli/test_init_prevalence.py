"""`coordinator init --prevalence`: the disease's prevalence where the model is to be used, recorded
in federation.json and handed to the run, so that a deployed run's report gives PPV and NPV there
as a simulation's does with `genofed simulate --prevalence`. A new-user walkthrough's deployed
report said "pass `--prevalence`", which neither `coordinator init` nor `coordinator start` had.
A folder made before the setting existed reads as before (unknown)."""

from __future__ import annotations

import json

from genofed.cli.main import main
from genofed.server.service.federation_folder import deployed_run_config
from genofed.server.service.folder_files import FEDERATION_FILE
from genofed.server.settings import RunSettings


def _init(tmp_path, simulated_cohorts, name: str) -> list[str]:
    panel = simulated_cohorts(5) / "panel.tsv"
    return ["coordinator", "init", str(tmp_path / name), "--host", "localhost", "--panel", str(panel)]


def test_the_prevalence_is_recorded_at_init_and_reaches_the_run(tmp_path, simulated_cohorts, capsys):
    assert main([*_init(tmp_path, simulated_cohorts, "fed"), "--prevalence", "0.001"]) == 0
    assert "prevalence 0.001" in capsys.readouterr().out
    assert RunSettings.from_config(deployed_run_config(tmp_path / "fed")).prevalence == 0.001
    assert main(_init(tmp_path, simulated_cohorts, "unknown")) == 0
    assert "prevalence unknown" in capsys.readouterr().out
    assert RunSettings.from_config(deployed_run_config(tmp_path / "unknown")).prevalence == 0.0


def test_an_older_folder_without_the_setting_reads_as_unknown(tmp_path, simulated_cohorts):
    assert main(_init(tmp_path, simulated_cohorts, "fed")) == 0
    path = tmp_path / "fed" / FEDERATION_FILE
    federation = json.loads(path.read_text())
    del federation["settings"]["prevalence"]  # as `coordinator init` wrote it before the setting
    path.write_text(json.dumps(federation))
    assert RunSettings.from_config(deployed_run_config(tmp_path / "fed")).prevalence == 0.0


def test_a_prevalence_out_of_range_is_refused_naming_the_option_and_nothing_is_made(
    tmp_path, simulated_cohorts, capsys
):
    assert main([*_init(tmp_path, simulated_cohorts, "fed"), "--prevalence", "1.5"]) != 0
    assert "--prevalence" in capsys.readouterr().err
    assert not (tmp_path / "fed").exists()
