"""SIGTERM as Ctrl-C: for a command whose Ctrl-C says what it leaves behind.

Why: SIGTERM is how everything but a terminal stops a run (a plain `kill`, `timeout`, a service
manager, a batch scheduler's time limit). Its default ends the process at once without a word, and
skips what a KeyboardInterrupt runs: taking back a run folder a failed start left, removing a
staging folder, saying whether a privacy charge was made and how to resume.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """For the block, SIGTERM raises KeyboardInterrupt, as Ctrl-C does. Only in the main thread (the
    only one a signal handler can be set from; elsewhere the block runs as it is); the previous
    handler is put back after the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
