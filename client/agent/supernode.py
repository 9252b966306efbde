"""`genofed hospital start`, once the site is checked: the Flower SuperNode and its ClientApp worker,
run and supervised until they end or the agent is told to stop.

genofed.client.agent.launch decides whether the site may start and with what (its files, ledger,
key, CA and options), and hands this module a `Launch`: the flower-supernode command, its
environment and the warm worker's command. This module only runs it (`serve`):
- the SuperNode in a process group of its own (not a session: the worker must be able to join
  it), out of reach of a terminal's Ctrl-C; it shares the site's lock, so a SuperNode left behind
  by a killed agent still holds the site (genofed.client.agent.site_lock). Its output goes to the
  agent's stderr (journald, docker logs) and DIR/supernode.log;
- the warm ClientApp worker (genofed.client.agent.worker) in the SuperNode's group, its output in
  DIR/clientapp.log, restarted after `WORKER_RESTART_SECONDS` whenever it dies on its own, and not
  restarted when the SuperNode refused its secret (`SECRET_REFUSED_EXIT`: the agent then exits
  non-zero, to start afresh with a new one) or when the installed genofed changed since the agent
  started (`CODE_CHANGED_EXIT`: the agent exits non-zero, to approve the new code afresh);
- a SuperNode whose activation the coordinator refused (`NOT_ACTIVATED_EXIT`) started again after
  `RETRY_SECONDS`, `max_retries` times (None: for ever, as a service must outlast a coordinator
  restart);
- a SuperNode that lost its connection for good after Flower gave up reconnecting
  (`CONNECTION_LOST_EXIT`, genofed.client.agent.flower_supernode): the agent stops non-zero in one
  line when the coordinator's certificate no longer verifies with --ca (a new federation, a new
  CA: `_connection_lost`), and starts it again as after a refused activation otherwise;
- one SIGTERM and SIGINT handler for the agent's whole run (`_stop_on_signals`): it passes the
  signal on to the running group, and kills the group (SIGKILL) if it still runs
  `STOP_GRACE_SECONDS` later; a signal during the wait before a retry ends the wait, and nothing
  more is started. When the SuperNode ends, whatever is left of its group is ended the same way.

Why the stop is bounded: a service manager kills the agent itself after its own grace (docker
stop: 10 s), which would leave the SuperNode and its worker orphaned, still holding the site (an
audit timed 11-25 s from SIGTERM to exit when each SuperNode had a handler of its own).
Why a module of its own: the processes and their signals are one job, apart from checking and
binding the site (genofed.client.agent.check for `hospital check`, genofed.client.agent.launch for
what `start` checks and prepares; launch imports this module, never the reverse).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genofed.client.agent.flower_supernode import CONNECTION_LOST_EXIT
from genofed.client.agent.site_lock import SiteLock
from genofed.client.agent.worker import CODE_CHANGED_EXIT, SECRET_REFUSED_EXIT
from genofed.common.deployment.processes import bind_problem
from genofed.common.errors import ConfigError

#: Flower's exit code when a SuperNode could not activate: the SuperLink is unreachable or
#: refused the node's key (Flower does not tell the two apart).
NOT_ACTIVATED_EXIT = 305
#: The wait before the agent starts again a SuperNode whose activation was refused.
RETRY_SECONDS = 10.0
#: Pause before the agent restarts a ClientApp worker that died (a crash loop stays slow).
WORKER_RESTART_SECONDS = 1.0
#: How long the SuperNode and its ClientApp worker get to end once the agent has passed them a
#: stop signal (or the SuperNode ended on its own) before the agent kills their process group
#: (SIGKILL). Why: a service manager kills the agent itself after its own grace (docker stop: 10 s),
#: which leaves them orphaned, still holding the site; an idle SuperNode ends within a second.
STOP_GRACE_SECONDS = 5.0
#: How often the agent's wait before retrying an activation checks whether it was told to stop.
STOP_POLL_SECONDS = 0.1
#: The line in which the SuperNode reports its Flower exit code (`_copy_output`).
_EXIT_CODE = re.compile(rb"Exit Code: (\d+)")


def say_on_stderr(message: str) -> None:
    """The agent's own lines, on stderr (journald, docker logs) beside Flower's."""
    print(f"genofed: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class AgentOptions:
    """What `genofed hospital start` was given, checked by `launch.check_start_options`. Here, not
    in launch, for `serve` (its coordinator and max_retries): launch imports this module."""

    coordinator: str  # HOST:PORT of the coordinator's SuperLink
    ca: Path  # the federation's CA certificate
    local_port: int = 9094  # the SuperNode's own API, on 127.0.0.1 only
    approved_app: str = ""  # "" = the genofed app of this installation
    #: restarts after a refused or failed activation (None: for ever, as a service should)
    max_retries: int | None = None
    new_ledger: str = ""  # the operator's reason to start a new ledger for data that had one (audited)
    #: the machine-wide ledger index (None: $GENOFED_HOME or ~/.local/state/genofed)
    ledger_index: Path | None = None


@dataclass(frozen=True)
class Launch:
    """What `start` runs: the SuperNode, then the ClientApp worker that takes its tasks."""

    command: list[str]  # flower-supernode
    env: dict[str, str]
    runtime_address: str  # the SuperNode's Runtime API, on 127.0.0.1
    secret: Path  # shared by the two
    approved: str  # SHA-256 of the one app bundle the worker runs
    audit_log: Path
    #: `approved` is this installation's bundle, computed at start (no `--approved-app` given): the
    #: worker refuses to serve it once the installed code is another (`CODE_CHANGED_EXIT`)
    own_installation: bool = False

    def worker(self, supernode_pid: int, notice_fd: int | None = None) -> list[str]:
        """The warm ClientApp worker (genofed.client.agent.worker) for this SuperNode; `notice_fd`:
        the agent's stderr, where the worker writes its notices (a refused app bundle)."""
        return [
            sys.executable,
            "-m",
            "genofed.client.agent.worker",
            "--runtime-api-address",
            self.runtime_address,
            "--superexec-auth-secret-file",
            str(self.secret),
            "--approved-app",
            self.approved,
            "--audit-log",
            str(self.audit_log),
            "--parent-pid",
            str(supernode_pid),
            *(["--own-installation"] if self.own_installation else []),
            *(["--notice-fd", str(notice_fd)] if notice_fd is not None else []),
        ]


