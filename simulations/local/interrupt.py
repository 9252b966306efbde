"""Ctrl-C during `genofed simulate`: stop within seconds, quietly, and leave RUN resumable.

Why: Flower's `run_simulation` runs the Ray workers from the main thread and the ServerApp on a
thread of its own, which Python waits for before it exits. Python's Ctrl-C raised KeyboardInterrupt
in the main thread only: Flower then shut Ray down at once, which strands a worker thread still in
`ray.get` for a ClientApp's reply (ray-project/ray#48018), and the ServerApp, which knows nothing of
it, went on waiting for the replies of a round that would never come, up to the strategy's timeout
(an hour): the process did not exit. Meanwhile the ClientApp actors, which get the same Ctrl-C (they
are in the terminal's process group), died, and Flower logged every `ActorDiedError` with its
traceback on the 'flwr' logger.

So Ctrl-C here stops the run the way Flower stops it when a federation ends: `Interruption`'s SIGINT
handler only marks the run stopped; `StoppableGrid` then ends the ServerApp at its next exchange with
the hospitals (at most `PULL_SECONDS` later), which sets Flower's own stop event: its workers finish
the ClientApp call in hand (or see its actor die), then Flower shuts Ray down with nothing waiting on
it. `QuietAfterStop` drops Flower's log records once the run is stopped (before that, a ClientApp's
crash is reported as ever). The stop takes about 5 s: the ClientApp calls in hand, Ray's shutdown,
and the 3 s `run_simulation` waits for a context the stopped ServerApp never returns (on a busy machine
15 s or more, which invites a second Ctrl-C). A second Ctrl-C exits at once, and still ends Ray and says
where the run stopped: `os._exit` alone took the GCS and the raylet with it (Ray starts them to die
with this process) but not the agents the raylet started (DashboardAgent, RuntimeEnvAgent), which
stayed, and printed nothing. So it kills every process below this one first, the whole tree read
before any dies (an orphan leaves it), then prints the same "interrupted: ..." line as the first.
Every finished round is checkpointed already, so RUN stays resumable with `--resume`.

SIGTERM (a plain `kill`, `timeout`, a service manager, a scheduler's time limit) stops the run the
same way. `ray.init` takes SIGTERM for itself: a Python handler that raises SystemExit in the main
thread (which strands the ServerApp's thread as Ctrl-C once did) and Ray's C++ failure handler,
which prints a stack dump and aborts (status 134). So `start_ray` starts Ray before Flower does, as
Flower's backend would (Flower uses a Ray that is already started as it is), and
`handling_stop_signals` sets this module's handler after it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from flwr.app import Message
from flwr.serverapp import Grid

from genofed.server.app import ForwardingGrid
from genofed.simulations.local.ray_cluster import (
    private_cluster_args,
    remove_cluster_folder,
    use_token_authentication,
)

#: How often a waiting ServerApp looks for replies (Flower's in-memory grid's own interval).
PULL_SECONDS = 0.1
#: The exit status of a process ended by SIGINT (128 + 2), as the CLI returns on Ctrl-C.
INTERRUPTED_STATUS = 130


class SimulationStopped(Exception):
    """Raised in the ServerApp's thread once the run was interrupted: it ends the ServerApp, and Flower
    raises it again from `run_simulation` once the engine has stopped."""


class Interruption:
    """Whether Ctrl-C or SIGTERM stopped this simulation, and the signal handler that says so.

    `where_it_stopped`: what RUN holds and what to do next, for the line a second Ctrl-C prints as
    it exits at once (the first one's line is the CLI's, from the KeyboardInterrupt the caller
    raises once Flower has wound down)."""

    def __init__(self, where_it_stopped: Callable[[], str] | None = None) -> None:
        self.stopped = threading.Event()
        self._where_it_stopped = where_it_stopped
        self._took_sigint = False

    @contextmanager
    def handling_stop_signals(self, start_engine: Callable[[], None] = lambda: None) -> Iterator[None]:
        """Within the body, Ctrl-C and SIGTERM mark the run stopped instead of raising
        KeyboardInterrupt (the caller raises it once Flower has wound down).

        `start_engine` runs first (`start_ray`: Ray's init sets a SIGTERM handler of its own, so this
        one must come after it). Only in the main thread (the only one a handler can be set from).
        SIGINT's handler is replaced only where it is Python's default: a SIGINT that is ignored (a
        background job) or handled by an embedding program stays theirs. SIGTERM's is replaced
        whatever it was (Ray's init replaces it anyway) and the one set before `start_engine` is put
        back after the body. After an interruption the handlers stay, so that a second signal while
        the process winds down forces the exit."""
        main = threading.current_thread() is threading.main_thread()
        replace_int = main and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        term_before = signal.getsignal(signal.SIGTERM) if main else None
        try:
            start_engine()
            if replace_int:
                signal.signal(signal.SIGINT, self._on_first_signal)
                self._took_sigint = True
            if main:
                signal.signal(signal.SIGTERM, self._on_first_signal)
            yield
        finally:
            if not self.stopped.is_set():
                if replace_int:
                    signal.signal(signal.SIGINT, signal.default_int_handler)
                if main:
                    signal.signal(signal.SIGTERM, term_before)

    @contextmanager
    def quiet_flower_logs(self) -> Iterator[None]:
        """Within the body, drop the 'flwr' logger's records once the run was stopped."""
        logger = logging.getLogger("flwr")
        quiet = QuietAfterStop(self.stopped)
        logger.addFilter(quiet)
        try:
            yield
        finally:
            logger.removeFilter(quiet)

    def _on_first_signal(self, signum: int, frame: FrameType | None) -> None:
        """Mark the run stopped (the grid and the log filter read it); the next Ctrl-C or SIGTERM
        forces the exit."""
        self.stopped.set()
        if self._took_sigint:
            signal.signal(signal.SIGINT, self._on_second_signal)
        signal.signal(signal.SIGTERM, self._on_second_signal)

    def _on_second_signal(self, signum: int, frame: FrameType | None) -> None:
        """A second Ctrl-C or SIGTERM: the user (or the service manager) will not wait for the
        clean-up. End Ray's processes (every process below this one), say where the run stopped,
        exit now as SIGINT would."""
        end_processes(descendants(os.getpid()))
        try:
            where = self._where_it_stopped() if self._where_it_stopped is not None else ""
        except Exception:  # noqa: BLE001 - the exit must not wait on a folder it cannot read
            where = ""
        try:
            print(f"interrupted: {where}" if where else "interrupted", file=sys.stderr)
        except (OSError, ValueError):
            pass
        _force_exit(signum, frame)


def _force_exit(signum: int, frame: FrameType | None) -> None:
    """Exit now, as SIGINT would, with what was printed flushed."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(INTERRUPTED_STATUS)


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, theirs, ...), read from /proc in one pass, so that a
    process whose parent dies before it is still found ([] where there is no /proc)."""
    children: dict[int, list[int]] = {}
    try:
        entries = [entry.name for entry in os.scandir("/proc") if entry.name.isdigit()]
    except OSError:
        return []
    for name in entries:
        try:
            stat = Path("/proc", name, "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])  # after the command, which may hold ") "
        children.setdefault(parent, []).append(int(name))
    found, queue = [], list(children.get(pid, []))
    while queue:
        child = queue.pop()
        found.append(child)
        queue.extend(children.get(child, []))
    return found


def end_processes(pids: Iterable[int]) -> None:
    """SIGKILL each of `pids` (Ray's GCS, raylet and agents block Ctrl-C, and the agents outlive a
    driver that exits at once); one that ended already is skipped."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def start_ray(init_args: dict[str, Any]) -> None:
    """Ray started as Flower's Ray backend starts it (`RayBackend.init_ray` in flwr 1.x:
    `init_args`, the dashboard off unless they name it, this process's `sys.path` as the workers'
    PYTHONPATH), so that Flower finds it started and uses it as it is; as a cluster of this user's
    own (`ray_cluster.private_cluster_args`: a private folder, token authentication, a new
    cluster). A no-op where Ray is started already. Call it from the thread that runs
    `run_simulation` (the main thread): Ray's init sets its SIGTERM handler only there."""
    use_token_authentication()  # before Ray is imported: it reads the mode then
    import ray

    if ray.is_initialized():
        return
    pythonpath = os.pathsep.join(sys.path)
    if os.environ.get("PYTHONPATH"):
        pythonpath = f"{pythonpath}{os.pathsep}{os.environ['PYTHONPATH']}"
    os.environ["PYTHONPATH"] = pythonpath
    # a cluster of this user's own: a private folder, a token, never another user's (ray_cluster.py)
    args = {"include_dashboard": False, **private_cluster_args(), **init_args}
    try:
        ray.init(runtime_env={"env_vars": {"PYTHONPATH": pythonpath}}, **args)
    except SystemExit as exc:
        ray.shutdown()
        remove_cluster_folder()
        # Ray's init sets its SIGTERM handler first (`sys.exit(signum)`): a SIGTERM in the seconds it
        # takes to start (about 5 here) ended the run with status 15 and no word (a review)
        if exc.code != signal.SIGTERM:
            raise
        raise KeyboardInterrupt from None
    except BaseException:
        remove_cluster_folder()
        raise


