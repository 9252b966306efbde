"""A reader of genofed's standard output that has gone (`genofed ... | head`): no traceback.

Two cases. A command whose work is done before its summary (`predict`, `adapt`: the file is
written) lets the summary meet the closed pipe inside `closed_stdout_is_fine` and exits 0. Any
other command that meets it mid-way is stopped by `main` with exit status 1 and no message (the
reader asked for no more), and only when stdout really is the broken pipe (`stdout_is_gone`): a
BrokenPipeError from another pipe is a failure and is not hidden.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def closed_stdout_is_fine() -> Iterator[None]:
    """Let the lines written inside meet a reader that has gone: no error, no traceback."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()


def silence_stdout() -> None:
    """Point stdout at /dev/null, so that Python's own flush at exit does not raise again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def stdout_is_gone() -> bool:
    """Whether stdout is a pipe whose reader has closed it (Linux reports POLLERR on its end). A
    stream without a descriptor (a wrapped stdout) is asked directly by flushing it."""
    try:
        descriptor = sys.stdout.fileno()
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is an OSError
        try:
            sys.stdout.write("")
            sys.stdout.flush()
        except BrokenPipeError:
            return True
        except (OSError, ValueError):
            return False
        return False
    poller = select.poll()
    poller.register(descriptor, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))
