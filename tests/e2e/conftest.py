"""End-to-end tests: real federations on Flower's simulation engine, deployed processes, the
experiments, and the slow subprocess-heavy checks. Every test under this folder is marked `slow`
(`pytest -m "not slow"` leaves them out; `pytest tests/unit` is the fast loop)."""

from __future__ import annotations

from pathlib import Path

import pytest

E2E = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test collected from tests/e2e `slow` (this hook sees the whole session's items)."""
    for item in items:
        if item.path.resolve().is_relative_to(E2E):
            item.add_marker(pytest.mark.slow)