def serve(
    folder: Path,
    launch: Launch,
    options: AgentOptions,
    lock: SiteLock | None,
    say,
    check_ca: Callable[[], None] | None = None,
) -> int:
    """`launch.start_site`'s loop, holding the site's lock: the SuperNode, restarted after a refused
    activation or a lost connection; returns its exit code, 0 once a stop signal came, the worker's
    exit code when it must not be restarted (SECRET_REFUSED_EXIT, CODE_CHANGED_EXIT:
    `supervise_worker`), or CONNECTION_LOST_EXIT when the connection was lost because the
    coordinator's certificate no longer verifies with --ca (`check_ca` raised: `_connection_lost`)."""
    if options.max_retries is not None:  # Flower's own attempts per activation; otherwise it retries for ever
        launch.command.extend(["--max-retries", "3"])
    stop = _stop_on_signals()
    attempt = 0
    while True:
        code, flower_code = _run_supernode(launch, folder, stop, say, lock)
        if stop["restart_agent"]:  # non-zero: a service manager starts the agent again, afresh
            return stop["restart_agent"]
        if stop["signal"]:  # the stop the operator asked for is a clean exit, even one that had to
            return 0  # kill the group after the grace (the SuperNode's own code is then -9)
        # 0 without a stop signal: Flower's SuperNode stopped itself (SIGINT) on a 401 to its
        # heartbeat, i.e. the SuperLink it reached does not know its node id: a new coordinator on the
        # address (a second study on the same federation: the same CA, a new SuperLink), or its key
        # unregistered. It was a clean exit 0, and a service manager restarted nothing (a walkthrough).
        forgotten = code == 0 and flower_code is None
        if (code == CONNECTION_LOST_EXIT and flower_code is None) or forgotten:
            if _connection_lost(options, check_ca, say, forgotten=forgotten):
                return CONNECTION_LOST_EXIT  # non-zero: a service manager starts it again, or alerts
            attempt += 1
            if options.max_retries is not None and attempt > options.max_retries:
                return code
            say(f"retrying in {RETRY_SECONDS:.0f} s")
            if _wait_unless_stopped(RETRY_SECONDS, stop):
                return 0
            require_free_port(options.local_port)
            continue
        if flower_code != NOT_ACTIVATED_EXIT:
            if code != 0:  # else an agent started beside another on the same port ended without a word
                say(_exited(code, folder, options.local_port))
            return code
        attempt += 1
        say(
            f"the coordinator at {options.coordinator} did not accept this site. Flower's lines above say "
            "why: CERTIFICATE_VERIFY_FAILED (--ca is not this coordinator's ca.pem); unavailable or "
            "connection refused (the address or port is wrong, or the coordinator is not running); "
            "'Failed to activate SuperNode' (the coordinator does not know this site's key, not enrolled "
            f"or revoked: send {folder / 'supernode.pub'} and confirm its fingerprint; or it still holds "
            "this site's previous session, after a restart within about a minute of a stop: the retry "
            "gets in once it lets go; the coordinator's superlink.log tells the two apart)"
        )
        if options.max_retries is not None and attempt > options.max_retries:
            return code
        say(f"retrying in {RETRY_SECONDS:.0f} s")
        if _wait_unless_stopped(RETRY_SECONDS, stop):
            return 0  # stopped between two SuperNodes: nothing runs, as graceful as a SuperNode's stop
        require_free_port(options.local_port)


