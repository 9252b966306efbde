"""Loopback services get ports below the kernel's ephemeral range, so that no outgoing connection
can take one between the pick and the service's bind (a CI failure: "address already in use")."""

from __future__ import annotations

import socket

from genofed.simulations.local.loopback import SERVICE_PORTS, free_port


def test_ports_are_free_distinct_and_outside_the_ephemeral_range():
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    assert all(SERVICE_PORTS[0] <= p < SERVICE_PORTS[1] for p in ports)
    with open("/proc/sys/net/ipv4/ip_local_port_range") as ranges:
        ephemeral_low = int(ranges.read().split()[0])
    assert max(ports) < ephemeral_low
    for port in ports[:5]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # still free
