"""`genofed coordinator start`: the federation's run on Flower's own SuperLink (`coordinator status`
and the state file DIR/coordinator.json: server/service/status.py).

What `start` does, in order, and why:
1. Checks the folder (federation.json, enrolled hospitals >= minimum, no finished run whose
   model.pt a new run would rewrite, the public prior copies unchanged since init, the TLS
   certificate and key valid and of the federation's CA) and that nginx is there. Then it takes
   the folder's lock (DIR/coordinator.lock, `hold_federation`), held until it exits: a second
   `start` for the folder is refused there, naming the first one's pid. It stops the SuperLink
   group a killed coordinator left (server/service/orphans.py) and checks that every address it
   will listen on is free, before anything listens.
2. Runs `flower-superlink` on 127.0.0.1 only (`--internal-address`) with the federation's TLS
   certificate, SuperNode authentication, its state database in DIR, runtime dependency
   installation off, telemetry and Flower's update check off, and `--isolation process` with a
   SuperExec secret fresh at every start (DIR/superexec.secret, 0600), plus the
   `flower-superexec` holding that secret: only it can take the run's ServerApp task from the
   Runtime API.
3. Flower 1.42 serves its Fleet, Control and Runtime APIs from one port, so the hospitals'
   address (`--fleet-address`) is nginx, passing Flower's Fleet API only
   (server/service/fleet_proxy.py): the unauthenticated Control API and the Runtime API stay on loopback.
4. Registers every enrolled hospital's public key with `flwr supernode register` and writes the
   admission map (DIR/nodes.json: which node id it got for which enrolled key). The ServerApp
   sends tasks only to nodes in that map whose key is still enrolled, re-read before every
   exchange (server/app.py), so a key registered some other way never gets a task. Every
   `--sync-seconds` it also unregisters any node it did not register itself, and any hospital
   revoked meanwhile (`genofed coordinator revoke`).
5. Submits the genofed app (genofed.common.deployment.app_bundle; the bundle hospitals pin) with the run
   config `federation=DIR`: the ServerApp reads the agreed settings from DIR/federation.json and
   writes results, checkpoints, the final model and the report to DIR/run.
6. Waits for the run, writing DIR/coordinator.json (what `status` shows; written "starting",
   with the pid of each process it starts, as soon as it starts them): it asks the
   SuperLink every `poll_seconds`, and at once when the ServerApp has written that the run
   ended (server/service/run_end.py). Then it stops the SuperLink, its SuperExec and nginx
   (one process group). Exit 0 when the run completed.
   Restarting after a crash stops the orphaned group and resumes from the last checkpoint, with
   the same privacy plan id (hospitals' ledgers continue the same plan). A group that finished
   the run meanwhile is dealt with by server/service/orphans.py, and the start then refused as for
   any finished run.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genofed.common.deployment.app_bundle import approved_app_hash, write_app_dir
from genofed.common.deployment.flower_env import (
    flower_command,
    superexec_command,
    write_superexec_secret,
)
from genofed.common.deployment.processes import bind_problem, identities
from genofed.common.errors import GenofedError
from genofed.common.util.atomic import write_text_atomic
from genofed.common.util.progress import Progress
from genofed.server.service.enrollment import load_registry
from genofed.server.service.federation_folder import NODES_FILE, RUN_DIR, read_federation_file
from genofed.server.service.federation_model import check_prior_files
from genofed.server.service.fleet_proxy import PROXY_DIR, ProxyConfig, find_nginx, nginx_command, write_config
from genofed.server.service.flower_control import CONNECTION, FlowerControl, save_run_log, split_address
from genofed.server.service.folder_files import FEDERATION_FILE, hold_federation, require_complete
from genofed.server.service.handover import require_not_handed_over
from genofed.server.service.orphans import finished_without_coordinator, refuse_second_instance
from genofed.server.service.participation import who_took_part
from genofed.server.service.pki import check_folder_pki
from genofed.server.service.reply_wait import reply_wait, say_reply_wait
from genofed.server.service.run_end import run_end, utc_clock, wait_for_run_end
from genofed.server.service.run_wait import run_wait
from genofed.server.service.status import (
    RESULTS_FILE,
    now,
    other_runs,
    planned_rounds,
    read_json,
    round_progress,
    write_status,
)

#: Seconds after the ServerApp's end-of-run file during which the coordinator asks for the run's
#: state every second (each ask is a `flwr` CLI call, about 1 s of CPU, hence not for ever).
ENDED_GRACE = 30.0
#: How often `start` says that the ServerApp is still waiting for hospitals (`_say_waiting`).
WAITING_SAY_SECONDS = 60.0
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
#: Seconds to wait for the ports an orphaned SuperLink group held to be free again after stopping it.
ORPHAN_PORT_GRACE = 10.0


@dataclass(frozen=True)
class ServiceOptions:
    #: host:port where hospitals connect: nginx, passing Flower's Fleet API only (TLS, node
    #: authentication). Firewall it to the hospitals' addresses all the same.
    address: str = "0.0.0.0:9092"
    #: host:port of the SuperLink itself (Fleet, Control and Runtime APIs on one port in Flower
    #: 1.42): loopback only, for nginx, the coordinator's `flwr` commands and its SuperExec.
    internal_address: str = "127.0.0.1:9091"
    poll_seconds: float = 10.0  # run status: each check runs the `flwr` CLI (~1 s of CPU)
    sync_seconds: float = 10.0  # unregister unknown or revoked nodes at most this long after they appear
    startup_timeout: float = 60.0
    nginx: str = ""  # the nginx executable ("" = PATH, then /usr/sbin)

    def check(self) -> None:
        """Refuse addresses that would expose the SuperLink's Control or Runtime API."""
        host, port = split_address(self.internal_address)
        if host not in LOOPBACK_HOSTS:
            raise GenofedError(
                f"--internal-address {self.internal_address}: must be on 127.0.0.1 (the SuperLink's Control "
                "and Runtime APIs have no authentication; only nginx faces the hospitals)"
            )
        public_host, public_port = split_address(self.address)
        if public_port == port and public_host in (*LOOPBACK_HOSTS, "0.0.0.0", "::"):
            raise GenofedError(
                f"--fleet-address {self.address} and --internal-address {self.internal_address} use the same "
                "port"
            )


