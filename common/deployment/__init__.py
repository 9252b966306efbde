"""Deployment plumbing both sides of a deployed federation share.

Modules:

- `app_bundle`: the Flower app bundle (FAB) of a deployed federation, built the same way at every
  site, and the hash a hospital approves.
- `flower_env`: how genofed starts Flower's own processes (flower-superlink, flower-supernode,
  the SuperExec) and the environment they run in.
- `keys`: hospital (SuperNode) keys: loading, checking and fingerprinting.

`app_bundle` and `flower_env` are standard library only and imported here; the names of `keys`
load on first use, since it imports `cryptography`.
"""

from __future__ import annotations

from typing import Any

from genofed.common.deployment.app_bundle import approved_app_hash, build_app_fab, write_app_dir
from genofed.common.deployment.flower_env import (
    flower_command,
    service_env,
    superexec_command,
    write_superexec_secret,
)

_KEYS = {
    "CURVE",
    "KeyFileError",
    "fingerprint",
    "load_public_key",
    "load_supernode_private_key",
    "parse_public_key",
    "public_key_openssh",
    "write_private_atomic",
}


def __getattr__(name: str) -> Any:
    """The names of `keys` (it imports `cryptography`), imported on first use."""
    if name in _KEYS:
        import genofed.common.deployment.keys as keys

        return getattr(keys, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "approved_app_hash",
    "build_app_fab",
    "write_app_dir",
    "flower_command",
    "service_env",
    "superexec_command",
    "write_superexec_secret",
]
#: and every name `__getattr__` loads on first use
__all__ += sorted(_KEYS)
