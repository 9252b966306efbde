"""A coordinator waiting for hospitals says so every 30 s (an operator's audit saw nothing after
"submitted" for 3.5 minutes with none of 13 hospitals started), and gives up at its timeout."""

from __future__ import annotations

import logging

import pytest

from genofed.common.errors import GenofedError
from genofed.server import sites
from genofed.server.service.launch import _say_online


class _Clock:
    """time.monotonic and time.sleep of a clock that moves only when slept on."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class _Grid:
    def __init__(self, connected_at: dict[int, float], clock: _Clock) -> None:
        self.connected_at, self.clock = connected_at, clock

    def get_node_ids(self) -> list[int]:
        return [node for node, at in self.connected_at.items() if at <= self.clock.now]


@pytest.fixture
def clock(monkeypatch) -> _Clock:
    clock = _Clock()
    monkeypatch.setattr(sites.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(sites.time, "sleep", clock.sleep)
    return clock


def test_a_coordinator_with_no_hospital_says_it_is_waiting_and_when_it_gives_up(clock, caplog):
    with caplog.at_level(logging.WARNING, logger=sites.logger.name), pytest.raises(GenofedError):
        sites.wait_for_nodes(_Grid({}, clock), 2, 100.0, expected=13, grace=120.0)
    lines = [r.getMessage() for r in caplog.records if "waiting for hospitals" in r.getMessage()]
    assert len(lines) == 3  # at 30, 60 and 90 s
    said = "waiting for hospitals: 0 of 13 enrolled connected, 2 needed to start; giving up in 70 s"
    assert lines[0] == said


def test_hospitals_that_connect_in_time_start_the_run_without_a_word(clock, caplog):
    with caplog.at_level(logging.WARNING, logger=sites.logger.name):
        nodes = sites.wait_for_nodes(_Grid({1: 5.0, 2: 12.0}, clock), 2, 600.0, expected=2, grace=120.0)
    assert sorted(nodes) == [1, 2] and not caplog.records


def test_the_coordinator_says_which_hospitals_are_online_whenever_that_changes():
    said: list[str] = []
    none = {"rostov": {"status": "registered"}, "elista": {"status": "offline"}}
    online = _say_online(none, None, said.append)
    assert _say_online(none, online, said.append) == [] and said == ["hospitals online: 0 of 2 enrolled"]
    one = {**none, "elista": {"status": "online"}}
    assert _say_online(one, online, said.append) == ["elista"]
    assert said[-1] == "hospitals online: 1 of 2 enrolled: elista"
