"""The Flower app bundle (FAB) of a deployed federation, built the same way at every site.

Why: the open-source SuperLink ships the app to the SuperNodes and lets anyone who reaches its
Control API submit one (FIELD-NOTES.md). A hospital must run only code it approved. genofed's
bundle holds a single file, `deployed_app.toml` rendered with the installed genofed version: the
component names (`genofed.server.app:app`, `genofed.client.app:app`) and one run setting. The
code itself is the genofed package installed at the site. Flower builds FABs deterministically
(fixed timestamps, sorted files), so the coordinator and every hospital compute the same bundle
and SHA-256 from their own installation; a hospital refuses any other bundle
(genofed.client.agent.pinning). Upgrading genofed changes the hash: all sites upgrade together.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import metadata, resources
from pathlib import Path

from genofed.common.util.atomic import write_text_atomic

TEMPLATE = "deployed_app.toml"
PYPROJECT = "pyproject.toml"


def genofed_version() -> str:
    try:
        return metadata.version("genofed")
    except metadata.PackageNotFoundError:  # running from a source tree without installing
        return "0.0.0"


def app_pyproject(version: str | None = None) -> str:
    """The deployed app's pyproject.toml for this (or the given) genofed version."""
    template = resources.files("genofed.common.deployment").joinpath(TEMPLATE).read_text(encoding="utf-8")
    return template.replace("{version}", version or genofed_version())


@functools.lru_cache(maxsize=4)
def build_app_fab(version: str | None = None) -> bytes:
    """The FAB bytes, built by Flower's own builder (what `flwr run` sends)."""
    from flwr.cli.build import build_fab_from_files

    fab, _metadata = build_fab_from_files({PYPROJECT: app_pyproject(version).encode()})
    return fab


def approved_app_hash(version: str | None = None) -> str:
    """SHA-256 of the deployed app's FAB: the hash Flower labels it with and a hospital pins."""
    return hashlib.sha256(build_app_fab(version)).hexdigest()


def write_app_dir(folder: str | Path) -> Path:
    """Write the app folder `flwr run FOLDER` builds the FAB from (its pyproject.toml only)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / PYPROJECT, app_pyproject())
    return folder
