"""The environment `genofed simulate` gives Flower's simulation engine: Ray's ANSI colour codes stay
out of a log written to a file or a pipe (a walkthrough read `[36m(ClientAppActor pid=...)`), and
what the user set wins."""

from __future__ import annotations

import os

import pytest

from genofed.simulations.local.simulate import engine_environment


@pytest.fixture(autouse=True)
def _unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RAY_COLOR_PREFIX", "RAY_DEDUP_LOGS", "FLWR_TELEMETRY_ENABLED"):
        monkeypatch.setenv(name, "")  # recorded, so what `engine_environment` sets is undone after
        monkeypatch.delenv(name)


def test_a_log_to_a_file_or_pipe_gets_no_colour_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    engine_environment(terminal=False)
    assert os.environ["RAY_COLOR_PREFIX"] == "0"
    assert os.environ["RAY_DEDUP_LOGS"] == "0" and os.environ["FLWR_TELEMETRY_ENABLED"] == "0"


def test_a_terminal_keeps_rays_colours_and_the_users_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    engine_environment(terminal=True)
    assert "RAY_COLOR_PREFIX" not in os.environ
    monkeypatch.setenv("RAY_COLOR_PREFIX", "1")
    engine_environment(terminal=False)
    assert os.environ["RAY_COLOR_PREFIX"] == "1"
