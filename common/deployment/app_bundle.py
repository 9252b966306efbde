"""The Flower app bundle (FAB) of a deployed federation, built the same way at every site.

Why: the open-source SuperLink ships the app to the SuperNodes and lets anyone who reaches its
Control API submit one (FIELD-NOTES.md). A hospital must run only code it approved. genofed's
bundle holds a single file, `deployed_app.toml` rendered with the installed genofed version: the
component names (`genofed.server.app:app`, `genofed.client.app:app`) and one run setting. The
code itself is the genofed package installed at the site, so the file also records the SHA-256 of
that code (`code_digest`: every module of the installed package). Flower builds FABs
deterministically (fixed timestamps, sorted files), so the coordinator and every hospital compute
the same bundle and SHA-256 from their own installation; a hospital refuses any other bundle
(genofed.client.agent.pinning). Upgrading genofed, or Flower (`flower_version`, also recorded),
changes the hash: all sites upgrade together.
(Until stop 53 only the version went in, and it stayed 0.1.0 across releases: an upgrade audit
found three releases with one bundle hash, so a site on an old release served an upgraded
coordinator, rounds of two noise schemes mixed.)
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from importlib import resources
from pathlib import Path

from genofed.common.util.atomic import write_text_atomic
from genofed.common.util.version import genofed_version

TEMPLATE = "deployed_app.toml"
PYPROJECT = "pyproject.toml"


#: genofed's top-level packages: what a site runs, all of it in `code_digest`.
PACKAGES = ("genofed.cli", "genofed.client", "genofed.common", "genofed.server", "genofed.simulations")
#: The files of the installed package that make up its code.
CODE_SUFFIXES = (".py", ".toml")


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """SHA-256 of the installed genofed's code (`folders_digest` of its packages' folders)."""
    folders = []
    for package in PACKAGES:
        spec = importlib.util.find_spec(package)
        folders += [(package, Path(root)) for root in (spec.submodule_search_locations or [])] if spec else []
    return folders_digest(folders)


def folders_digest(folders: list[tuple[str, Path]]) -> str:
    """SHA-256 of the code in `folders` (a name for each, and its folder): each file's name and path
    within its folder, then its bytes, in sorted order, compiled caches left out; so the same release
    installed anywhere, editable or from a wheel, gives the same digest, and any change another."""
    digest = hashlib.sha256()
    for name, base in folders:
        files = sorted(
            path
            for path in base.rglob("*")
            if path.suffix in CODE_SUFFIXES and path.is_file() and "__pycache__" not in path.parts
        )
        for path in files:
            digest.update(f"{name}/{path.relative_to(base).as_posix()}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def app_pyproject(version: str | None = None) -> str:
    """The deployed app's pyproject.toml for this (or the given) genofed version, with the SHA-256
    of the installed code (`code_digest`) and the installed Flower's version (`flower_version`)."""
    template = resources.files("genofed.common.deployment").joinpath(TEMPLATE).read_text(encoding="utf-8")
    version = version or genofed_version(fallback="0.0.0")
    return (
        template.replace("{version}", version)
        .replace("{code}", code_digest())
        .replace("{flwr}", flower_version())
    )


def flower_version() -> str:
    """The installed Flower's version. Why in the bundle: genofed's code replaces Flower's SecAgg+
    mask generator and relies on its protocol's details (`common/privacy/secagg_masks.py`), and
    pyproject allows a range of Flower releases; a red team found two sites on the same genofed but
    different Flowers would approve the same bundle. Now they build two."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("flwr")
    except PackageNotFoundError:
        return "not installed"


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
