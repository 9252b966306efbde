"""The pieces of Ctrl-C in `genofed simulate` (simulations/local/interrupt.py), without Flower: the
grid that ends a waiting ServerApp, the log filter that is silent only after Ctrl-C, and the SIGINT
handler (tests/e2e/test_simulate_ctrl_c.py presses Ctrl-C on a real run)."""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import SimpleNamespace

import pytest

from genofed.simulations.local import interrupt
from genofed.simulations.local.interrupt import (
    Interruption,
    QuietAfterStop,
    SimulationStopped,
    StoppableGrid,
)


class _SlowGrid:
    """A grid whose replies to pushed messages come in after `delay` seconds (never: None)."""

    def __init__(self, delay: float | None) -> None:
        self.delay = delay
        self.pushed_at = 0.0

    def push_messages(self, messages):
        self.pushed_at = time.monotonic()
        return [f"m{i}" for i, _ in enumerate(messages)]

    def pull_messages(self, message_ids):
        if self.delay is None or time.monotonic() - self.pushed_at < self.delay:
            return []
        return [SimpleNamespace(metadata=SimpleNamespace(reply_to_message_id=i)) for i in message_ids]


def test_the_grid_returns_every_reply_as_flowers_does():
    replies = StoppableGrid(_SlowGrid(0.2), threading.Event()).send_and_receive(["a", "b"], timeout=5)
    assert sorted(r.metadata.reply_to_message_id for r in replies) == ["m0", "m1"]


def test_the_grid_returns_what_came_in_when_the_timeout_passes():
    assert StoppableGrid(_SlowGrid(None), threading.Event()).send_and_receive(["a"], timeout=0.3) == []


def test_ctrl_c_ends_a_serverapp_waiting_for_replies_that_never_come():
    stopped = threading.Event()
    threading.Timer(0.3, stopped.set).start()
    started = time.monotonic()
    with pytest.raises(SimulationStopped):
        StoppableGrid(_SlowGrid(None), stopped).send_and_receive(["a"], timeout=None)
    assert time.monotonic() - started < 2


def test_after_ctrl_c_the_grid_sends_nothing():
    stopped = threading.Event()
    stopped.set()
    grid = StoppableGrid(_SlowGrid(0), stopped)
    for call in (grid.get_node_ids, lambda: grid.push_messages(["a"]), lambda: grid.pull_messages(["m0"])):
        with pytest.raises(SimulationStopped):
            call()


def test_flowers_errors_are_reported_until_ctrl_c_only():
    stopped = threading.Event()
    record = logging.LogRecord("flwr", logging.ERROR, __file__, 1, "ClientApp crashed", None, None)
    quiet = QuietAfterStop(stopped)
    assert quiet.filter(record), "a real ClientApp crash must still be reported"
    stopped.set()
    assert not quiet.filter(record)


def test_the_filter_is_taken_off_the_flwr_logger_afterwards():
    logger = logging.getLogger("flwr")
    before = list(logger.filters)
    interruption = Interruption()
    with interruption.quiet_flower_logs():
        assert len(logger.filters) == len(before) + 1
    assert logger.filters == before


@pytest.fixture
def default_sigint():
    """Python's own Ctrl-C handler during the test (pytest may have its own), put back after."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_the_first_ctrl_c_marks_the_run_stopped_the_second_forces_the_exit(default_sigint, monkeypatch):
    exits: list[int] = []
    monkeypatch.setattr(interrupt.os, "_exit", exits.append)
    interruption = Interruption()
    with interruption.handling_ctrl_c():
        signal.raise_signal(signal.SIGINT)  # no KeyboardInterrupt: Flower winds down first
        assert interruption.stopped.is_set()
        assert not exits
        signal.raise_signal(signal.SIGINT)
        assert exits == [130]
    assert signal.getsignal(signal.SIGINT) is interrupt._force_exit  # while the process winds down


def test_without_ctrl_c_pythons_handler_is_put_back(default_sigint):
    with Interruption().handling_ctrl_c():
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_ctrl_c_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with Interruption().handling_ctrl_c():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