def start_coordinator(
    folder: str | Path, options: ServiceOptions = ServiceOptions(), say: Progress = print
) -> int:
    """Run the coordinator of the federation in `folder` until its run ends; returns the exit code.

    Starts the SuperLink, its SuperExec and the nginx proxy, submits the run, watches it (syncing
    enrolled hospitals every `options.sync_seconds`) and stops every process it started, also on
    a signal or an error; the state is kept in DIR/coordinator.json.
    """
    folder = Path(folder).resolve()
    # a folder a second study took over admits no hospital: its revocations are kept elsewhere now
    require_not_handed_over(folder, "start the coordinator")
    _require_enough_hospitals(folder)
    if (folder / RUN_DIR / RESULTS_FILE).is_file():
        with hold_federation(folder):  # what a killed coordinator left is stopped under the lock only
            _refuse_finished_run(folder, say)
    _refuse_a_run_no_round_can_train(folder)
    # before anything listens (the ServerApp checks again)
    check_prior_files(folder, read_federation_file(folder))
    check_folder_pki(folder)  # else the SuperLink only "does not answer within 60 s"
    options.check()
    nginx = find_nginx(options.nginx)
    if (warning := visible_arguments_warning()) is not None:
        say(warning)
    with hold_federation(folder):  # a second start for this folder is refused here, at once
        return _run_coordinator(folder, options, nginx, say)


