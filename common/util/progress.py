"""How long jobs say what they are doing: `Progress` lines, and a bar with time left on a terminal.

Two kinds of progress, both optional:

- `Progress`, the one type of every progress callback: a function that takes one line of text.
  Long jobs (simulating cohorts, a federation, an experiment) report each stage through one; the
  CLI passes a printer, tests pass a list's `append` or nothing.
- `ProgressBar`, for a long loop of like steps (a generator's or a pretrained model's epochs, the
  reference models): on a terminal it redraws one line, "training the VAE  12/40  30% · 1m05s
  left", the time left being the mean time per step so far times the steps left, and ends with a
  done line; written anywhere else (a log file, a pipe, a test's StringIO) it prints nothing at
  all, so logs hold only the `Progress` lines.

Library code never decides where a bar goes: it asks `bar(total, label)`, which draws on the
stream the command line activated with `progress_bars(stream)` (genofed.cli.main does, for every
command not run with --quiet) and is silent otherwise: in tests, in experiments' worker
processes, in a Flower ClientApp.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO

Progress = Callable[[str], None]

#: The stream bars draw on, set by `progress_bars` (None: bars are silent).
_STREAM: ContextVar[TextIO | None] = ContextVar("genofed_progress_stream", default=None)
#: Redraw at most this often (seconds), so a fast loop does not flood the terminal.
REDRAW_SECONDS = 0.1


def silent(_line: str) -> None:
    """A `Progress` that says nothing."""


def is_terminal(stream: TextIO | None) -> bool:
    """Whether `stream` is an interactive terminal (False for files, pipes, StringIO, None)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def duration(seconds: float) -> str:
    """A short duration: "8s", "1m05s", "2h03m"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class ProgressBar:
    """One line redrawn per step on a terminal, "label  12/40  30% · 1m05s left"; nothing at all
    on any other stream. Use as a context manager (the done line comes on exit) and call `step()`
    after each step.

    Args:
        total: the number of steps.
        label: what the steps are, e.g. "training the VAE (epochs)".
        stream: where to draw (default: standard error); a stream that is not a terminal gets nothing.
        clock: seconds, monotonic (tests pass a fake one).
    """

    def __init__(
        self,
        total: int,
        label: str,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.label, self.done = max(0, int(total)), label, 0
        self.stream = sys.stderr if stream is None else stream
        self.active = is_terminal(self.stream)
        self.clock = clock
        self.started = clock()
        self._drawn = -REDRAW_SECONDS

    def __enter__(self) -> ProgressBar:
        self._draw(force=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def step(self, n: int = 1) -> None:
        """Count `n` finished steps and redraw (at most every `REDRAW_SECONDS`)."""
        self.done = min(self.total, self.done + n)
        self._draw(force=self.done == self.total)

    def around(self, progress: Progress) -> Progress:
        """`progress` with its lines shown above the bar (for a loop that also reports each step
        in words): the bar's line is cleared before each line and redrawn after it."""

        def said(line: str) -> None:
            if self.active:
                self.stream.write("\r\033[K")
                self.stream.flush()
            progress(line)
            self._draw(force=True)

        return said

    def line(self) -> str:
        """The bar's text now: label, count, share and time left (once a step has finished)."""
        share = self.done / self.total if self.total else 1.0
        text = f"{self.label}  {self.done}/{self.total}  {share:.0%}"
        if 0 < self.done < self.total:
            left = (self.clock() - self.started) / self.done * (self.total - self.done)
            text += f" · {duration(left)} left"
        return text

    def close(self) -> None:
        """The done line, "label  40/40  100% · done in 1m05s" (on a terminal only)."""
        if not self.active:
            return
        self.active = False
        summary = f"{self.label}  {self.done}/{self.total}  done in {duration(self.clock() - self.started)}"
        self.stream.write(f"\r\033[K{summary}\n")
        self.stream.flush()

    def _draw(self, *, force: bool = False) -> None:
        if not self.active:
            return
        now = self.clock()
        if not force and now - self._drawn < REDRAW_SECONDS:
            return
        self._drawn = now
        self.stream.write(f"\r\033[K{self.line()}")
        self.stream.flush()


@contextmanager
def progress_bars(stream: TextIO | None) -> Iterator[None]:
    """Within this block, `bar(...)` draws on `stream` (None: bars stay silent)."""
    token = _STREAM.set(stream)
    try:
        yield
    finally:
        _STREAM.reset(token)


def bar(total: int, label: str) -> ProgressBar:
    """A `ProgressBar` on the stream `progress_bars` activated: what library loops call. Silent
    when none is active (or it is not a terminal)."""
    return ProgressBar(total, label, stream=_STREAM.get() or _NOWHERE)


class _Nowhere:
    """A stream that is no terminal and keeps nothing: the silent bar's."""

    def isatty(self) -> bool:
        return False

    def write(self, _text: str) -> int:
        return 0

    def flush(self) -> None:
        pass


_NOWHERE = _Nowhere()
