"""External programs the tests compare genofed with (bcftools, plink2, nginx)."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str) -> str:
    """The tool's path; skip without it, unless GENOFED_REQUIRE_ORACLES=1 (CI), where it must exist."""
    found = shutil.which(name)
    if found:
        return found
    if os.environ.get("GENOFED_REQUIRE_ORACLES") == "1":
        pytest.fail(f"{name} is required (GENOFED_REQUIRE_ORACLES=1) but not on PATH")
    pytest.skip(f"{name} not on PATH")