def _run_coordinator(folder: Path, options: ServiceOptions, nginx: str, say: Progress) -> int:
    """`start_coordinator` past its checks, with the folder's lock held: stop what a killed
    coordinator left, start the processes, submit and watch the run, stop them all. The state
    is in DIR/coordinator.json from the moment the SuperLink is started ("starting", with the
    pids of the processes it started), so `status` and a later start see them."""
    orphans = refuse_second_instance(folder)
    if orphans:
        say(orphans)
    require_free_addresses(options, grace=ORPHAN_PORT_GRACE if orphans else 0.0)
    control = FlowerControl(folder, options.internal_address)
    app = write_app_dir(folder / "app")
    secret = write_superexec_secret(folder)
    log = (folder / "superlink.log").open("ab")
    superlink = subprocess.Popen(
        superlink_command(folder, options.internal_address, secret),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=control.env,
        process_group=0,
    )
    status = _starting_status(options, superlink)
    stop = _stop_on_signals()
    try:
        write_status(folder, status)  # "starting": a start killed from here on leaves orphans the next stops
        _wait_online(control, superlink, options.startup_timeout, folder)
        helpers = _start_helpers(folder, options, secret, superlink, log, control.env, nginx)
        pids = {f"{name}_pid": process.pid for name, process in helpers.items()}
        status.update(pids, identities=dict(status["identities"], **identities(**pids)))
        write_status(folder, status)
        host, port = split_address(options.address)
        _wait_listening(host, port, helpers["proxy"], folder, options.startup_timeout)
        last_sync = _submit_run(folder, options, control, app, status, say)
        stop["starting"] = False
        _watch_run(folder, options, control, superlink, helpers, status, stop, say, last_sync)
        return _finish_run(folder, control, superlink, status, stop, say)
    except StopRequested as stopped:
        status["state"] = "stopped"
        say(f"{stopped}: the SuperLink and its helpers are stopped")
        return 1
    except BaseException as exc:
        status.update(state="failed", error=str(exc))
        raise
    finally:
        _terminate(superlink)
        status["stopped"] = now()
        write_status(folder, status)
        log.close()


def visible_arguments_warning(mounts: Path = Path("/proc/mounts")) -> str | None:
    """A warning when every local user can read every process's command line (/proc mounted
    without `hidepid`), None otherwise: Flower's SuperExec starts the ServerApp with its run's
    token on the command line (`flwr-serverapp --token ...`), and with that token a local user can
    act as the ServerApp, sending the hospitals messages in the run's name (an audit did, as an
    unprivileged user, from `ps`). Unreadable mounts: None (nothing to say)."""
    try:
        lines = mounts.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) >= 4 and fields[1] == "/proc" and fields[2] == "proc":
            options = dict(option.partition("=")[::2] for option in fields[3].split(","))
            if options.get("hidepid", "0") not in ("0", "off"):
                return None
            return (
                "warning: every local user of this machine can read the ServerApp's run token in `ps` "
                "(Flower passes it on the command line) and act as the ServerApp with it; run the "
                "coordinator on a machine without other users, or mount /proc with hidepid=invisible "
                "(docs/deployment-security.md)"
            )
    return None


def _require_enough_hospitals(folder: Path) -> None:
    """Refuse to start with fewer enrolled hospitals than the federation's `min-nodes` (first,
    a folder with files missing: which, not a failure on the first one opened; and a test cohort
    that is gone)."""
    require_complete(folder)
    federation = read_federation_file(folder)
    _require_test_cohort(folder, federation)
    enrolled = load_registry(folder)["hospitals"]
    needed = int(federation["settings"]["min-nodes"])
    if len(enrolled) < needed:
        raise GenofedError(
            f"{len(enrolled)} hospital(s) enrolled in {folder}, the federation needs {needed} "
            "(genofed coordinator enroll, or a smaller --min-hospitals at init)"
        )


def _require_test_cohort(folder: Path, federation: dict[str, Any]) -> None:
    """Refuse to start when the test cohort init recorded is gone (moved since): the run would
    otherwise stop in the ServerApp (`load_test_cohort`), after every process was started."""
    test_dir = federation.get("test_dir")
    if test_dir and not Path(test_dir).is_dir():
        raise GenofedError(
            f"the test cohort {test_dir} that init recorded in {folder / FEDERATION_FILE} is not a folder "
            "any more: restore it, or set test_dir there to where it is now"
        )


def _refuse_finished_run(folder: Path, say: Progress = print) -> None:
    """Refuse to start a federation whose run already finished: the ServerApp would find nothing
    left to train and still rewrite DIR/run/model.pt (the file already sent to the hospitals),
    results.json and the report. A run that did not finish (no results.json yet) resumes.

    Called with the folder's lock held: a coordinator killed while its run went on (SIGKILL) left
    its SuperLink group running, which finished the run without it and would otherwise keep the
    ports, the unauthenticated Control API and the hospitals' connections open: stopped first, and
    said (`finished_without_coordinator`), before the refusal."""
    results = folder / RUN_DIR / RESULTS_FILE
    if results.is_file():
        left = finished_without_coordinator(folder)
        if left:
            say(left)
        raise GenofedError(
            f"the federation's run already finished; outputs in {folder / RUN_DIR} (results.json, model.pt, "
            "the report): starting again would rewrite them. For a new run, make a new federation folder "
            "for a second study on the same federation (`genofed coordinator init NEW_DIR "
            f"--same-federation-as {folder} ...`: the same CA and enrolled hospitals, new settings); "
            f"`genofed coordinator status {folder}` shows this run's results"
        )


