"""pyproject.toml lists every package, so a wheel or a container image holds all of genofed.

The editable install (what the tests use) finds subpackages by folder even when pyproject forgets
one; `pip install .` (the container images) does not, and would fail at the first import.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_listed_in_pyproject() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    roots = {name: folder for name, folder in setuptools["package-dir"].items()}
    on_disk = set()
    for name, folder in roots.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            on_disk.add(".".join((name, *relative)))
    assert sorted(on_disk) == sorted(setuptools["packages"])
