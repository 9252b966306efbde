"""A deployed federation that trains the sub-panel a public prior chose: `coordinator init
--gene-prior` publishes model.json, two hospitals pin it with `hospital check --model-config`, and
`coordinator start` with two `hospital start` agents (real processes on loopback, TLS, nginx)
trains it to the end. (That a pinned hospital refuses any other architecture is a unit test:
tests/unit/client/agent/test_site_pinning.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import require_tool

from genofed.client.agent.audit import read_audit
from genofed.client.agent.launch import load_site_file
from genofed.simulations.local.loopback import run_loopback_federation

pytestmark = pytest.mark.slow
ROUNDS = 1


def test_a_deployed_federation_trains_the_gene_priors_sub_panel_its_hospitals_pinned(
    tmp_path, simulated_cohorts
):
    require_tool("nginx")
    cohorts = simulated_cohorts(5)  # read only: the federation, sites and ledgers live under tmp_path
    settings = {
        "rounds": ROUNDS,
        "min_nodes": 2,
        "local_epochs": 1,
        "batch_size": 16,
        "gene_prior": str(cohorts / "known_genes.bed"),
    }
    results = run_loopback_federation(
        tmp_path, cohorts, settings, timeout=300, hospitals=2, pin_model_json=True
    )
    assert results["coordinator_exit"] == 0
    fed = tmp_path / "fed"
    published = json.loads((fed / "model.json").read_text())
    sites = {name: Path(folder) for name, folder in results["sites_dirs"].items()}
    for site in sites.values():
        assert load_site_file(site)["data"]["model_digest"] == published["digest"]
    assert results["model"]["selected"] == published["model_config"]["selected"]
    assert results["prior"]["gene_list"]["file"] == str(fed / "priors" / "known_genes.bed")
    assert [r["participants"] for r in results["rounds"][1:]] == [sorted(sites)] * ROUNDS
    assert results["test_auc"] is not None
    for site in sites.values():
        trained = [e for e in read_audit(site / "audit.jsonl") if e["type"] == "train"]
        assert {e["round"] for e in trained} == set(range(1, ROUNDS + 1))
        assert all(e["status"] == "ok" for e in trained)