def _refuse_a_run_no_round_can_train(folder: Path) -> None:
    """Refuse to start a federation whose run ended after its last round without a model (no
    hospital trained in any round): a start would bring up the SuperLink and the proxy, wait for
    the hospitals and submit the run, only for the ServerApp to find nothing left to train and
    fail again with the old refusals (an operator's walkthrough, after fixing the hospital those
    refusals named). A run whose rounds trained and whose outputs were not written yet (a crash at
    its end) still resumes: it has a model to write."""
    try:
        history = round_progress(folder / RUN_DIR / "checkpoints").get("rounds") or []
    except GenofedError:  # a damaged checkpoint: the resume names it (and reads the one before)
        return
    if not history:  # never started: nothing to look at
        return
    planned = planned_rounds(read_federation_file(folder)["settings"])
    done = max((record["round"] for record in history), default=0)
    if done < planned or any(record.get("participants") for record in history):
        return
    raise GenofedError(
        f"the federation's run ended after all its {planned} rounds with no hospital trained in any of "
        f"them, so it has no model and nothing is left to train: starting it again would fail the same "
        f"way (`genofed coordinator status {folder}` says why it failed). For a new run, make a new "
        f"federation folder for a second study on the same federation (`genofed coordinator init NEW_DIR "
        f"--same-federation-as {folder} ...`: the same CA and enrolled hospitals, new settings)"
    )


def require_free_addresses(options: ServiceOptions, *, grace: float = 0.0) -> None:
    """Every address the coordinator will listen on (nginx's `--fleet-address`, the SuperLink's
    `--internal-address`) must be free before anything starts: a port held by another program
    otherwise passes the start-up check (it answers connections) and the failure shows only after
    the hospitals are registered and the run submitted. `grace`: seconds to keep retrying a port
    in use (the ports of an orphaned SuperLink group just stopped)."""
    for option, address in (
        ("--fleet-address", options.address),
        ("--internal-address", options.internal_address),
    ):
        deadline = time.monotonic() + grace
        while (problem := bind_problem(*split_address(address))) is not None:
            if problem.errno != errno.EADDRINUSE or time.monotonic() >= deadline:
                raise GenofedError(_bind_message(option, address, problem))
            time.sleep(0.5)


def _bind_message(option: str, address: str, problem: OSError) -> str:
    """The one line that says which address cannot be listened on, why, and what to do."""
    port = split_address(address)[1]
    if problem.errno == errno.EADDRINUSE:
        return (
            f"{option} {address}: port {port} is already in use by another program (`ss -ltnp 'sport = "
            f":{port}'` shows which); stop it or give {option} a free port"
        )
    if problem.errno == errno.EADDRNOTAVAIL:
        return (
            f"{option} {address}: not an address of this machine ({problem.strerror}); give one of its own "
            "addresses (or 0.0.0.0 for --fleet-address)"
        )
    if problem.errno == errno.EACCES:
        return f"{option} {address}: no permission to listen on port {port}; give a port from 1024 up"
    return f"{option} {address}: cannot listen there ({problem.strerror or problem})"


def _starting_status(options: ServiceOptions, superlink: subprocess.Popen) -> dict[str, Any]:
    """DIR/coordinator.json's first content: the processes, addresses and the approved app."""
    return {
        "pid": os.getpid(),
        "superlink_pid": superlink.pid,
        # which processes those pids are: after a power loss they may name others (`recorded_alive`)
        "identities": identities(pid=os.getpid(), superlink_pid=superlink.pid),
        "address": options.address,
        "internal_address": options.internal_address,
        "state": "starting",
        "started": now(),
        "app_sha256": approved_app_hash(),
        "run_id": None,
        "hospitals": {},
    }


