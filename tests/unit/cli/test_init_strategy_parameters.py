"""`coordinator init --proximal-mu/--server-lr`: FedProx's and FedAdam's own settings are chosen at
init, recorded in federation.json and handed to the run (a deployed FedProx always ran with mu 0.01
and FedAdam with eta 0.05: an ML engineer's walkthrough); refused, naming the option, like every
other setting; a folder made before them reads those old values. `simulate` takes `--server-lr`
and `--plan-id` (a `flwr run`'s plan id reproduces that run)."""

from __future__ import annotations

import json

from genofed.cli.main import main
from genofed.server.service.federation_folder import deployed_run_config
from genofed.server.service.folder_files import FEDERATION_FILE
from genofed.server.settings import RunSettings


def _init(tmp_path, simulated_cohorts, name: str) -> list[str]:
    panel = simulated_cohorts(5) / "panel.tsv"
    return ["coordinator", "init", str(tmp_path / name), "--host", "localhost", "--panel", str(panel)]


def test_init_records_the_strategy_parameters_and_the_run_reads_them(tmp_path, simulated_cohorts):
    args = [*_init(tmp_path, simulated_cohorts, "fed"), "--strategy", "fedprox", "--proximal-mu", "0.5"]
    assert main([*args, "--server-lr", "0.2"]) == 0
    settings = json.loads((tmp_path / "fed" / FEDERATION_FILE).read_text())["settings"]
    assert settings["proximal-mu"] == 0.5 and settings["server-lr"] == 0.2
    run = RunSettings.from_config(deployed_run_config(tmp_path / "fed"))
    assert (run.proximal_mu, run.server_lr) == (0.5, 0.2)


def test_a_folder_made_before_them_runs_with_the_old_values(tmp_path, simulated_cohorts):
    assert main(_init(tmp_path, simulated_cohorts, "fed")) == 0
    path = tmp_path / "fed" / FEDERATION_FILE
    federation = json.loads(path.read_text())
    del federation["settings"]["proximal-mu"], federation["settings"]["server-lr"]
    path.write_text(json.dumps(federation))
    run = RunSettings.from_config(deployed_run_config(tmp_path / "fed"))
    assert (run.proximal_mu, run.server_lr) == (0.01, 0.05)


def test_bad_values_are_refused_naming_the_option(tmp_path, simulated_cohorts, capsys):
    assert main([*_init(tmp_path, simulated_cohorts, "a"), "--proximal-mu", "-1"]) != 0
    assert "--proximal-mu must be >= 0" in capsys.readouterr().err
    assert main([*_init(tmp_path, simulated_cohorts, "b"), "--server-lr", "0"]) != 0
    assert "--server-lr must be > 0" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_simulate_takes_the_server_lr_and_a_plan_id(tmp_path):
    from genofed.cli.main import build_parser
    from genofed.cli.simulation import _settings

    given = [
        "--data",
        str(tmp_path),
        "--out",
        str(tmp_path / "run"),
        "--server-lr",
        "0.3",
        "--plan-id",
        "abc123",
    ]
    args = build_parser().parse_args(["simulate", *given])
    settings = _settings(args, tmp_path, tmp_path / "run")
    assert settings.server_lr == 0.3 and settings.plan_id == "abc123"
