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
    env.update(
        FLWR_HOME=str(flwr_home),
        FLWR_TELEMETRY_ENABLED="0",
        FLWR_DISABLE_UPDATE_CHECK="1",
        FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION="1",
    )
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def flower_command(name: str) -> str:
    """A Flower executable of this installation (next to the running Python)."""
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else name


#: The shared secret between a Flower service (SuperLink, SuperNode) and the `flower-superexec`
#: genofed starts beside it: only a holder of it can take a task (run a ServerApp or ClientApp)
#: from the service's Runtime API.
SUPEREXEC_SECRET = "superexec.secret"


def write_superexec_secret(folder: Path) -> Path:
    """A fresh random SuperExec secret in `folder` (0600 from creation, replaced atomically).

    Why fresh at every start: the service and its SuperExec are started together by genofed, so
    nothing needs the old one, and a secret that leaked (a backup, a wrong chmod) dies with the
    next restart. Why at all: the Runtime API listens on 127.0.0.1, where any local user could
    otherwise take the next task, i.e. read the coordinator's message or answer as the hospital.
    """
    import secrets

    from genofed.common.deployment.keys import write_private_atomic

    path = folder / SUPEREXEC_SECRET
    write_private_atomic(path, secrets.token_hex(32).encode())
    return path


def superexec_command(
    runtime_address: str, secret: Path, parent_pid: int, root_certificates: Path | None
) -> list[str]:
    """`flower-superexec` for a service started with `--isolation process`: it takes the tasks
    (authenticated with `secret`) and starts one `flwr-serverapp` / `flwr-clientapp` per task.
    The coordinator uses it; a hospital runs its warm ClientApp worker in its place
    (genofed.client.agent.worker), which signs its calls with the same kind of secret.

    Flower 1.42 honours `--superexec-auth-secret-file` only in process isolation: in its default
    (subprocess) mode the service starts its own SuperExec without the secret and logs that the
    secret "is ignored". `parent_pid` makes it exit with the service."""
    tls = ["--root-certificates", str(root_certificates)] if root_certificates else ["--insecure"]
    return [
        flower_command("flower-superexec"),
        "--runtime-api-address",
        runtime_address,
        *tls,
        "--superexec-auth-secret-file",
        str(secret),
        "--parent-pid",
        str(parent_pid),
    ]
