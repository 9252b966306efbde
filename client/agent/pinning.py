"""The hospital agent runs only the approved genofed app, whatever the coordinator sends.

Why: the SuperLink ships an app bundle (FAB) with every run and the SuperNode executes it; the
open-source SuperLink's Control API, which submits runs, has no authentication (FIELD-NOTES.md).
Flower's own FAB verification (`--trusted-entities`) needs a SuperLink that signs bundles, which
the open-source one does not. So the agent pins the bundle itself:

- `flower-supernode` starts one `flwr-clientapp` process per message, found on PATH.
  `genofed hospital start` puts a launcher of that name first on the SuperNode's PATH
  (`write_launcher`); it runs `python -m genofed.client.agent.pinning`, which is Flower's own
  `flwr-clientapp` (`run_clientapp`) with one check inserted after the task input (message,
  run, FAB) has been pulled and before anything from the bundle is installed or imported, so
  that the refusal goes back to the coordinator as the error reply to that message.
- The check recomputes the bundle's SHA-256 from its bytes (never trusting the label) and
  compares it with the approved hash: the genofed bundle built from this site's own installation
  (genofed.common.deployment.app_bundle), or a hash the site's operator set. Anything else is refused: the
  reply is an error, the refusal is written to the audit log, and no code of the bundle runs.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import stat
import sys
from pathlib import Path

from genofed.common.errors import GenofedError

#: Environment of the launched process: the approved hash, and where refusals are audited.
APPROVED_ENV = "GENOFED_APPROVED_APP_SHA256"
AUDIT_ENV = "GENOFED_AUDIT_LOG"
LAUNCHER = "flwr-clientapp"


class UnapprovedApp(GenofedError):
    """The coordinator sent an app bundle this hospital has not approved."""


def write_launcher(bin_dir: str | Path, approved_hash: str, audit_log: str | Path) -> Path:
    """Write the `flwr-clientapp` launcher the SuperNode will find first on its PATH."""
    bin_dir = Path(bin_dir)
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / LAUNCHER
    script = (
        "#!/bin/sh\n"
        "# genofed: Flower's flwr-clientapp, refusing any app bundle but the approved one "
        "(genofed.client.agent.pinning)\n"
        f"export {APPROVED_ENV}={shlex.quote(approved_hash)}\n"
        f"export {AUDIT_ENV}={shlex.quote(str(audit_log))}\n"
        f'exec {shlex.quote(sys.executable)} -m genofed.client.agent.pinning "$@"\n'
    )
    tmp = path.with_name(f".{LAUNCHER}.tmp")
    tmp.write_text(script, encoding="utf-8")
    tmp.chmod(stat.S_IRWXU)
    os.replace(tmp, path)
    return path


def check_fab(content: bytes, label: str, approved: str) -> None:
    """Refuse a bundle whose bytes are not the approved bundle."""
    actual = hashlib.sha256(content).hexdigest()
    if not approved:
        raise UnapprovedApp("no approved app hash is configured: this hospital runs no app bundle")
    if actual != approved:
        raise UnapprovedApp(
            f"refused the app bundle sent by the coordinator (sha256 {actual}, labelled {label}): this "
            f"hospital runs only the approved genofed app (sha256 {approved}); the coordinator must run the "
            "same genofed version"
        )


def _pin(runtime) -> None:
    """Insert the check into Flower's run_clientapp module: after the task input is pulled (so
    the refusal goes back as an error reply to that message) and before the bundle is installed."""
    pulled: dict = {}
    original_pull, original_install = runtime.pull_task_input, runtime.install_from_fab

    def pull_task_input(client):
        message, context, run, fab = original_pull(client)
        pulled.update(message=message, label=fab.hash_str)
        return message, context, run, fab

    def install_from_fab(content, *args, **kwargs):
        try:
            check_fab(content, pulled.get("label", "?"), os.environ.get(APPROVED_ENV, ""))
        except UnapprovedApp as exc:
            if pulled.get("message") is not None:
                _audit_refusal(pulled["message"], exc)
            raise
        return original_install(content, *args, **kwargs)

    runtime.pull_task_input, runtime.install_from_fab = pull_task_input, install_from_fab


def _audit_refusal(message, exc: UnapprovedApp) -> None:
    """The refusal reply leaves the site too: it goes in the audit log like any message, with
    the code and reason Flower's run_clientapp puts in the error reply it sends."""
    path = os.environ.get(AUDIT_ENV, "")
    if not path:
        return
    from flwr.app import Error, Message
    from flwr.common.constant import ErrorCode

    from genofed.client.agent.audit import append_entry, audit_entry

    reason = str(type(exc)) + ":<'" + str(exc) + "'>"
    reply = Message(Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=reason), reply_to=message)
    append_entry(Path(path), audit_entry(message, reply))


def main() -> None:
    """`flwr-clientapp` with the bundle check; fails closed if Flower's internals moved."""
    from flwr.supernode.cli.flwr_clientapp import flwr_clientapp
    from flwr.supernode.runtime import run_clientapp as runtime

    if not all(callable(getattr(runtime, name, None)) for name in ("pull_task_input", "install_from_fab")):
        raise SystemExit(
            "genofed: this Flower version's run_clientapp has no pull_task_input/install_from_fab; "
            "refusing to run unpinned apps"
        )
    _pin(runtime)
    sys.argv[0] = LAUNCHER
    flwr_clientapp()


if __name__ == "__main__":
    main()