def _submit_run(
    folder: Path,
    options: ServiceOptions,
    control: FlowerControl,
    app: Path,
    status: dict[str, Any],
    say: Progress,
) -> float:
    """Sync the enrolled hospitals, then submit the federation's run; `status` records both.
    Returns the time of the sync (`time.monotonic`)."""
    status["hospitals"] = sync_nodes(folder, control, say)
    last_sync = time.monotonic()
    reply = control("run", str(app), CONNECTION, "--run-config", f"federation={json.dumps(str(folder))}")
    status.update(state="running", run_id=int(reply["run-id"]))
    say(
        f"hospitals connect to {options.address} (nginx: Flower's Fleet API only, TLS, hospital "
        f"authentication); SuperLink on {options.internal_address} (loopback); run {reply['run-id']} "
        f"submitted, app {status['app_sha256'][:16]}"
    )
    say(resume_words(folder, reply["run-id"]))
    return last_sync


def resume_words(folder: Path, run_id: Any) -> str:
    """Whether the submitted run starts the federation's run or resumes it, from its checkpoints:
    a restart that resumed said nothing, and Flower's `[ROUND 1/18]` in the ServerApp's log read
    as a restart (an ML engineer's walkthrough)."""
    from genofed.server.checkpoint import checkpoint_files  # torch: only when a run is submitted

    planned = planned_rounds(read_federation_file(folder)["settings"])
    found = checkpoint_files(folder / RUN_DIR / "checkpoints")
    if not found:
        return f"run {run_id}: a new run, from round 0 of {planned}"
    done, path = found[-1]
    return (
        f"run {run_id}: resuming the federation's run from round {done} of {planned} (checkpoint {path}); "
        f"Flower's log counts this launch's rounds ([ROUND 1/{planned - done}]), genofed's lines the run's "
        f"(round {done + 1}/{planned})"
    )


def _watch_run(
    folder: Path,
    options: ServiceOptions,
    control: FlowerControl,
    superlink: subprocess.Popen,
    helpers: dict[str, subprocess.Popen],
    status: dict[str, Any],
    stop: dict[str, Any],
    say: Progress,
    last_sync: float,
) -> None:
    """Poll the run until it finishes, the SuperLink exits or a signal arrives: the status file
    rewritten at every poll, the helpers checked, the hospitals synced every `sync_seconds`."""
    ended_at = 0.0  # when the ServerApp's end-of-run file was first seen (monotonic)
    online: list[str] | None = None  # the hospitals last said to be online
    waiting_said: float | None = None  # when the ServerApp's wait for hospitals was last said (time.time)
    replies_said: float | None = None  # when an exchange's wait for replies was last said (time.time)
    while True:
        write_status(folder, status)
        run = _poll_runs(control, status)
        status["run_status"] = run["status"]
        status["network_traffic"] = run.get("network-traffic")  # the SuperLink's byte counts for this run
        if run["status"].startswith("finished") or superlink.poll() is not None or stop["signal"]:
            break
        _check_helpers(helpers, folder)
        if time.monotonic() - last_sync >= options.sync_seconds:
            status["hospitals"] = sync_nodes(folder, control, say)
            last_sync = time.monotonic()
            online = _say_online(status["hospitals"], online, say)
        waiting = run_wait(folder / RUN_DIR, status["run_id"])
        waiting_said = _say_waiting(status["run_id"], waiting, status["hospitals"], waiting_said, say)
        awaited = reply_wait(folder / RUN_DIR, status["run_id"])
        replies_said = say_reply_wait(status["run_id"], awaited, replies_said, say)
        wait = min(options.poll_seconds, options.sync_seconds)
        if run_end(folder / RUN_DIR, status["run_id"]) is None:
            wait_for_run_end(folder / RUN_DIR, status["run_id"], wait)
            continue
        # ended: Flower marks the run finished once the ServerApp's process is gone, within
        # seconds; ask every second for ENDED_GRACE seconds, then at the usual pace again
        ended_at = ended_at or time.monotonic()
        time.sleep(min(wait, 1.0) if time.monotonic() - ended_at < ENDED_GRACE else wait)


def _say_online(hospitals: dict[str, dict[str, Any]], before: list[str] | None, say: Progress) -> list[str]:
    """Say which enrolled hospitals are online whenever that changes (an operator's audit waited
    3.5 minutes after "submitted" with none of 13 hospitals started, told nothing); returns them."""
    online = sorted(name for name, h in hospitals.items() if h.get("status") == "online")
    if online != before:
        names = f": {', '.join(online)}" if online else ""
        say(f"hospitals online: {len(online)} of {len(hospitals)} enrolled{names}")
    return online


