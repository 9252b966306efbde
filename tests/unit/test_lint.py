"""The code base stays as ruff's configuration in pyproject.toml says: lint rules and formatting.

CI runs the README's test command only, so the house rules (line length 110; pyflakes,
pycodestyle errors, isort, bugbear) are checked here rather than in a separate CI step.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff_lint_is_clean() -> None:
    result = ruff("check", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = ruff("format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_test_files_have_unique_names() -> None:
    """pytest imports test modules by their basename (rootdir import mode, no __init__.py): two
    test files of the same name in different folders stop the whole collection."""
    names: dict[str, list[str]] = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        names.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert {n: p for n, p in names.items() if len(p) > 1} == {}
