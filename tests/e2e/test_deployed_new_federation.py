"""A running hospital agent whose coordinator comes back as a NEW federation (a new CA, from
`coordinator init NEW_DIR`) on the same address exits non-zero within a minute or two, saying in
one genofed line that the coordinator's certificate is not signed by its --ca, as `hospital start`
refuses it; a service manager then restarts it (Restart=on-failure), and each start says so again
until the site has the new federation's ca.pem.

Why: Flower's SuperNode gave up reconnecting ("SSL/TLS handshake error detected", "Giving up
reconnection ...") and then never exited: its main thread returned, its Runtime API thread kept the
process alive, and the agent, its SuperNode and its worker stayed up for good, saying nothing
(walkthrough h12, finding 1). The agent's side without a coordinator:
tests/unit/client/agent/test_agent_start_checks.py (`CONNECTION_LOST_EXIT`).
"""

from __future__ import annotations

import os
import signal

from helpers import require_tool

from genofed.common.data.layout import hospital_folders
from genofed.server.service.enrollment import enroll, enrolled_sizes
from genofed.server.service.federation_folder import init_federation
from genofed.simulations.local.loopback import Loopback, coordinator_status, free_port, make_site, wait_for


def test_a_running_agent_exits_and_says_so_when_a_new_federation_takes_its_coordinators_address(
    tmp_path, simulated_cohorts
):
    require_tool("nginx")
    cohorts = simulated_cohorts(6)
    folders = hospital_folders(cohorts)
    feds = [tmp_path / "fed1", tmp_path / "fed2"]
    # two enrolled, one started: each coordinator waits for the second, the started site stays idle
    settings = {"rounds": 1, "min_nodes": 2}
    init_federation(feds[0], ["localhost"], panel=cohorts / "panel.tsv", settings=settings)
    site = make_site(tmp_path, folders[0], feds[0] / "panel.tsv", feds[0])
    other = make_site(tmp_path, folders[1], feds[0] / "panel.tsv", feds[0])
    init_federation(feds[1], ["localhost"], panel=cohorts / "panel.tsv", settings=settings)
    sizes = enrolled_sizes(feds[0])
    for folder in (site, other):  # the same keys, enrolled again, as the docs say
        name = folder.name.removeprefix("site-")
        enroll(feds[1], name, folder / "supernode.pub", declared_size=sizes[name])
    port = free_port()
    processes = Loopback(tmp_path)
    try:
        first = processes.coordinator(feds[0], port, name="coordinator1")
        wait_for(
            lambda: coordinator_status(feds[0]).get("state") == "running",
            120,
            "the first coordinator",
            lambda: processes.log("coordinator1"),
        )
        agent = processes.hospital("site", site, feds[0], port)  # --ca fed1/ca.pem
        wait_for(
            lambda: "SuperNode ID:" in processes.log("site"),
            180,
            "the site's SuperNode to be activated",
            lambda: processes.log("site"),
        )
        os.killpg(first.pid, signal.SIGTERM)
        first.wait(timeout=60)
        processes.coordinator(feds[1], port, name="coordinator2")  # a new CA, the same address
        wait_for(
            lambda: agent.poll() is not None,
            240,
            "the agent to exit",
            lambda: processes.log("site"),
        )
        code = agent.returncode
    finally:
        processes.stop_all()
    said = processes.log("site")
    assert code != 0, said[-3000:]
    lost = [line for line in said.splitlines() if "lost its connection to the coordinator" in line]
    assert len(lost) == 1 and "not signed by this CA" in lost[0], said[-3000:]
    assert "new federation" in lost[0] and "ca.pem" in lost[0], lost
