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
