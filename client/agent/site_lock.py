"""One hospital agent per site folder: `genofed hospital start` holds DIR/agent.lock while it runs.

Why: a second agent for the same site used to start a second SuperNode and worker and write a
fresh DIR/superexec.secret; the first agent's SuperNode kept the old secret, so every worker it
started from then on was refused, while the SuperNode stayed online at the coordinator: the site
looked healthy but could never take a task. So a second start is refused before it writes
anything.

How: an exclusive `flock` on DIR/agent.lock (`common.util.atomic.hold_or_refuse`), not only a
pid in a file: the kernel drops the lock when its last holder exits, so a crashed agent leaves
no stale lock, and a reused pid cannot hold it. The agent hands the lock's descriptor to its
SuperNode too (`pass_fds`), so a SuperNode orphaned by a killed agent (SIGKILL outside systemd)
still holds the site, and the refusal names it. The file records who holds it, for that message.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from genofed.common.deployment.processes import pid_alive
from genofed.common.errors import GenofedError
from genofed.common.util.atomic import hold_or_refuse, record_holder

LOCK_FILE = "agent.lock"


class AgentRunning(GenofedError):
    """Another hospital agent (or the SuperNode it left) holds this site folder."""


@dataclass
class SiteLock:
    """The held lock: its descriptor (to pass to the SuperNode) and what it records."""

    fd: int
    folder: Path

    def record(self, **holders: int) -> None:
        """Write who holds the site (the agent's pid, its current SuperNode's), for a refused start."""
        record_holder(self.fd, json.dumps(dict(pid=os.getpid(), **holders)))


#: Why a second `start` is refused while an agent runs (`hold_site`'s default).
SECOND_AGENT = "one agent per site folder: a second one would lock the first out of its SuperNode"
#: Why `hospital check` is: it rewrites hospital.json, and the running agent's SuperNode and
#: ClientApp keep the binding they started with (files, budget, declared size, model) until restarted.
CHECK_WHILE_RUNNING = (
    "`genofed hospital check` rewrites this site's binding in hospital.json, and the running agent would "
    "go on with the old one until restarted; check again once it is stopped, then start it"
)


@contextlib.contextmanager
def hold_site(folder: Path, *, why: str = SECOND_AGENT) -> Iterator[SiteLock]:
    """Hold `folder`'s agent lock for the `with` block, or raise AgentRunning at once, saying `why`
    the command needs the site to itself."""

    def refuse(holder: bytes) -> AgentRunning:
        return AgentRunning(_refusal(folder, _holders(holder), why))

    with hold_or_refuse(folder / LOCK_FILE, refuse) as fd:
        lock = SiteLock(fd, folder)
        lock.record()
        yield lock


def _holders(recorded: bytes) -> dict[str, int]:
    """What the holding agent recorded ({} if it has not written yet)."""
    try:
        holders = json.loads(recorded or b"{}")
    except ValueError:
        return {}
    return holders if isinstance(holders, dict) else {}


def _refusal(folder: Path, holders: dict[str, int], why: str = SECOND_AGENT) -> str:
    """Says who holds the site and what to do: the agent if it lives, else the SuperNode it left."""
    agent, supernode = holders.get("pid"), holders.get("supernode_pid")
    if supernode and not pid_alive(agent) and pid_alive(supernode):
        return (
            f"{folder} is still held by a SuperNode (pid {supernode}) left by a hospital agent that was "
            f"killed (pid {agent}); stop it first (kill {supernode}), then start the agent again"
        )
    return (
        f"a hospital agent for {folder} is already running (pid {agent or 'unknown'}); stop it first ({why})"
    )
