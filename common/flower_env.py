"""How genofed starts Flower's own processes (flower-superlink, flower-supernode, flwr)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def service_env(flwr_home: Path) -> dict[str, str]:
    """The environment of every Flower process genofed starts: no telemetry, no update check,
    no runtime dependency installation (all three would call out of a hospital's network),
    Flower's state under the service's own folder, and this installation's executables first on
    PATH (Flower starts its helper processes by name)."""
    env = dict(os.environ)
    env.update(FLWR_HOME=str(flwr_home), FLWR_TELEMETRY_ENABLED="0", FLWR_DISABLE_UPDATE_CHECK="1",
               FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION="1")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def flower_command(name: str) -> str:
    """A Flower executable of this installation (next to the running Python)."""
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else name
