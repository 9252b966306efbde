"""Fixtures shared by the coordinator service's tests."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from genofed.client.agent.keys import init_site
from genofed.server.service.enrollment import enroll
from genofed.server.service.federation_folder import init_federation

PANEL_TEXT = (
    "id\tchrom\tpos\tref\talt\talt_freq\n1:100:A:G\t1\t100\tA\tG\t0.1\n1:200:C:T\t1\t200\tC\tT\t0.3\n"
)


@pytest.fixture
def fed(tmp_path: Path) -> Path:
    """A federation with one enrolled hospital ("rostov"): past `coordinator start`'s checks."""
    (tmp_path / "panel.tsv").write_text(PANEL_TEXT)
    folder = tmp_path / "fed"
    init_federation(folder, ["localhost"], panel=tmp_path / "panel.tsv", settings={"min_nodes": 1})
    init_site(tmp_path / "site", "rostov")
    enroll(folder, "rostov", tmp_path / "site" / "supernode.pub", declared_size=100)
    return folder


@pytest.fixture
def restored_signals():
    """The SIGTERM and SIGINT handlers as they were: `coordinator start` installs its own."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)