def _say_waiting(
    run_id: Any,
    wait: dict[str, Any] | None,
    hospitals: dict[str, dict[str, Any]],
    said: float | None,
    say: Progress,
) -> float | None:
    """While the ServerApp waits for hospitals (`run_wait`), say every `WAITING_SAY_SECONDS` who is
    online, who is not, and until when it waits; returns when it last said so (None: no wait).

    Why: the ServerApp says it every 30 s in its own log only (`flwr log`); an ML engineer's
    walkthrough watched `coordinator start` print nothing for 4.5 minutes after "hospitals online:
    1 of 2" while the other hospital's agent had stopped."""
    if wait is None:
        return None
    moment = time.time()
    if moment - (said if said is not None else float(wait.get("since", moment))) < WAITING_SAY_SECONDS:
        return said
    online = sorted(name for name, h in hospitals.items() if h.get("status") == "online")
    missing = sorted(name for name in hospitals if name not in online)
    needed, all_until = int(wait.get("needed", 0)), wait.get("all_until")
    count = f"{len(online)} of {len(hospitals)} enrolled hospitals online" + (
        f" ({', '.join(online)})" if online else ""
    )
    absent = f"; not online: {', '.join(missing)}" if missing else ""
    if all_until is not None and len(online) >= needed:
        until = f"it waits for the others until {utc_clock(all_until)}, then starts with those online"
    else:
        until = f"it needs {needed} to start and gives up at {utc_clock(wait.get('gives_up_at'))}"
    say(
        f"run {run_id}: the ServerApp is waiting for hospitals: {count}{absent}; {until}. Start the "
        "missing hospitals' agents (`genofed hospital start`); an agent that cannot get in says why in its "
        "own output, and one started with another federation's ca.pem (a previous run's: each "
        "`coordinator init` makes a new CA) stops saying so: send it this federation's ca.pem"
    )
    return moment


def _finish_run(
    folder: Path,
    control: FlowerControl,
    superlink: subprocess.Popen,
    status: dict[str, Any],
    stop: dict[str, Any],
    say: Progress,
) -> int:
    """The run's end: an error if the SuperLink died, else the final state, the ServerApp's log
    saved (its last lines shown when the run failed; a run stopped by a signal is said to be
    interrupted, not "running"); 0 when the run completed, else 1."""
    if superlink.poll() is not None:
        raise GenofedError(
            f"flower-superlink exited with code {superlink.returncode}; see {folder / 'superlink.log'}"
        )
    completed = status.get("run_status") == "finished:completed"
    status["state"] = "stopped" if stop["signal"] else ("finished" if completed else "failed")
    log_file = save_run_log(control, folder, status["run_id"])
    interrupted = bool(stop["signal"]) and not completed
    outcome = status.get("run_status")
    if interrupted:  # Flower's last word ("running") is stale once its SuperLink is stopped
        outcome = (
            f"interrupted by signal {stop['signal']} (Flower's run state was {outcome}; the next start "
            "resumes it)"
        )
    results = (
        f"results in {folder / RUN_DIR}"
        if (folder / RUN_DIR / RESULTS_FILE).is_file()
        else "no results written yet"  # an operator was told "results in" a folder without any
    )
    say(f"run {status['run_id']}: {outcome}; {results}, the ServerApp's log in {log_file}")
    if interrupted:
        return 1
    if completed:
        _say_who_took_part(folder / RUN_DIR / RESULTS_FILE, say)
    ended = run_end(folder / RUN_DIR, status["run_id"]) or {}
    if not completed and ended.get("error"):  # a genofed error: its message says what to do
        say(f"the run stopped: {ended['error']}")
        status["error"] = ended["error"]  # `coordinator status` says why too (it said "failed" only)
    elif not completed:
        say(
            "last lines of the ServerApp's log:\n"
            + "\n".join(log_file.read_text(errors="replace").splitlines()[-15:])
        )
    return 0 if completed else 1


