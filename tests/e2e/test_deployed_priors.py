"""A deployed federation that trains the sub-panel a public prior chose: `coordinator init
--gene-prior` publishes model.json, two hospitals pin it with `hospital check --model-config`, and
`coordinator start` with two `hospital start` agents (real processes on loopback, TLS, nginx)
trains it to the end. (That a pinned hospital refuses any other architecture is a unit test:
tests/unit/client/agent/test_site_pinning.py.)"""

from __future__ import annotations

import json

import pytest
from helpers import require_tool

from genofed.client.agent.audit import read_audit
from genofed.client.agent.keys import init_site
from genofed.client.agent.launch import check_site
from genofed.client.agent.ledger_binding import INDEX_FILE
from genofed.client.coordinator_request import architecture_digest
from genofed.common.data.layout import hospital_folders
from genofed.server.service.enrollment import enroll
from genofed.server.service.federation_folder import RUN_DIR, init_federation
from genofed.simulations.local.loopback import HOME, Loopback, coordinator_status, free_port, wait_for

pytestmark = pytest.mark.slow
ROUNDS = 1


def test_a_deployed_federation_trains_the_gene_priors_sub_panel_its_hospitals_pinned(
    tmp_path, simulated_cohorts
):
    require_tool("nginx")
    cohorts = simulated_cohorts(5)  # read only: the federation, sites and ledgers live under tmp_path
    fed = tmp_path / "fed"
    init_federation(
        fed,
        ["localhost"],
        panel=cohorts / "panel.tsv",
        test_dir=cohorts / "test",
        settings={
            "rounds": ROUNDS,
            "min_nodes": 2,
            "local_epochs": 1,
            "batch_size": 16,
            "gene_prior": str(cohorts / "known_genes.bed"),
        },
        digest=architecture_digest,
    )
    published = json.loads((fed / "model.json").read_text())
    sites = {}
    for folder in hospital_folders(cohorts)[:2]:
        site = sites[folder.name] = tmp_path / f"site-{folder.name}"
        init_site(site, folder.name)
        bound = check_site(
            site,
            folder.genotypes,
            folder.phenotypes,
            fed / "panel.tsv",
            model_config=fed / "model.json",
            ledger_index=tmp_path / HOME / INDEX_FILE,
        )
        assert bound["model_digest"] == published["digest"]
        enroll(fed, folder.name, site / "supernode.pub")
    port = free_port()
    processes = Loopback(tmp_path)
    try:
        coordinator = processes.coordinator(fed, port)
        # hospitals that connect before their keys are registered are refused and retry in 10 s
        wait_for(
            lambda: coordinator_status(fed).get("state") == "running" or coordinator.poll() is not None,
            120,
            "the coordinator to register the hospitals and submit its run",
            lambda: processes.log("coordinator"),
        )
        for name, site in sorted(sites.items()):
            processes.hospital(name, site, fed, port)
        assert coordinator.wait(timeout=300) == 0, processes.log("coordinator")[-3000:]
    finally:
        processes.stop_all()
    results = json.loads((fed / RUN_DIR / "results.json").read_text())
    assert results["model"]["selected"] == published["model_config"]["selected"]
    assert results["prior"]["gene_list"]["file"] == str(fed / "priors" / "known_genes.bed")
    assert [r["participants"] for r in results["rounds"][1:]] == [sorted(sites)] * ROUNDS
    assert results["test_auc"] is not None
    for site in sites.values():
        trained = [e for e in read_audit(site / "audit.jsonl") if e["type"] == "train"]
        assert {e["round"] for e in trained} == set(range(1, ROUNDS + 1))
        assert all(e["status"] == "ok" for e in trained)
