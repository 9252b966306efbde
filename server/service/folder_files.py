"""The files `genofed coordinator init` writes into a federation folder, and the check that a
folder still holds all of them (`require_complete`): every command that reads the folder names
what is missing and what to do, instead of failing on the first file it opens. Its own module
because both the enrolment list (`enrollment`) and the folder as a whole (`federation_folder`)
refuse an incomplete folder, and the second reads the first.
"""

from __future__ import annotations

from pathlib import Path

from genofed.common.errors import GenofedError
from genofed.server.service.pki import CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY

FEDERATION_FILE = "federation.json"
HOSPITALS_FILE = "hospitals.json"
PANEL_FILE = "panel.tsv"
#: The files of a federation folder every command after init relies on (`ca.key` may be moved
#: offline after init; model.json is only sent to hospitals, and folders made before it lack it).
FOLDER_FILES = (FEDERATION_FILE, HOSPITALS_FILE, CA_CERT, SERVER_CERT, SERVER_KEY, PANEL_FILE)


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
