"""The `flwr` CLI against the coordinator's own SuperLink (`FlowerControl`), over loopback TLS,
and the ServerApp's log of a run saved from it (`save_run_log`).

Its own module because two others talk to a SuperLink: `coordinator start` (launch.py) to its
own, and the clean-up of what a killed coordinator left running (orphans.py) to the one that
coordinator started; orphans.py must not import launch.py (which imports it).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from genofed.common.deployment.flower_env import flower_command, service_env
from genofed.common.errors import GenofedError
from genofed.common.util.atomic import write_text_atomic
from genofed.server.service.federation_folder import RUN_DIR

CONNECTION = "genofed"


def split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise GenofedError(f"address {address!r}: give HOST:PORT, e.g. 0.0.0.0:9092")
    return host.strip("[]"), int(port)


class FlowerControl:
    """The `flwr` CLI against this coordinator's SuperLink, over loopback TLS (JSON output)."""

    def __init__(self, folder: Path, address: str) -> None:
        host, port = split_address(address)
        loopback = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        self.home = folder / "flwr"
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_text_atomic(
            self.home / "config.toml",
            (
                f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\n'
                f'address = "{loopback}:{port}"\nroot-certificates = "{(folder / "ca.pem").resolve()}"\n'
            ),
        )
        self.env = service_env(self.home)

    def __call__(self, *args: str, timeout: float = 60.0) -> dict[str, Any]:
        command = [flower_command("flwr"), *args, "--format", "json"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=self.env, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise GenofedError(
                f"flwr {' '.join(args[:2])} got no answer from the SuperLink within {timeout:.0f} s"
            ) from None
        try:
            reply = json.loads(done.stdout)
        except json.JSONDecodeError:
            reply = {"success": False, "error-message": (done.stderr or done.stdout).strip()[-500:]}
        if not reply.get("success"):
            raise GenofedError(f"flwr {' '.join(args[:2])} failed: {reply.get('error-message', reply)}")
        return reply

    def text(self, *args: str, timeout: float = 60.0) -> str:
        """A `flwr` command's plain output (for commands without JSON output, e.g. `flwr log`)."""
        done = subprocess.run(
            [flower_command("flwr"), *args], capture_output=True, text=True, env=self.env, timeout=timeout
        )
        return done.stdout

    def online(self) -> bool:
        try:
            self("supernode", "list", CONNECTION, timeout=15)
            return True
        except GenofedError:
            return False


def save_run_log(control: FlowerControl, folder: Path, run_id: int) -> Path:
    """The ServerApp's own log of the run (its progress lines, or why it failed), kept with the results."""
    path = folder / RUN_DIR / f"serverapp-{run_id}.log"
    try:
        text = control.text("log", str(run_id), CONNECTION, "--show", timeout=60)
    except subprocess.TimeoutExpired:
        text = "(flwr log timed out)\n"
    write_text_atomic(path, text)
    return path
