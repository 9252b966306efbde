"""Fixtures the hospital-agent tests share."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def cohorts(simulated_cohorts) -> Path:
    """The session's small cohorts, seed 11 (read only: sites, ledgers and indexes go to tmp_path)."""
    return simulated_cohorts(11)
