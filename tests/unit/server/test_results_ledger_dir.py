"""results.json records where a simulation's privacy ledgers are: a `flwr run` that names no
`ledger-dir` recorded "" while its ledgers were in OUT/privacy-ledgers (an ML engineer's
walkthrough). A deployed run's hospitals keep theirs in their own site folders: "" stays."""

from __future__ import annotations

import torch

from genofed.common.data.layout import simulated_ledger_root
from genofed.common.model.network import ModelConfig
from genofed.server.federation import FederationResult
from genofed.server.results import federation_results
from genofed.server.round_log import RoundLog
from genofed.server.settings import RunSettings


def _config(settings: RunSettings) -> dict:
    fed = FederationResult(
        settings=settings,
        rounds=[{"round": 0, "seconds": 0.0}],
        state_dict={"w": torch.ones(2)},
        model_config=ModelConfig(n_variants=10),
        sites={},
        log=RoundLog({}),
        plan_id="plan",
        bytes_per_client_round=0,
        wall_seconds=1.0,
    )
    return federation_results(fed, settings)["config"]


def test_a_flwr_runs_ledger_dir_is_recorded_where_its_hospitals_wrote_it(tmp_path):
    out, data = tmp_path / "runs" / "flwr2", tmp_path / "small"
    config = _config(RunSettings(data_dir=str(data), out_dir=str(out)))
    assert config["ledger-dir"] == str(out / "privacy-ledgers")
    assert config["ledger-dir"] == str(simulated_ledger_root(str(out), data))  # the ClientApp's rule
    named = _config(RunSettings(data_dir=str(data), out_dir=str(out), ledger_dir=str(tmp_path / "L")))
    assert named["ledger-dir"] == str(tmp_path / "L")


def test_a_deployed_runs_ledger_dir_stays_empty(tmp_path):
    deployed = RunSettings(out_dir=str(tmp_path / "run"), expected_nodes=3)
    assert deployed.deployed and _config(deployed)["ledger-dir"] == ""