def _connection_lost(
    options: AgentOptions, check_ca: Callable[[], None] | None, say, *, forgotten: bool = False
) -> bool:
    """Say why the SuperNode ended after Flower gave up reconnecting to the coordinator
    (CONNECTION_LOST_EXIT: genofed.client.agent.flower_supernode), or, `forgotten`, after the
    coordinator's SuperLink said it does not know this SuperNode (Flower stops it with exit 0: a new
    coordinator on the address, e.g. a second study on the same federation, `coordinator init
    --same-federation-as`); returns whether the agent must exit: the coordinator's certificate no
    longer verifies with --ca (`check_ca`, the same TLS probe `hospital start` refuses a wrong CA
    with, raised ConfigError). Otherwise a new SuperNode is activated afresh: with the same CA and
    an enrolled key, it joins the new coordinator's run, the agent never restarted.

    Why exit, not retry: a new federation on the same address has a new CA, and no retry with this
    ca.pem can get in. `hospital start` refuses that CA in one line and exits non-zero, and so does
    the agent now, with the same line: a service manager (Restart=on-failure, docker's
    --restart on-failure) starts it again, each start says it again until the site's --ca file is
    the new federation's ca.pem, and then it joins. Before, the SuperNode never exited after giving
    up and the agent hung for good, saying nothing (walkthrough h12, finding 1). Any other loss (the
    coordinator down past --max-retries, or another error in Flower's lines above) is retried as a
    refused activation is."""
    where = f"the SuperNode lost its connection to the coordinator at {options.coordinator}"
    try:
        if check_ca is not None:
            check_ca()
    except ConfigError as refused:
        say(
            f"{where}: {refused}. A new federation on that address has a new CA (a `coordinator init` "
            "without --same-federation-as makes one): get its ca.pem from the coordinator, put it at --ca "
            f"({options.ca}) and start this agent again (a service manager does; each start refuses in one "
            "line until the coordinator's certificate verifies); stopping this agent"
        )
        return True
    if forgotten:
        say(
            f"the SuperNode ended: the coordinator at {options.coordinator} does not know it (a new "
            "coordinator on that address, e.g. a second study on the same federation, or this site's key "
            "unregistered); starting the SuperNode again, to be activated afresh"
        )
    else:
        say(f"{where} (Flower gave up reconnecting; its lines above say why); starting the SuperNode again")
    return False