def shutdown_ray() -> None:
    """Ray shut down, whatever ended the simulation: Flower shuts it down when its engine stops,
    except when the engine failed before its backend was made (after `ray.init`); then its private
    folder removed (`ray_cluster.remove_cluster_folder`). A no-op when Ray was never started (or
    never imported)."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()
    remove_cluster_folder()  # its logs may name patients (a refusal's sample id)


class QuietAfterStop(logging.Filter):
    """Drops every record once `stopped` is set: after Ctrl-C, Flower logs each ClientApp actor
    the same SIGINT killed as an error with its traceback, which is noise, not news."""

    def __init__(self, stopped: threading.Event) -> None:
        super().__init__()
        self._stopped = stopped

    def filter(self, record: logging.LogRecord) -> bool:
        return not self._stopped.is_set()


class StoppableGrid(ForwardingGrid):
    """The ServerApp's grid, which raises `SimulationStopped` once `stopped` is set.

    Why the grid: the ServerApp spends its time waiting for the hospitals' replies, and every wait
    goes through `send_and_receive` (or the polling of `get_node_ids` before the first round); and
    when it raises, Flower's ServerApp thread sets the stop event that winds the engine down.
    Flower's own `send_and_receive` cannot be interrupted, so it is done here with the grid's public
    push and pull, looking at `stopped` between pulls."""

    def __init__(self, grid: Grid, stopped: threading.Event) -> None:
        super().__init__(grid)
        self._stopped = stopped

    def get_node_ids(self) -> Iterable[int]:
        self._check()
        return self._grid.get_node_ids()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        self._check()
        return self._grid.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        self._check()
        return self._grid.pull_messages(message_ids)

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        """Push, then pull every `PULL_SECONDS` until every reply is in, `timeout` passed (what
        Flower's grid returns then: the replies so far) or the run was stopped (raises)."""
        pending = set(self.push_messages(messages))
        end = None if timeout is None else time.monotonic() + timeout
        replies: list[Message] = []
        while pending:
            pulled = list(self.pull_messages(pending))
            self._check()  # a reply from an actor that Ctrl-C killed is no reply
            replies.extend(pulled)
            pending.difference_update(m.metadata.reply_to_message_id for m in pulled)
            if not pending or (end is not None and time.monotonic() >= end):
                break
            self._stopped.wait(PULL_SECONDS)  # ends early on Ctrl-C
        return replies

    def _check(self) -> None:
        if self._stopped.is_set():
            raise SimulationStopped("the simulation was interrupted")
