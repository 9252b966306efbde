"""The pieces of Ctrl-C in `genofed simulate` (simulations/local/interrupt.py), without Flower: the
grid that ends a waiting ServerApp, the log filter that is silent only after Ctrl-C, and the SIGINT
handler (tests/e2e/test_simulate_ctrl_c.py presses Ctrl-C on a real run)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
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
    """Python's own Ctrl-C handler during the test (pytest may have its own), put back after; the
    SIGTERM handler as it was, put back after too."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    previous_term = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGINT, previous)
    signal.signal(signal.SIGTERM, previous_term)


def _rays_sigterm(signum, frame):
    """What `ray.init` sets in the main thread: SIGTERM raises SystemExit (which stranded the
    ServerApp's thread, as Ctrl-C once did)."""
    sys.exit(signum)


def test_sigterm_is_taken_after_the_engine_starts_and_stops_the_run_as_ctrl_c(default_sigint, monkeypatch):
    """`ray.init` sets its own SIGTERM handler; the run's handler comes after it, so a `kill`
    marks the run stopped (a clean stop, then "interrupted: ...") and a second one forces the exit."""
    exits: list[int] = []
    monkeypatch.setattr(interrupt.os, "_exit", exits.append)
    monkeypatch.setattr(interrupt, "descendants", lambda pid: [])
    interruption = Interruption()
    started = lambda: signal.signal(signal.SIGTERM, _rays_sigterm)  # noqa: E731 - Ray's init, as far as SIGTERM goes
    with interruption.handling_stop_signals(start_engine=started):
        assert signal.getsignal(signal.SIGTERM) == interruption._on_first_signal
        signal.raise_signal(signal.SIGTERM)  # no SystemExit, no KeyboardInterrupt: Flower winds down first
        assert interruption.stopped.is_set() and not exits
        signal.raise_signal(signal.SIGTERM)
        assert exits == [130]
    assert signal.getsignal(signal.SIGTERM) == interruption._on_second_signal  # while it winds down


def test_without_a_stop_the_sigterm_handler_from_before_the_engine_is_put_back(default_sigint):
    before = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    rays_init = lambda: signal.signal(signal.SIGTERM, _rays_sigterm)  # noqa: E731
    with Interruption().handling_stop_signals(start_engine=rays_init):
        pass
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # not Ray's
    signal.signal(signal.SIGTERM, before)


def test_an_engine_that_fails_to_start_leaves_the_handlers_as_they_were(default_sigint):
    def failing() -> None:
        signal.signal(signal.SIGTERM, _rays_sigterm)
        raise RuntimeError("Ray could not start")

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(RuntimeError), Interruption().handling_stop_signals(start_engine=failing):
        pass
    assert signal.getsignal(signal.SIGTERM) == before
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_first_ctrl_c_marks_the_run_stopped_the_second_forces_the_exit(
    default_sigint, monkeypatch, capsys
):
    exits: list[int] = []
    ended: list[list[int]] = []
    monkeypatch.setattr(interrupt.os, "_exit", exits.append)
    monkeypatch.setattr(interrupt, "descendants", lambda pid: [pid + 1, pid + 2])  # never the real ones
    monkeypatch.setattr(interrupt, "end_processes", lambda pids: ended.append(list(pids)))
    interruption = Interruption(lambda: "RUN holds 2 of 6 rounds; continue with --resume")
    with interruption.handling_stop_signals():
        signal.raise_signal(signal.SIGINT)  # no KeyboardInterrupt: Flower winds down first
        assert interruption.stopped.is_set()
        assert not exits and not ended
        signal.raise_signal(signal.SIGINT)
        assert exits == [130]
    # while the process winds down
    assert signal.getsignal(signal.SIGINT) == interruption._on_second_signal
    assert ended == [[os.getpid() + 1, os.getpid() + 2]]  # Ray's processes ended before the exit
    assert capsys.readouterr().err == "interrupted: RUN holds 2 of 6 rounds; continue with --resume\n"


#: A Ray daemon, as far as Ctrl-C goes: SIGINT blocked (Ray starts its GCS and raylet so), and a
#: process of its own that inherits that (the agents the raylet starts); writes that one's pid.
DAEMON = """
import signal, subprocess, sys, time
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
agent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(agent.pid))
import os; os.replace(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(120)
"""

#: `genofed simulate`'s driver, as far as Ctrl-C goes: the handler, a daemon, and after the first
#: Ctrl-C a wind-down that never ends (Flower waiting on Ray).
DRIVER = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
from genofed.simulations.local.interrupt import Interruption
daemon = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]])
while not os.path.exists(sys.argv[2]):
    time.sleep(0.02)
interruption = Interruption(lambda: "RUN holds 2 of 6 rounds; continue with --resume")
with interruption.handling_stop_signals():
    print(daemon.pid, open(sys.argv[2]).read(), flush=True)
    if not interruption.stopped.wait(60):
        sys.exit("no Ctrl-C came")
    print("stopped", flush=True)
    time.sleep(60)
