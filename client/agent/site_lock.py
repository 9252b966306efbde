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
still holds the site, and the refusal names it. The file records who holds it, for that message:
its pid and the command it runs (`genofed hospital start`, or `genofed hospital check`, which takes
the site to itself too), with each pid's identity (a pid reused by another process is not taken
for the holder), so the refusal says truthfully what holds the site: an audit saw a
`check` refused with "a hospital agent ... is already running" while the holder was another `check`.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genofed.common.deployment.processes import identities, recorded_alive
from genofed.common.errors import GenofedError
from genofed.common.util.atomic import hold_or_refuse, record_holder

LOCK_FILE = "agent.lock"


class AgentRunning(GenofedError):
    """Another hospital agent (or the SuperNode it left, or another command that needs the site to
    itself, e.g. `hospital check`) holds this site folder."""


@dataclass
class SiteLock:
    """The held lock: its descriptor (to pass to the SuperNode) and what it records."""

    fd: int
    folder: Path
    #: The command that holds the site (`AGENT_COMMAND`, `CHECK_COMMAND`), recorded with the pids.
    command: str | None = None

    def record(self, **holders: int) -> None:
        """Write who holds the site (its pid and command, the agent's current SuperNode's pid), for
        a refused command."""
        command = {"command": self.command} if self.command else {}
        pids = dict(pid=os.getpid(), **holders)
        record_holder(self.fd, json.dumps(dict(pids, **command, identities=identities(**pids))))


#: Why a second `start` is refused while an agent runs (`hold_site`'s default).
SECOND_AGENT = "one agent per site folder: a second one would lock the first out of its SuperNode"
#: Why `hospital check` is: it rewrites hospital.json, and the running agent's SuperNode and
#: ClientApp keep the binding they started with (files, budget, declared size, model) until restarted.
CHECK_WHILE_RUNNING = (
    "`genofed hospital check` rewrites this site's binding in hospital.json, and the running agent would "
    "go on with the old one until restarted; check again once it is stopped, then start it"
)

#: Why any command is refused while another command that is no agent (a `check`) holds the site.
WHILE_ANOTHER_COMMAND = (
    "one command at a time may rewrite a site's binding in hospital.json or start its agent, so that "
    "none goes on with a binding another is replacing"
)
#: The commands that hold a site, as the refusal names them.
AGENT_COMMAND = "genofed hospital start"
CHECK_COMMAND = "genofed hospital check"
#: Which command holds the site, by why it needs the site to itself (`hold_site`'s default).
_COMMAND_BY_WHY = {SECOND_AGENT: AGENT_COMMAND, CHECK_WHILE_RUNNING: CHECK_COMMAND}


@contextlib.contextmanager
def hold_site(folder: Path, *, why: str = SECOND_AGENT, command: str | None = None) -> Iterator[SiteLock]:
    """Hold `folder`'s agent lock for the `with` block, or raise AgentRunning at once, saying `why`
    the command needs the site to itself. `command`: what the holder runs, recorded for the
    refusal of another command; by default the one that needs the site for that `why` (a `start`
    for `SECOND_AGENT`, a `check` for `CHECK_WHILE_RUNNING`)."""

    def refuse(holder: bytes) -> AgentRunning:
        return AgentRunning(_refusal(folder, _holders(holder), why))

    with hold_or_refuse(folder / LOCK_FILE, refuse) as fd:
        lock = SiteLock(fd, folder, command or _COMMAND_BY_WHY.get(why))
        lock.record()
        yield lock


def _holders(recorded: bytes) -> dict[str, Any]:
    """What the holder recorded ({} if it has not written yet)."""
    try:
        holders = json.loads(recorded or b"{}")
    except ValueError:
        return {}
    return holders if isinstance(holders, dict) else {}


def _refusal(folder: Path, holders: dict[str, Any], why: str = SECOND_AGENT) -> str:
    """Says who holds the site and what to do: the agent if it lives, else the SuperNode it left;
    another command (a `check`) by its pid and command; a holder that recorded no command (an
    agent of an older genofed, or the instant between its lock and its record) by its pid alone."""
    agent, supernode = holders.get("pid"), holders.get("supernode_pid")
    if supernode and not recorded_alive(holders, "pid") and recorded_alive(holders, "supernode_pid"):
        return (
            f"{folder} is still held by a SuperNode (pid {supernode}) left by a hospital agent that was "
            f"killed (pid {agent}); stop it first (kill {supernode}), then start the agent again"
        )
    pid = agent or "unknown"
    command = holders.get("command")
    if command == AGENT_COMMAND:
        return (
            f"a hospital agent for {folder} is already running (pid {pid}: {command}); stop it first ({why})"
        )
    if isinstance(command, str) and command:  # `why` is about a running agent: not this holder's case
        return (
            f"another genofed command (pid {pid}: {command}) holds {folder}; wait until it ends, then run "
            f"again ({WHILE_ANOTHER_COMMAND})"
        )
    return (
        f"another genofed command (pid {pid}: a hospital agent, or a `genofed hospital check`) holds "
        f"{folder}; wait until it ends, or stop it if it is an agent ({why})"
    )