def _poll_runs(control: FlowerControl, status: dict[str, Any]) -> dict[str, Any]:
    """This coordinator's run as the SuperLink lists it (`flwr ls`), recording in `status` the runs
    of other apps beside it (`other_runs`), which `coordinator status` shows without asking the
    SuperLink itself: one `flwr` CLI call per poll, as before, and none more per status."""
    runs = control("ls", CONNECTION)["runs"]
    status["other_runs"] = other_runs(runs, str(status.get("app_sha256") or ""))
    ours = [run for run in runs if isinstance(run, dict) and str(run.get("run-id")) == str(status["run_id"])]
    return ours[0] if ours else control("ls", "--run-id", str(status["run_id"]), CONNECTION)["runs"][0]


def _say_who_took_part(results_file: Path, say: Progress) -> None:
    """After a completed run: which hospitals trained in how many rounds, and a warning naming each
    enrolled hospital that did not train in every round and why (turned away, not connected,
    refused; `participation.who_took_part`). An operator's walkthrough saw "finished:completed" for
    a run in which 1 of 3 hospitals trained (one turned away for its declared size, one refusing
    every plain round), with nothing on the console; the reasons were only in the report and the
    ServerApp's log."""
    try:
        results = json.loads(results_file.read_text())
    except (OSError, ValueError):
        return
    summary = who_took_part(results)
    if summary is None:
        return
    each, absent = summary
    say(each)
    ended = results.get("ended_early")
    if isinstance(ended, dict) and ended.get("reason"):
        say(f"the run ended early: {ended['reason']}")
    if absent:
        say("warning: not every enrolled hospital trained in every round:\n  " + "\n  ".join(absent))


def superlink_command(folder: Path, internal_address: str, secret: Path) -> list[str]:
    """flower-superlink on loopback, TLS, node authentication, process isolation with a SuperExec secret."""
    host, port = split_address(internal_address)
    return [
        flower_command("flower-superlink"),
        "--ssl-ca-certfile",
        str(folder / "ca.pem"),
        "--ssl-certfile",
        str(folder / "server.pem"),
        "--ssl-keyfile",
        str(folder / "server.key"),
        "--enable-supernode-auth",
        "--database",
        str(folder / "state.db"),
        "--disable-runtime-dependency-installation",
        "--isolation",
        "process",
        "--superexec-auth-secret-file",
        str(secret),
        "--host",
        host,
        "--port",
        str(port),
    ]


def _start_helpers(
    folder: Path,
    options: ServiceOptions,
    secret: Path,
    superlink: subprocess.Popen,
    log,
    env: dict[str, str],
    nginx: str,
) -> dict[str, subprocess.Popen]:
    """Start the SuperLink's SuperExec and the nginx proxy, in the SuperLink's process group (one
    signal stops all three, also as orphans after a crash). Returns at once, so that their pids
    are recorded before the wait for nginx to listen (`_wait_listening`)."""
    host, port = split_address(options.address)
    _internal_host, internal_port = split_address(options.internal_address)
    superexec = subprocess.Popen(
        superexec_command(options.internal_address, secret, superlink.pid, folder / "ca.pem"),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        process_group=superlink.pid,
    )
    proxy = ProxyConfig(
        host,
        port,
        internal_port,
        folder / "server.pem",
        folder / "server.key",
        folder / "ca.pem",
        folder / PROXY_DIR,
    )
    proxy_log = (folder / "proxy.log").open("ab")
    nginx_process = subprocess.Popen(
        nginx_command(nginx, write_config(proxy)),
        stdout=proxy_log,
        stderr=subprocess.STDOUT,
        env=env,
        process_group=superlink.pid,
    )
    proxy_log.close()  # the child keeps its own handle
    return {"superexec": superexec, "proxy": nginx_process}