"""


def _ended(pid: int) -> bool:
    """Whether `pid` ended (gone, or a zombie nobody reaped yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _kill(pids: list[int]) -> None:
    """What a failed test left of its daemons (they sleep 120 s, blind to Ctrl-C)."""
    for pid in pids:
        if not _ended(pid):
            os.kill(pid, signal.SIGKILL)


def _wait_ended(pids: list[int], seconds: float = 10) -> list[int]:
    end = time.monotonic() + seconds
    while (alive := [p for p in pids if not _ended(p)]) and time.monotonic() < end:
        time.sleep(0.05)
    return alive


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")
def test_a_second_ctrl_c_ends_the_daemons_that_block_it_and_says_where_the_run_stopped(tmp_path):
    """A second Ctrl-C used to `os._exit` at once: Ray's agents, which block SIGINT and are started by
    the raylet, stayed behind, and nothing was printed. Ctrl-C as a terminal sends it: SIGINT to the
    whole process group."""
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, DAEMON, str(tmp_path / "agent.pid")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    daemons: list[int] = []
    try:
        daemons = [int(pid) for pid in driver.stdout.readline().split()]
        assert len(daemons) == 2, driver.stderr.read()
        os.killpg(driver.pid, signal.SIGINT)
        assert driver.stdout.readline() == "stopped\n"  # the first Ctrl-C: the run winds down
        assert _wait_ended(daemons, 0.5) == daemons  # the daemons block Ctrl-C
        os.killpg(driver.pid, signal.SIGINT)
        status = driver.wait(timeout=30)
        assert status == 130
        assert driver.stderr.read() == "interrupted: RUN holds 2 of 6 rounds; continue with --resume\n"
        assert not _wait_ended(daemons), "a daemon outlived the second Ctrl-C"
    finally:
        _kill(daemons)
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")
def test_the_tree_is_read_before_any_process_of_it_is_ended(tmp_path):
    """An orphan leaves the tree (its parent's parent adopts it): every descendant is found first."""
    daemon = subprocess.Popen([sys.executable, "-c", DAEMON, str(tmp_path / "agent.pid")])
    agent: list[int] = []
    try:
        while not (tmp_path / "agent.pid").exists():
            assert daemon.poll() is None
            time.sleep(0.02)
        agent = [int((tmp_path / "agent.pid").read_text())]
        assert interrupt.descendants(daemon.pid) == agent
        assert daemon.pid in interrupt.descendants(os.getpid())
        interrupt.end_processes([daemon.pid, *interrupt.descendants(daemon.pid)])
        daemon.wait(timeout=10)
        assert not _wait_ended(agent)
        assert interrupt.descendants(daemon.pid) == []
    finally:
        _kill(agent)
        daemon.kill()
        daemon.wait()


def test_ray_is_shut_down_when_it_is_still_up(monkeypatch):
    calls: list[str] = []
    up = SimpleNamespace(is_initialized=lambda: True, shutdown=lambda: calls.append("shutdown"))
    monkeypatch.setitem(sys.modules, "ray", up)
    interrupt.shutdown_ray()
    assert calls == ["shutdown"]
    monkeypatch.setitem(sys.modules, "ray", SimpleNamespace(is_initialized=lambda: False, shutdown=None))
    interrupt.shutdown_ray()  # down already: nothing to do
    monkeypatch.delitem(sys.modules, "ray")
    interrupt.shutdown_ray()  # never imported: nothing to do


def test_a_run_stopped_at_once_before_its_first_round_resumes_from_its_start(tmp_path):
    """A second Ctrl-C exits before RUN is taken back: its round-0 checkpoint is there to resume."""
    from genofed.server.checkpoint import CHECKPOINTS
    from genofed.simulations.local.simulate import _where_it_stopped

    settings = SimpleNamespace(out_dir=str(tmp_path / "run"), rounds=6)
    assert _where_it_stopped(settings).endswith("holds nothing to resume")
    (tmp_path / "run" / CHECKPOINTS).mkdir(parents=True)
    (tmp_path / "run" / CHECKPOINTS / "round-0000.pt").write_bytes(b"")
    assert "holds the run's start: continue with --resume" in _where_it_stopped(settings)
    (tmp_path / "run" / CHECKPOINTS / "round-0002.pt").write_bytes(b"")
    resume = "holds 2 of 6 rounds; continue with the same command and --resume"
    assert _where_it_stopped(settings).endswith(resume)


def test_without_ctrl_c_pythons_handler_is_put_back(default_sigint):
    with Interruption().handling_stop_signals():
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_ctrl_c_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with Interruption().handling_stop_signals():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_sigterm_while_ray_starts_interrupts_as_ctrl_c(monkeypatch):
    """Ray's init sets `sys.exit(signum)` for SIGTERM before it starts its processes (about 5 s): a
    review's `kill` in that window ended the run with status 15 and no word."""
    from types import SimpleNamespace

    ended: list[str] = []

    def init(**kwargs):
        sys.exit(signal.SIGTERM)  # what Ray's handler does

    fake = SimpleNamespace(is_initialized=lambda: False, init=init, shutdown=lambda: ended.append("shutdown"))
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))  # start_ray extends it
    monkeypatch.setattr(interrupt, "use_token_authentication", lambda: None)  # test_ray_cluster.py's
    with pytest.raises(KeyboardInterrupt):
        interrupt.start_ray({"num_cpus": 1})
    assert ended == ["shutdown"]

    folders: list[Path] = []

    def other_exit(**kwargs):
        folders.append(Path(kwargs["_temp_dir"]).parent)
        sys.exit(3)

    monkeypatch.setattr(fake, "init", other_exit)
    with pytest.raises(SystemExit):  # any other exit is not ours to change
        interrupt.start_ray({"num_cpus": 1})
    assert folders and not folders[0].exists()  # its private folder removed
