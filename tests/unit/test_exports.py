"""Every name a package's `__init__` exports resolves, lazily exported ones included.

Lazy exports (PEP 562 `__getattr__`) name modules and attributes by hand; a renamed function
would otherwise surface only when a user first asks for it.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

ROOMS = ("common", "client", "server", "simulations", "cli")


def packages() -> list[str]:
    found = []
    for room in ROOMS:
        package = importlib.import_module(f"genofed.{room}")
        found.append(package.__name__)
        found += [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".") if m.ispkg]
    return found


@pytest.mark.parametrize("name", packages())
def test_every_exported_name_resolves(name: str) -> None:
    package = importlib.import_module(name)
    exported = getattr(package, "__all__", None)
    assert exported, f"{name} has no __all__"
    assert len(exported) == len(set(exported)), f"{name} exports a name twice"
    missing = [attr for attr in exported if not hasattr(package, attr)]
    assert missing == []
