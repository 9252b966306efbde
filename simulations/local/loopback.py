"""A deployed federation on one machine: the real services as separate processes on loopback.

`genofed coordinator start` (Flower's SuperLink with TLS and hospital authentication, behind its
nginx Fleet proxy) and one `genofed hospital start` per hospital (Flower's SuperNode), exactly as
at real sites, only with every folder under one root, free local ports, and one ledger index for
all the hospitals of the root (`GENOFED_HOME=ROOT/genofed-home`, as if each were its own
machine's), listed in a registry of its own (`GENOFED_INDEX_REGISTRY`): a demo never reads or
joins the user's own ledger indexes. The deployment tests and `bench/deployed.py` use it;
nothing here replaces a Flower component.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genofed.client.agent.check import check_site
from genofed.client.agent.keys import init_site
from genofed.client.agent.ledger_indexes import INDEX_ENV, INDEX_FILE, REGISTRY_ENV, REGISTRY_FILE
from genofed.common.data.layout import SiteFolder, hospital_folders
from genofed.server.service.enrollment import enroll
from genofed.server.service.federation_folder import RUN_DIR, init_federation
from genofed.server.service.federation_model import MODEL_FILE as MODEL_JSON
from genofed.server.service.status import STATUS_FILE

GENOFED = str(Path(sys.executable).parent / "genofed")
HOME = "genofed-home"  # under the root: the hospitals' ledger index
#: The lifetime epsilon budget each loopback hospital states at its check (`hospital check
#: --epsilon-budget`, required at the CLI: a deployed site states its own). Room for the test
#: runs' few rounds, not a recommendation: the run report calls any budget above 2 weak.
SITE_EPSILON_BUDGET = 8.0


#: Where `free_port` looks: below the kernel's ephemeral range (Linux: 32768-60999), from which
#: every outgoing connection takes its local port. A port the kernel hands out as "free" (bind to
#: 0) comes from that range, and a client connection opened before the service binds it can take
#: it: "address already in use" (seen in CI, a hospital's SuperNode API). Below the range only an
#: explicit bind can take a port.
SERVICE_PORTS = (20000, 32000)
_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port that is free now, outside the ephemeral range, never the same twice in
    one process (two services asked for ports before either binds would get distinct ones)."""
    picker = random.SystemRandom()
    low, high = SERVICE_PORTS
    for _ in range(500):
        port = picker.randrange(low, high)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket() as sock:  # a crowded machine: the kernel's choice, as before
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def simulation_secret(name: str, seed: int = 42) -> bytes:
    """The secret a simulated hospital derives (client/site.py): a deployed site given it splits
    its patients and draws its noise exactly as the simulation does."""
    return hashlib.sha256(f"genofed-simulation:{seed}:{name}".encode()).digest()


