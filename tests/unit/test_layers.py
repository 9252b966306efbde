"""Imports run one way through the rooms, and no module imports itself in a circle.

util/errors <- data/model/privacy/deployment <- synthetic/augment/reporting <- client, server
<- simulations <- cli. `client` and `server` never import each other. Lazy imports inside a
function count too: they are dependencies all the same. docs/layout.md explains the rooms.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository root
ROOMS = ("common", "client", "server", "simulations", "cli")
LAYERS = {
    "genofed.common": 0,
    "genofed.common.errors": 0,
    "genofed.common.util": 0,
    "genofed.common.data": 1,
    "genofed.common.model": 1,
    "genofed.common.privacy": 1,
    "genofed.common.deployment": 1,
    "genofed.common.synthetic": 2,
    "genofed.common.augment": 2,
    "genofed.common.reporting": 2,
    "genofed.common.scoring": 2,
    "genofed.client": 3,
    "genofed.server": 3,
    "genofed.simulations": 4,
    "genofed.cli": 5,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(("genofed",) + (parts[:-1] if parts[-1] == "__init__" else parts))


def is_module(name: str) -> bool:
    """Whether a dotted genofed name is a module or package (not a function or class in one)."""
    path = ROOT.joinpath(*name.split(".")[1:])
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports(path: Path) -> set[str]:
    """The genofed modules a file imports; `from package import module` counts as the module."""
    found = set()
    package = module_name(path).split(".")[: None if path.name == "__init__.py" else -1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names = [f"{module}.{alias.name}" for alias in node.names]
            found |= {name if is_module(name) else module for name in names}
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("genofed.")}


def layer(module: str) -> tuple[str, int]:
    room = max((r for r in LAYERS if module == r or module.startswith(r + ".")), key=len, default=None)
    assert room is not None, f"{module} belongs to no room: add it to LAYERS"
    return room, LAYERS[room]


def graph() -> dict[str, set[str]]:
    files = [p for room in ROOMS for p in (ROOT / room).rglob("*.py")]
    return {module_name(p): imports(p) for p in files}


def test_imports_run_one_way() -> None:
    wrong = []
    for module, targets in graph().items():
        room, level = layer(module)
        for target in targets:
            target_room, target_level = layer(target)
            sides = {room.split(".")[1], target_room.split(".")[1]}
            if target_level > level or sides == {"client", "server"}:
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_no_circular_imports() -> None:
    edges = graph()
    # a package's __init__ re-exporting its own modules is not a cycle a reader has to untangle
    edges = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in edges.items()}
    cycles, done = [], set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycles.append(" -> ".join(path[path.index(module) :] + [module]))
            return
        if module in done:
            return
        for target in sorted(edges.get(module, ())):
            visit(target, path + [module])
        done.add(module)

    for module in sorted(edges):
        visit(module, [])
    assert cycles == []


def test_no_import_module_hides_a_dependency() -> None:
    hidden = [
        str(p.relative_to(ROOT))
        for room in ROOMS
        for p in (ROOT / room).rglob("*.py")
        if "import_module(" in p.read_text(encoding="utf-8")
    ]
    assert hidden == []
