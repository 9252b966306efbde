"""A deployed coordinator's service options and stand-in processes for tests that start no real
service."""

from __future__ import annotations

import subprocess
import threading

from genofed.server.service import launch
from genofed.simulations.local.loopback import free_port


def loopback_service_options() -> launch.ServiceOptions:
    """Two free loopback ports and an nginx that exists (`/bin/true`). The ports come from
    `free_port`, outside the ephemeral range an outgoing connection could take them from before
    the test's `require_free_addresses` checks them."""
    ports = [free_port(), free_port()]
    return launch.ServiceOptions(
        address=f"127.0.0.1:{ports[0]}", internal_address=f"127.0.0.1:{ports[1]}", nginx="/bin/true"
    )


def sleeper(group: int) -> subprocess.Popen:
    """A stand-in for a coordinator's process in process group `group` (0: its own). Reaped by a
    thread as soon as it ends, as a real orphan (not this test's child) would be, so that it does
    not linger as a zombie that `pid_alive` counts as alive."""
    process = subprocess.Popen(["sleep", "120"], process_group=group)
    threading.Thread(target=process.wait, daemon=True).start()
    return process


def dead_pid() -> int:
    """The pid of a process that has ended."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


class RunningThenFinished:
    """The `flwr` CLI of a run that is running for `polls` polls, then finished (a stand-in for
    `launch`'s control calls)."""

    def __init__(self, polls: int = 3) -> None:
        self.polls, self._running_for = 0, polls

    def __call__(self, *args):
        self.polls += 1
        return {"runs": [{"status": "running" if self.polls <= self._running_for else "finished:completed"}]}


class StillRunning:
    """A service process that never exits (its `poll()` is None)."""

    def poll(self):
        return None