@dataclass
class Loopback:
    """Background processes, each in its own session and log file under `root`."""

    root: Path
    started: dict[str, subprocess.Popen] = field(default_factory=dict)
    local_ports: dict[str, int] = field(default_factory=dict)  # hospital -> its SuperNode's Runtime API port

    def start(
        self, name: str, *args: str, command: list[str] | None = None, env: dict | None = None
    ) -> subprocess.Popen:
        log = (self.root / f"{name}.log").open("wb")
        home = self.root / HOME  # and its own list of indexes: not the user's (`ledger_indexes`)
        env = dict(
            env if env is not None else os.environ,
            **{INDEX_ENV: str(home), REGISTRY_ENV: str(home / REGISTRY_FILE)},
        )
        process = subprocess.Popen(
            command or [GENOFED, *args], stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
        self.started[name] = process
        return process

    def coordinator(self, fed: Path, port: int, *extra: str, name: str = "coordinator") -> subprocess.Popen:
        """`coordinator start` with hospitals on 127.0.0.1:`port` (nginx) and the SuperLink on a free port."""
        return self.start(
            name,
            "coordinator",
            "start",
            str(fed),
            "--fleet-address",
            f"127.0.0.1:{port}",
            "--internal-address",
            f"127.0.0.1:{free_port()}",
            *extra,
        )

    def hospital(self, name: str, site: Path, fed: Path, port: int, *extra: str) -> subprocess.Popen:
        self.local_ports[name] = free_port()
        return self.start(
            name,
            "hospital",
            "start",
            str(site),
            "--coordinator",
            f"localhost:{port}",
            "--ca",
            str(fed / "ca.pem"),
            "--local-port",
            str(self.local_ports[name]),
            *extra,
        )

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for process in self.started.values():
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(timeout=20)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def make_site(
    root: Path,
    folder: SiteFolder,
    panel: Path,
    fed: Path | None,
    *,
    secret: bytes | None = None,
    require_secagg: bool = False,
    name: str | None = None,
    new_ledger: str = "",
    model_config: Path | None = None,
    epsilon_budget: float = SITE_EPSILON_BUDGET,
) -> Path:
    """`hospital init` + `hospital check --epsilon-budget` (+ `coordinator enroll --declared-size`,
    with the size the check declared public, when `fed` is given). A second site on the same cohort
    folder needs `new_ledger` (a reason): the first one's ledger has it. `model_config`: the
    federation's model.json to pin (`hospital check --model-config`)."""
    name = name or folder.name
    site = root / f"site-{name}"
    init_site(site, name)
    bound = check_site(
        site,
        folder.genotypes,
        folder.phenotypes,
        panel,
        epsilon_budget=epsilon_budget,  # stated, as the CLI requires
        require_secagg=require_secagg,
        new_ledger=new_ledger,
        ledger_index=root / HOME / INDEX_FILE,
        model_config=model_config,
    )
    if secret is not None:
        (site / "state").mkdir(mode=0o700, exist_ok=True)
        (site / "state" / "secret.key").write_bytes(secret)
    if fed is not None:
        # with the size `hospital check` declared public, as an operator enrols it (read out by phone)
        enroll(fed, name, site / "supernode.pub", declared_size=int(bound["declared_size"]))
    return site


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, log: Callable[[], str] = lambda: ""
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}\n{log()[-3000:]}")
        time.sleep(1.0)


def coordinator_status(fed: Path) -> dict[str, Any]:
    path = fed / STATUS_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def run_loopback_federation(
    root: Path,
    cohorts: Path,
    settings: dict[str, Any],
    *,
    timeout: float = 1200,
    simulation_secrets: bool = False,
    hospitals: int | None = None,
    pin_model_json: bool = False,
) -> dict[str, Any]:
    """Init a federation for `cohorts` (every hospital, or the first `hospitals`, enrolled and
    checked; with `pin_model_json` each pins the federation's model.json, as `hospital check
    --model-config` does), run it to the end on loopback, and return its results.json plus the
    wall time and the coordinator's exit code."""
    from genofed.client.coordinator_request import architecture_digest

    root.mkdir(parents=True, exist_ok=True)
    fed = root / "fed"
    init_federation(
        fed,
        ["localhost"],
        panel=cohorts / "panel.tsv",
        test_dir=cohorts / "test",
        settings=settings,
        digest=architecture_digest,
    )
    sites = {
        f.name: make_site(
            root,
            f,
            fed / "panel.tsv",
            fed,
            secret=simulation_secret(f.name) if simulation_secrets else None,
            model_config=fed / MODEL_JSON if pin_model_json else None,
        )
        for f in hospital_folders(cohorts)[:hospitals]
    }
    port = free_port()
    processes = Loopback(root)
    started = time.perf_counter()
    try:
        coordinator = processes.coordinator(fed, port)
        # hospitals that connect before their keys are registered are refused and retry in 10 s
        wait_for(
            lambda: coordinator_status(fed).get("state") == "running" or coordinator.poll() is not None,
            min(300, timeout),
            "the coordinator to register the hospitals and submit its run",
            lambda: processes.log("coordinator"),
        )
        for name, site in sorted(sites.items()):
            processes.hospital(name, site, fed, port)
        code = coordinator.wait(timeout=timeout)
    finally:
        processes.stop_all()
    results_file = fed / RUN_DIR / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    return dict(
        results,
        loopback_wall_seconds=time.perf_counter() - started,
        coordinator_exit=code,
        sites_dirs={k: str(v) for k, v in sites.items()},
    )