def _exited(code: int, folder: Path, port: int) -> str:
    """What the agent says when its SuperNode ended by itself with an error: two agents started at
    once on the default --local-port both passed the port check, and the second one's SuperNode
    died ("SuperNode Runtime HTTP API failed to start") while the agent said nothing."""
    return (
        f"the SuperNode exited with code {code}; its lines above (and {folder / 'supernode.log'}) say why. "
        f"Where they say its Runtime HTTP API failed to start, another program took --local-port {port} "
        "after this agent checked it (another agent started at the same moment?): start this agent with "
        "another --local-port"
    )


def require_free_port(port: int) -> None:
    """Refuse a local port something already listens on: Flower would fail later, with a traceback
    ("SuperNode Runtime HTTP API failed to start"). A bind test, as the SuperNode will bind; made
    before the first SuperNode (`launch.prepare_start`) and again before each retry (`serve`): an
    agent started beside another on the same port took it while this one waited to retry, and
    its next SuperNode failed with Flower's traceback (a verification walkthrough)."""
    problem = bind_problem("127.0.0.1", port)
    if problem is not None:
        what = "is in use" if problem.errno == errno.EADDRINUSE else f"cannot be bound ({problem.strerror})"
        raise ConfigError(
            f"--local-port {port}: 127.0.0.1:{port} {what}; stop what listens there or give this agent "
            "another --local-port (each agent on a host needs its own)"
        )


def _stop_on_signals() -> dict[str, Any]:
    """Install the agent's SIGTERM and SIGINT handler, once for its whole run; returns the state it
    shares with `_run_supernode` and `supervise_worker`: the signal, the running SuperNode's pid and
    its worker's `ended` event (None between two SuperNodes), whether a group had to be killed.

    Why once, not per SuperNode: a signal that came while the agent waited to retry an activation
    (`RETRY_SECONDS`) was noted by the previous SuperNode's handler and then ignored: the agent
    slept on and started another SuperNode, which ran until the coordinator refused it again, so
    a stop took 11-25 s and a service manager's SIGKILL often came first (docker stop: 10 s)."""
    stop: dict[str, Any] = {
        "signal": None,
        "restart_agent": 0,
        "supernode": None,
        "ended": None,
        "killed": False,
    }

    def handle(signum, _frame) -> None:
        stop["signal"] = signum
        if stop["ended"] is not None:
            stop["ended"].set()  # a worker the signal ends is not restarted
        if stop["supernode"] is not None:
            _stop_group(stop["supernode"], signum, stop)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handle)
    return stop


def _stop_group(pid: int, signum: int, stop: dict[str, Any]) -> None:
    """Pass `signum` to the SuperNode's process group (the SuperNode and its worker) and kill the
    group (SIGKILL) if it still runs `STOP_GRACE_SECONDS` later. Called from a signal handler, which
    must not wait: the kill is a SIGALRM timer, armed once (a second signal does not postpone it)."""
    _signal_group(pid, signum)

    def kill(_signum, _frame) -> None:
        stop["killed"] = True
        _signal_group(pid, signal.SIGKILL)

    if signal.getitimer(signal.ITIMER_REAL)[0] == 0:
        signal.signal(signal.SIGALRM, kill)
        signal.setitimer(signal.ITIMER_REAL, STOP_GRACE_SECONDS)


class StopNow(BaseException):
    """A stop signal during the agent's last step, after its processes ended (`stop_now_on_a_signal`).
    A BaseException, as KeyboardInterrupt is: no `except Exception` on the way holds it up."""


