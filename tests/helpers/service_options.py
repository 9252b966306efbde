"""A deployed coordinator's service options for tests that start no real service."""

from __future__ import annotations

import socket

from genofed.server.service import launch


def loopback_service_options() -> launch.ServiceOptions:
    """Two free loopback ports and an nginx that exists (`/bin/true`)."""
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    return launch.ServiceOptions(
        address=f"127.0.0.1:{ports[0]}", internal_address=f"127.0.0.1:{ports[1]}", nginx="/bin/true"
    )
