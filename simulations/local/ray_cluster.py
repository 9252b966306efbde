"""The simulation's Ray cluster as one user's own: a private folder, a token, a new cluster.

`genofed simulate` starts Ray (`interrupt.start_ray`), and on a hospital's or a coordinator's
machine other people log in. Left to its defaults, Ray 2.x:

- keeps its session folder (every worker's stdout and stderr, where a hospital's refusal names a
  patient's sample id) under `/tmp/ray`, a folder it makes world-writable, with world-readable
  logs, and leaves it there after the run (an audit as an unprivileged user read another user's
  sample ids there);
- accepts anyone on the network at its GCS port, without authentication: another user read the
  pickled ClientApp (with the data folder's paths) from it;
- connects to a cluster someone else started (`ray start` with the same temp folder, or
  `RAY_ADDRESS`) instead of starting its own, and then fails with a traceback.

So each run gets a folder of its own (`tempfile.mkdtemp` in TMPDIR: mode 0700, inside which Ray may
make its own folder 0777), removed when the run ends (`remove_cluster_folder`); Ray's own token
authentication (`RAY_AUTH_MODE=token`, ray >= 2.52) with a random token that only this process and
the workers Ray starts for it know (`use_token_authentication`, before Ray is imported); and
`address="local"`: always a new cluster.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from genofed.common.errors import GenofedError

logger = logging.getLogger(__name__)

#: The folders this process made for its Ray clusters, removed by `remove_cluster_folder`.
_FOLDERS: list[Path] = []


def use_token_authentication() -> None:
    """Ray's token authentication for every cluster this process starts: `RAY_AUTH_MODE=token` and
    a random `RAY_AUTH_TOKEN` in this process's environment, which the GCS, the raylet and the
    workers inherit. Call it before Ray is imported: Ray reads the mode once, when it is imported;
    where that was before (without a mode), turning it on now would make the new cluster refuse
    this process, so it stays off (and is said in the log). A mode the user set is left as it is."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    if "ray._raylet" in sys.modules:
        logger.info("Ray was imported before its token authentication was set: the cluster runs without it")
        return
    if not _has_token_authentication():
        logger.warning("this Ray has no token authentication (ray >= 2.52 has): its ports take anyone")
        return
    os.environ["RAY_AUTH_MODE"] = "token"
    if not ({"RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"} & set(os.environ)):
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)


def _has_token_authentication() -> bool:
    """Whether the installed Ray has token authentication (2.52 on), read from its metadata: importing
    Ray to ask would fix its mode before it is set."""
    try:
        major, minor = (int(part) for part in metadata.version("ray").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return False
    return (major, minor) >= (2, 52)


def private_cluster_args() -> dict[str, Any]:
    """`ray.init` arguments for a new cluster of this user's own: a fresh 0700 folder
    (`_temp_dir` is its subfolder `r`: Ray makes its temp folder world-writable, and a Unix socket's
    path must stay under 108 bytes) and `address="local"`."""
    folder = _private_folder()
    _FOLDERS.append(folder)
    return {"address": "local", "_temp_dir": str(folder / "r")}


def _private_folder() -> Path:
    """A fresh 0700 folder in the temporary folder (`TMPDIR`, else /tmp, /var/tmp, ...); refused in
    one line that names the folder and TMPDIR and says what to do when none can be made, and a
    TMPDIR that was passed over is said.

    Why: `tempfile` skips a TMPDIR it cannot write without a word and takes the next of its
    candidates (the run's Ray folder, with every worker's log, then lands where the user did not
    put it); where none can be written it raises FileNotFoundError ("No usable temporary
    directory"), and a folder that refuses the new folder itself raises PermissionError naming a
    genofed-ray-... path: the user met "Permission denied" (or a traceback) that never said TMPDIR
    is what to change."""
    wanted = os.environ.get("TMPDIR")
    try:
        folder = Path(tempfile.mkdtemp(prefix="genofed-ray-"))
    except OSError as exc:
        where = f"{Path(exc.filename).parent}: {exc.strerror}" if exc.filename else (exc.strerror or str(exc))
        raise GenofedError(
            f"cannot make the simulation's private Ray folder ({where}; "
            + (f"TMPDIR is {wanted}" if wanted else "TMPDIR is not set")
            + "): set TMPDIR to a folder you can write, e.g. `mkdir -p ~/tmp && export TMPDIR=~/tmp`, "
            "then run again"
        ) from None
    if wanted and Path(wanted).resolve() != folder.parent.resolve():
        logger.warning(
            "TMPDIR (%s) cannot be written: the simulation's Ray folder is in %s instead; set TMPDIR to "
            "a folder you can write to keep it there",
            wanted,
            folder.parent,
        )
    return folder


def remove_cluster_folder() -> None:
    """Remove the folders `private_cluster_args` made (Ray's logs, with whatever the workers
    printed): call it once Ray is shut down."""
    while _FOLDERS:
        shutil.rmtree(_FOLDERS.pop(), ignore_errors=True)
