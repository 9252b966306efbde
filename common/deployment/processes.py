"""What the coordinator and the hospital agent both ask of the machine before they start a service:
can a listener be made on this address, and is that process still alive.

One implementation for both, so that the agent's `--local-port` and the coordinator's
`--fleet-address` / `--internal-address` are probed the same way (as the servers that will bind
them do), and a reused check does not drift between two copies.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def bind_problem(host: str, port: int) -> OSError | None:
    """Why a listener on `host`:`port` could not be made now (None: it could). Binds as nginx,
    uvicorn and Flower do: SO_REUSEADDR (a port with only closing connections is free) and an IPv6
    wildcard for IPv6 only (nginx's default), so only a real listener or a bad address counts."""
    try:
        family, kind, proto, _, where = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        return OSError(errno.EADDRNOTAVAIL, f"cannot resolve {host} ({exc.strerror})")
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            probe.bind(where)
            probe.listen(1)
        except OSError as exc:
            return exc
    return None


def pid_alive(pid: Any) -> bool:
    """Whether process `pid` exists (another user's counts: signalling it is merely not allowed);
    False for no pid or one that is not a number."""
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


#: Where Linux keeps the id of the current boot (a new one at every boot).
BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")


def process_identity(pid: Any) -> str | None:
    """What tells process `pid` from a later process given the same pid (once it has ended, or
    after a reboot, when pids start again from 1): the boot's id and the process's start time in
    clock ticks since that boot, from Linux's /proc. None where they cannot be read (no such
    process, no /proc). Recorded beside a pid (`identities`) so that a power loss does not make
    a new, unrelated process look like the one recorded."""
    try:
        boot = BOOT_ID_FILE.read_text().strip()
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
    except (OSError, TypeError, ValueError):
        return None
    # The start time is field 22; counted after the command's name, which is in parentheses and
    # may hold spaces, it is the 20th.
    after_name = stat[stat.rindex(")") + 1 :].split()
    return f"{boot}:{after_name[19]}" if len(after_name) > 19 else None


def identities(**pids: int) -> dict[str, str | None]:
    """`process_identity` of each named pid: what a record stores under "identities"."""
    return {name: process_identity(pid) for name, pid in pids.items()}


def recorded_alive(record: Mapping[str, Any], key: str) -> bool:
    """Whether the process `record[key]` names still runs: its pid is alive and, where the
    record holds its identity (`record["identities"][key]`), it is the same process; one whose
    identity cannot be read now (hidden by /proc's hidepid, or ended meanwhile) is not taken for
    it. A record without one (written by an older genofed, or where /proc could not be read at
    the time) trusts the pid."""
    pid = record.get(key)
    if not pid_alive(pid):
        return False
    identities = record.get("identities")
    recorded = identities.get(key) if isinstance(identities, Mapping) else None
    return not recorded or process_identity(pid) == recorded
