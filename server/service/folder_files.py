"""The files `genofed coordinator init` writes into a federation folder, and the check that a
folder still holds all of them (`require_complete`): every command that reads the folder names
what is missing and what to do, instead of failing on the first file it opens. Its own module
because both the enrolment list (`enrollment`) and the folder as a whole (`federation_folder`)
refuse an incomplete folder, and the second reads the first.

Also the coordinator's lock on the folder (`hold_federation`): one `coordinator start` per
federation folder, for the same reason the hospital agent holds its site folder
(client/agent/site_lock.py).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from genofed.common.errors import GenofedError
from genofed.common.util.atomic import hold_or_refuse, record_holder
from genofed.server.service.pki import CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY

FEDERATION_FILE = "federation.json"
HOSPITALS_FILE = "hospitals.json"
PANEL_FILE = "panel.tsv"
#: The files of a federation folder every command after init relies on (`ca.key` may be moved
#: offline after init; model.json is only sent to hospitals, and folders made before it lack it).
FOLDER_FILES = (FEDERATION_FILE, HOSPITALS_FILE, CA_CERT, SERVER_CERT, SERVER_KEY, PANEL_FILE)
#: The coordinator's admission map: which SuperLink node id it registered for which enrolled
#: hospital key ({name: {"node_id": "...", "fingerprint": "SHA256:..."}}), written atomically by
#: `genofed coordinator start` (server/service/launch.py) after every registration.
NODES_FILE = "nodes.json"
#: The coordinator's state file (server/service/status.py), written by `coordinator start`.
STATUS_FILE = "coordinator.json"
#: Held (flock) by `coordinator start` for as long as it runs; records its pid.
LOCK_FILE = "coordinator.lock"


def require_complete(folder: str | Path) -> None:
    """Refuse a folder `coordinator init` did not make, or one with some of its files missing
    (deleted, or not copied along when the folder was moved), naming what is missing and what to
    do: otherwise `coordinator status` said "never started" and `start` failed on the first file
    it opened. Init itself is atomic: it never leaves half a folder."""
    folder = Path(folder)
    missing = [name for name in FOLDER_FILES if not (folder / name).is_file()]
    if not missing:
        return
    made_by_init = (FEDERATION_FILE, HOSPITALS_FILE, CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY)
    if not any((folder / name).is_file() for name in made_by_init):  # a panel.tsv alone: a data folder
        raise GenofedError(
            f"{folder / FEDERATION_FILE} not found: {folder} is not a federation folder (make one with "
            "`genofed coordinator init`)"
        )
    if set(missing) <= {SERVER_CERT, SERVER_KEY}:
        fix = f"issue a new server certificate from the same CA: `genofed coordinator renew-cert {folder}`"
    else:
        fix = (
            "restore the missing file(s) from a backup of the folder, or make a new federation with "
            "`genofed coordinator init NEW_DIR` (init never writes into an existing folder) and enroll the "
            "hospitals there"
        )
    raise GenofedError(
        f"{folder} is an incomplete federation folder: {', '.join(missing)} missing (deleted, or not copied "
        f"with the folder); {fix}"
    )


class CoordinatorRunning(GenofedError):
    """Another `coordinator start` holds this federation folder."""


@contextlib.contextmanager
def hold_federation(folder: str | Path) -> Iterator[None]:
    """Hold `folder`'s coordinator lock for the `with` block, or raise CoordinatorRunning at once.

    Why: a second `coordinator start` on the same folder used to run: it rewrote the folder's
    `flwr` connection file, so the first coordinator lost its SuperLink and died, while the second
    registered the hospitals and submitted a run of its own. DIR/coordinator.json could not stop
    it: it records a coordinator's pid only once that one is under way.
    How: `common.util.atomic.hold_or_refuse`, as the hospital agent's (client/agent/site_lock.py).
    Unlike the agent, the coordinator keeps the lock to itself (no `pass_fds`): the SuperLink
    group a killed coordinator leaves behind does not hold the folder, so the next start gets the
    lock and stops that group (DIR/coordinator.json names its pids).
    """

    def refuse(holder: bytes) -> CoordinatorRunning:
        return CoordinatorRunning(_refusal(Path(folder), holder.decode(errors="replace").strip()))

    with hold_or_refuse(Path(folder) / LOCK_FILE, refuse) as fd:
        record_holder(fd, f"{os.getpid()}\n")  # who holds it, for a refused start
        yield


def _refusal(folder: Path, holder: str) -> str:
    """The one line a second start gets: who holds the folder and what to do."""
    known = holder.isdigit()  # empty only in the instant between the holder's flock and its write
    return (
        f"a coordinator for {folder} is already running (pid {holder if known else 'unknown'}): one "
        "`coordinator start` per federation folder (a second would cut the first off from its "
        f"SuperLink); see `genofed coordinator status {folder}`, and stop it first "
        f"({f'kill {holder}' if known else 'kill it'}, or stop its service) to start again"
    )
