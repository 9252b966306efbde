"""The deployed coordinator: the federation folder, its PKI, enrolment, the Fleet proxy, the run.

Modules:

- `federation_folder`: `genofed coordinator init`: the federation's folder (CA, TLS certificate,
  federation config, hospital list), made once, complete or not at all.
- `same_federation`: `coordinator init --same-federation-as`: a second study's folder on the
  federation's CA and enrolments; `handover`: the mark that a newer folder holds the federation.
- `federation_model`: the model a federation trains, fixed at init: its public priors (copied,
  hashed, refused at start if changed) and model.json, what hospitals pin.
- `pki`: the federation's certificate authority and the coordinator's TLS server certificate.
- `enrollment`: the list of enrolled hospitals: who may connect, since when, who was revoked.
- `fleet_proxy`: the hospital-facing address: an nginx TLS proxy that passes Flower's Fleet API
  only.
- `launch`: `genofed coordinator start`: the federation's run on Flower's own SuperLink, with only
  enrolled hospitals registered.
- `flower_control`: the `flwr` CLI against the coordinator's own SuperLink.
- `status`: `genofed coordinator status` and the coordinator's state file (DIR/coordinator.json).
- `orphans`: the processes a killed coordinator left running, stopped by the next `start`.

`fleet_proxy` is standard library only and imported here; the other modules import
`cryptography` (the keys and certificates), so their names load on first use.
"""

from __future__ import annotations

from typing import Any

from genofed.server.service.fleet_proxy import ProxyConfig, find_nginx, nginx_command, write_config

_FEDERATION_FOLDER = {
    "RUN_DIR",
    "admitted_nodes",
    "deployed_run_config",
    "init_federation",
    "read_federation_file",
    "renew_certificate",
}
_PKI = {
    "PkiError",
    "check_folder_pki",
    "check_server_cert",
    "create_ca",
    "create_server_cert",
    "load_cert",
    "renew_server_cert",
    "write_pki",
}
_ENROLLMENT = {"EnrollmentError", "enroll", "hospitals", "load_registry", "revoke"}
_LAUNCH = {"ServiceOptions", "start_coordinator"}
_STATUS = {"coordinator_status"}


def __getattr__(name: str) -> Any:
    """The names of the modules that import `cryptography`, imported on first use."""
    if name in _FEDERATION_FOLDER:
        import genofed.server.service.federation_folder as federation_folder

        return getattr(federation_folder, name)
    if name in _PKI:
        import genofed.server.service.pki as pki

        return getattr(pki, name)
    if name in _ENROLLMENT:
        import genofed.server.service.enrollment as enrollment

        return getattr(enrollment, name)
    if name in _LAUNCH:
        import genofed.server.service.launch as launch

        return getattr(launch, name)
    if name in _STATUS:
        import genofed.server.service.status as status

        return getattr(status, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ProxyConfig",
    "find_nginx",
    "nginx_command",
    "write_config",
]
#: and every name `__getattr__` loads on first use
__all__ += sorted(_FEDERATION_FOLDER | _PKI | _ENROLLMENT | _LAUNCH | _STATUS)