@contextlib.contextmanager
def stop_now_on_a_signal() -> Iterator[None]:
    """Run the body with SIGTERM and SIGINT raising `StopNow` in it, then put back the handlers.

    Why: once its SuperNode and worker have ended, the agent records its ledger's high-water mark
    (`launch._record_spent`), which loads the privacy accountant (Opacus, with torch): 5 s at a
    load average of 4 here, 22 s in an operator's walkthrough. Meanwhile `_stop_on_signals`'s
    handler, which only passes a signal on to a group that no longer exists, took every further
    SIGTERM and Ctrl-C in silence, so an operator who pressed Ctrl-C again saw nothing happen and
    used SIGKILL. A signal now ends that step at once: the mark is written atomically (so it is
    whole or not written) and the next `hospital start` or `check` records it; no charge is lost.
    Outside the main thread, where no handler can be set, the body runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum, _frame) -> None:
        raise StopNow(signum)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait_unless_stopped(seconds: float, stop: dict[str, Any]) -> bool:
    """Wait `seconds`, or until a signal stops the agent; returns whether one did. In short sleeps:
    a signal handler only sets `stop["signal"]`, and a plain sleep would outlast it."""
    deadline = time.monotonic() + seconds
    while not stop["signal"] and time.monotonic() < deadline:
        time.sleep(STOP_POLL_SECONDS)
    return bool(stop["signal"])


def _run_supernode(
    launch: Launch, folder: Path, stop: dict, say=None, lock: SiteLock | None = None
) -> tuple[int, int | None]:
    """One flower-supernode process and its ClientApp worker; returns the SuperNode's exit code
    and the Flower exit code it reported. `stop`: the agent's signal state (`_stop_on_signals`).

    The worker runs in the SuperNode's process group: when the SuperNode ends the whole group is
    stopped (`_end_group`), so nothing keeps running under the agent's name. Its output goes to
    DIR/clientapp.log. The SuperNode shares the site's lock: if the agent is killed, the SuperNode
    it leaves still holds the site (genofed.client.agent.site_lock)."""
    say = say or say_on_stderr
    # its own process group (not session: the worker must be able to join it), out of reach of a
    # terminal's Ctrl-C: the agent's signal handler passes SIGTERM and SIGINT on (`_stop_on_signals`)
    process = subprocess.Popen(
        launch.command,
        env=launch.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        process_group=0,
        pass_fds=(lock.fd,) if lock else (),
    )
    if lock:
        lock.record(supernode_pid=process.pid)
    ended = threading.Event()
    stop["ended"], stop["supernode"] = ended, process.pid  # a signal from now on stops both
    if stop["signal"]:  # it came while the SuperNode was being started: stop it now
        ended.set()
        _stop_group(process.pid, signal.SIGTERM, stop)
    supervisor = threading.Thread(
        target=supervise_worker,
        args=(launch, process, folder / "clientapp.log", ended, say, stop),
        daemon=True,
    )
    supervisor.start()
    flower_codes: list[int] = []
    reader = threading.Thread(
        target=_copy_output, args=(process.stdout, folder / "supernode.log", flower_codes), daemon=True
    )
    reader.start()
    code = process.wait()
    _end_group(process.pid, supervisor, stop, say)
    reader.join(timeout=STOP_GRACE_SECONDS)  # the rest of its output: the pipe ends with the group
    return code, (flower_codes[-1] if flower_codes else None)


def _end_group(pid: int, supervisor: threading.Thread, stop: dict[str, Any], say) -> None:
    """Once the SuperNode (pid `pid`, its process group's leader) has exited: stop what is left of
    its group, the worker (SIGTERM: a task it was training is given up, nothing is sent; the
    ledger's charge is written under its lock with an atomic replace before any reply exists, so
    it holds the charge or not, never half of it), and SIGKILL the group if the worker still runs
    after `STOP_GRACE_SECONDS`, saying so. Then no stop timer is left armed."""
    ended, stop["ended"], stop["supernode"] = stop["ended"], None, None  # a later signal has no group
    ended.set()  # the worker is not restarted
    _signal_group(pid, signal.SIGTERM)
    supervisor.join(timeout=STOP_GRACE_SECONDS)  # it returns once the worker has exited
    if supervisor.is_alive():
        stop["killed"] = True
        _signal_group(pid, signal.SIGKILL)
        supervisor.join(timeout=STOP_GRACE_SECONDS)
    signal.setitimer(signal.ITIMER_REAL, 0)
    if stop["killed"]:
        stop["killed"] = False
        say(
            f"the SuperNode (pid {pid}) or its ClientApp worker did not end within {STOP_GRACE_SECONDS:g} s "
            "of SIGTERM: killed their process group (SIGKILL)"
        )


def supervise_worker(
    launch: Launch,
    supernode: subprocess.Popen,
    log_path: Path,
    ended: threading.Event,
    say=None,
    stop: dict | None = None,
) -> int:
    """Keep one ClientApp worker running beside `supernode` until it ends (`ended`), restarting
    the worker, after `WORKER_RESTART_SECONDS`, whenever it exits on its own; returns the number
    of restarts. A task a dead worker held expires at the SuperNode and is answered with an
    error, as when Flower's own ClientApp process dies.

    A worker the SuperNode refused (SECRET_REFUSED_EXIT: DIR/superexec.secret no longer holds the
    secret the SuperNode started with) is not restarted: every restart would be refused too,
    while the SuperNode looked online to the coordinator. The SuperNode is stopped instead and
    `stop["restart_agent"]` set to its code, so the agent exits non-zero and starts afresh. So is a
    worker that found the installed genofed changed since the agent approved it (CODE_CHANGED_EXIT)."""
    say = say or say_on_stderr
    restarts = 0
    notice_fd = _stderr_copy()
    try:
        with log_path.open("ab") as log:
            while True:
                try:
                    worker = subprocess.Popen(
                        launch.worker(supernode.pid, notice_fd),
                        env=launch.env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        process_group=supernode.pid,
                        pass_fds=() if notice_fd is None else (notice_fd,),
                    )
                except OSError:  # the SuperNode's process group is gone: it ended
                    return restarts
                if ended.is_set():  # stopped while it was being started: the group's SIGTERM missed it
                    worker.terminate()
                code = worker.wait()
                if code in _AGENT_RESTARTS and not ended.is_set() and supernode.poll() is None:
                    _stop_for_a_restart(launch, supernode, ended, say, stop, code)
                    return restarts
                if ended.wait(WORKER_RESTART_SECONDS) or supernode.poll() is not None:
                    return restarts
                restarts += 1
                say(f"the ClientApp worker exited with code {code}; restarting it (see {log_path})")
    finally:
        if notice_fd is not None:
            os.close(notice_fd)


def _stderr_copy() -> int | None:
    """A copy of the agent's stderr for the worker's notices (its own stdout and stderr are
    clientapp.log); None when stderr is no file (the worker then logs them there only). One
    descriptor for every worker `supervise_worker` starts, closed when it returns."""
    try:
        return os.dup(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):
        return None


#: The worker exit codes after which it is not restarted but the agent stops, to start afresh.
_AGENT_RESTARTS = (SECRET_REFUSED_EXIT, CODE_CHANGED_EXIT)


def _stop_for_a_restart(
    launch: Launch,
    supernode: subprocess.Popen,
    ended: threading.Event,
    say,
    stop: dict | None,
    code: int = SECRET_REFUSED_EXIT,
) -> None:
    """Say why the site stops, and stop the SuperNode whose worker cannot serve it (see
    supervise_worker); `code`: the worker's exit code, one of `_AGENT_RESTARTS`."""
    if code == CODE_CHANGED_EXIT:
        say(
            "the installed genofed changed since this agent started (an upgrade while it ran): the ClientApp "
            "worker refuses to run new code under the old approval; stopping this agent: start it again (a "
            "service manager does) once every site and the coordinator run the same release"
        )
    else:
        say(
            f"the SuperNode refused the ClientApp worker's SuperExec secret: {launch.secret} was replaced "
            "after the SuperNode started (by another `genofed hospital start` for this site?); stopping this "
            "agent: start it again (a service manager does), it writes a fresh secret for both"
        )
    if stop is not None:
        stop["restart_agent"] = code
    ended.set()
    _signal_group(supernode.pid, signal.SIGTERM)


def _copy_output(stream, log_path: Path, flower_codes: list[int]) -> None:
    """SuperNode output to this process's stderr (journald, docker logs) and DIR/supernode.log."""
    with log_path.open("ab") as log:
        for line in stream:
            sys.stderr.buffer.write(line)
            sys.stderr.flush()
            log.write(line)
            log.flush()
            if match := _EXIT_CODE.search(line):
                flower_codes.append(int(match.group(1)))


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):  # already gone
        pass