def _wait_listening(host: str, port: int, process: subprocess.Popen, folder: Path, timeout: float) -> None:
    target = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise GenofedError(
                f"nginx exited with code {process.returncode} at start: {_last_line(folder / 'proxy.log')} "
                f"(is {host}:{port} in use?)"
            )
        try:
            with socket.create_connection((target, port), timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise GenofedError(
                    f"nginx did not listen on {host}:{port} within {timeout:.0f} s; see "
                    f"{folder / 'proxy.log'}"
                ) from None
            time.sleep(0.5)


def _check_helpers(helpers: dict[str, subprocess.Popen], folder: Path) -> None:
    """Without its SuperExec no round runs, without nginx no hospital reaches the SuperLink."""
    for name, process in helpers.items():
        if process.poll() is not None:
            where = folder / ("proxy.log" if name == "proxy" else "superlink.log")
            raise GenofedError(
                f"the coordinator's {'nginx proxy' if name == 'proxy' else 'flower-superexec'} exited with "
                f"code {process.returncode}; see {where}"
            )


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except FileNotFoundError:
        return "(no output)"
    return lines[-1] if lines else "(no output)"


def sync_nodes(folder: Path, control: FlowerControl, say: Progress) -> dict[str, dict[str, Any]]:
    """Make the SuperLink's registered nodes exactly the enrolled hospitals; return their states.

    Writes the admission map (DIR/nodes.json) after every registration, before the node can be
    asked anything: the ServerApp admits a node only once its id is in the map."""
    enrolled = {e["name"]: e for e in load_registry(folder)["hospitals"]}
    known = read_json(folder / NODES_FILE, {})  # name -> {"node_id", "fingerprint"}
    listed = {str(n["node-id"]): n for n in control("supernode", "list", CONNECTION, "-v")["nodes"]}
    live = {nid for nid, n in listed.items() if n.get("status") not in ("unregistered", "deleted")}
    ours = {str(v["node_id"]): name for name, v in known.items()}
    for node_id in sorted(live):
        name = ours.get(node_id)
        if (
            name is None
            or name not in enrolled
            or enrolled[name]["fingerprint"] != known[name]["fingerprint"]
        ):
            control("supernode", "unregister", node_id, CONNECTION)
            say(
                f"unregistered node {node_id} "
                f"({'revoked hospital ' + name if name else 'not registered by this coordinator'})"
            )
    for name, entry in enrolled.items():
        current = known.get(name)
        if current and current["fingerprint"] == entry["fingerprint"] and str(current["node_id"]) in live:
            continue
        key_file = folder / "flwr" / f"{name}.pub"
        write_text_atomic(key_file, entry["public_key"] + "\n")
        node_id = control("supernode", "register", str(key_file), CONNECTION)["node-id"]
        known[name] = {"node_id": str(node_id), "fingerprint": entry["fingerprint"]}
        write_text_atomic(folder / NODES_FILE, json.dumps(known, indent=2) + "\n")
        say(f"registered hospital {name} (key {entry['fingerprint']}) as node {node_id}")
    known = {name: v for name, v in known.items() if name in enrolled}
    write_text_atomic(folder / NODES_FILE, json.dumps(known, indent=2) + "\n")
    return {
        name: {"node_id": v["node_id"], "status": listed.get(v["node_id"], {}).get("status", "registered")}
        for name, v in known.items()
    }


def _wait_online(control: FlowerControl, superlink: subprocess.Popen, timeout: float, folder: Path) -> None:
    deadline = time.monotonic() + timeout
    while not control.online():
        if superlink.poll() is not None:
            raise GenofedError(
                f"flower-superlink exited with code {superlink.returncode} at start; see "
                f"{folder / 'superlink.log'} (is the port in use?)"
            )
        if time.monotonic() > deadline:
            raise GenofedError(
                f"flower-superlink did not answer within {timeout:.0f} s; see {folder / 'superlink.log'}"
            )
        time.sleep(1.0)


class StopRequested(Exception):
    """SIGTERM or SIGINT while the coordinator was still starting (the SuperLink coming online,
    the helpers, the run's submission): it stops at once instead of after the run is submitted."""


def _stop_on_signals() -> dict[str, Any]:
    """SIGTERM (systemd, docker stop) and SIGINT: while `starting` is true they raise StopRequested
    (the start-up waits up to `startup_timeout`, too long for a stop request); once the run is
    watched they end the wait loop. Either way every process started is then stopped."""
    flag: dict[str, Any] = {"signal": None, "starting": True}

    def handler(signum, _frame) -> None:
        flag["signal"] = signum
        if flag["starting"]:
            raise StopRequested(f"stopped by signal {signum} while starting")

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)
    return flag


def _terminate(process: subprocess.Popen, grace: float = 15.0) -> None:
    """Stop the SuperLink and everything in its process group (its SuperExec, the ServerApp,
    nginx), also when the SuperLink itself has already exited: an orphaned nginx would keep the
    hospitals' port."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:  # the whole group is gone
        return
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
