"""A second study on the same federation (`coordinator init NEW_DIR --same-federation-as OLD_DIR`):
a hospital agent that served the first study's finished run, left running as a service with the
first folder's ca.pem, joins the second study's run on the same address without a new ca.pem, a
new enrolment or a restart, and its ledger goes on: the second study is charged under a new plan
id on top of the first, never from zero.

Why: every study under other settings meant `coordinator init` anew, a new CA, every hospital
sent a new ca.pem and enrolled again, and every running agent stopped (exit 79) until its ca.pem
was replaced (walkthrough h12, "Costly second run"). The carrying itself and its refusals:
tests/unit/server/service/test_same_federation.py.
"""

from __future__ import annotations

import json
import time

from helpers import require_tool

from genofed.common.data.layout import hospital_folders
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger
from genofed.server.service.federation_folder import RUN_DIR, init_federation
from genofed.server.service.same_federation import init_same_federation
from genofed.simulations.local.loopback import Loopback, coordinator_status, free_port, make_site, wait_for


def test_an_agent_of_the_first_study_joins_the_second_without_a_new_ca_and_its_ledger_goes_on(
    tmp_path, simulated_cohorts
):
    require_tool("nginx")
    started = time.perf_counter()
    cohorts = simulated_cohorts(6)
    first, second = tmp_path / "study1", tmp_path / "study2"
    # one hospital, one round each, no evaluations: the shortest run that trains and charges
    settings = {"rounds": 1, "min_nodes": 1, "wait_seconds": 0, "site_evaluations": 0}
    init_federation(first, ["localhost"], panel=cohorts / "panel.tsv", settings=dict(settings, epsilon=4.0))
    site = make_site(tmp_path, hospital_folders(cohorts)[0], first / "panel.tsv", first)
    name = site.name.removeprefix("site-")
    port = free_port()
    processes = Loopback(tmp_path)
    try:
        coordinator = processes.coordinator(first, port, name="coordinator1")
        wait_for(
            lambda: coordinator_status(first).get("state") == "running" or coordinator.poll() is not None,
            180,
            "the first study's coordinator",
            lambda: processes.log("coordinator1"),
        )
        agent = processes.hospital("site", site, first, port)  # --ca study1/ca.pem, for good
        assert coordinator.wait(timeout=420) == 0, processes.log("coordinator1")[-3000:]
        # the operator's second study: other settings, the same federation; nothing at the hospital
        _, predecessor = init_same_federation(second, first, settings=dict(settings, epsilon=6.0))
        assert (second / "ca.pem").read_bytes() == (first / "ca.pem").read_bytes()
        coordinator = processes.coordinator(second, port, name="coordinator2")
        wait_for(  # the agent must not end meanwhile (it used to exit 0 once the new SuperLink forgot it)
            lambda: coordinator.poll() is not None or agent.poll() is not None,
            600,
            "the second study's run",
            lambda: processes.log("coordinator2"),
        )
        agent_alive = agent.poll() is None
        code = coordinator.wait(timeout=120)
    finally:
        processes.stop_all()
    said = processes.log("site")
    assert code == 0, processes.log("coordinator2")[-3000:]
    assert agent_alive, said[-3000:]  # the same agent process served both studies
    assert "not signed by this CA" not in said
    plans = [json.loads((folder / "federation.json").read_text())["plan_id"] for folder in (first, second)]
    assert plans[0] != plans[1] and predecessor.federation["plan_id"] == plans[0]
    results = json.loads((second / RUN_DIR / "results.json").read_text())
    assert name in results["rounds"][-1]["participants"], results["rounds"][-1]
    # one ledger across both studies: the second study's charge composes on the first's
    charges = PrivacyLedger(site / "state" / LEDGER_FILE).charges
    by_plan = {plan: [c for c in charges if c.plan_id == plan and c.kind == "train"] for plan in plans}
    assert [len(by_plan[plan]) for plan in plans] == [1, 1], charges
    first_total, second_total = by_plan[plans[0]][0].epsilon_after, by_plan[plans[1]][0].epsilon_after
    assert 0 < first_total < second_total <= 6.0 + 1e-6
    assert results["epsilon"][name] == second_total  # what the coordinator reports is the ledger's total
    print(f"second study e2e: {time.perf_counter() - started:.0f} s")
