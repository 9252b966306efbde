"""One `genofed coordinator start` per federation folder (an operator audit: a second start on the
same folder ran, rewrote the folder's `flwr` connection file, so the first died with "Connection
to the SuperLink is unavailable", and the second registered the hospitals and submitted a run).

`start` holds DIR/coordinator.lock (a flock) for as long as it runs: a second start is refused at
once, naming the first one's pid, before it writes anything. And DIR/coordinator.json says
"starting", with the pids of the processes started, as soon as they are started (it used to be
written only once the run was submitted, 15-60 s later): `status` says "starting" meanwhile, and
a start after a coordinator killed in that window names and stops what it left running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.coordinator_service import dead_pid, loopback_service_options, sleeper

from genofed.common.deployment.processes import pid_alive, process_identity
from genofed.common.errors import GenofedError
from genofed.server.service import launch
from genofed.server.service.folder_files import LOCK_FILE, CoordinatorRunning, hold_federation
from genofed.server.service.orphans import refuse_second_instance
from genofed.server.service.status import STATUS_FILE, coordinator_status


def _hold_in_another_process(folder: Path) -> subprocess.Popen:
    """A process holding `folder`'s coordinator lock, as a running `coordinator start` does."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from genofed.server.service.folder_files import hold_federation\n"
            "with hold_federation(sys.argv[1]):\n    print('held', flush=True); time.sleep(120)",
            str(folder),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_start_is_refused_at_once_naming_the_first(fed):
    holder = _hold_in_another_process(fed)
    try:
        started = time.monotonic()
        named = rf"already running \(pid {holder.pid}\).*kill {holder.pid}"
        with pytest.raises(CoordinatorRunning, match=named):
            launch.start_coordinator(fed, loopback_service_options())
        assert time.monotonic() - started < 10
        # nothing of the first one's touched: its flwr connection file, its state
        assert not (fed / "flwr").exists() and not (fed / STATUS_FILE).exists()
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_is_free_once_its_holder_is_gone_even_killed(fed):
    holder = _hold_in_another_process(fed)
    holder.kill()  # SIGKILL: no clean-up of its own
    holder.wait()
    with hold_federation(fed):
        assert (fed / LOCK_FILE).read_text().strip() == str(os.getpid())
        with pytest.raises(CoordinatorRunning, match=rf"pid {os.getpid()}"):
            with hold_federation(fed):
                pass
    assert (fed / LOCK_FILE).read_text() == ""  # released: no stale pid left for a reader
    with hold_federation(fed):
        pass


class _Control:
    """`FlowerControl` without `flwr`: online at once; the test's `when_online` runs at that point."""

    env = dict(os.environ)
    when_online = staticmethod(lambda: None)

    def __init__(self, *_args) -> None:
        pass

    def online(self) -> bool:
        type(self).when_online()
        return True


def _fake_processes(monkeypatch, fed: Path) -> None:
    """The SuperLink and its helpers as `sleep`s in one process group; no app bundle."""
    monkeypatch.setattr(launch, "write_app_dir", lambda path: path)
    monkeypatch.setattr(launch, "approved_app_hash", lambda: "0" * 64)
    monkeypatch.setattr(launch, "superlink_command", lambda *args: ["sleep", "120"])

    def helpers(folder, options, secret, superlink, *_rest):
        return {"superexec": sleeper(superlink.pid), "proxy": sleeper(superlink.pid)}

    monkeypatch.setattr(launch, "_start_helpers", helpers)


def test_status_says_starting_with_the_pids_as_soon_as_they_are_started(fed, monkeypatch, restored_signals):
    _fake_processes(monkeypatch, fed)
    seen: dict[str, dict] = {}

    def while_coming_online() -> None:
        seen["online"] = coordinator_status(fed)

    def while_nginx_starts(*_args) -> None:
        seen["nginx"] = json.loads((fed / STATUS_FILE).read_text())
        raise GenofedError("stopped by the test before the hospitals are registered")

    monkeypatch.setattr(_Control, "when_online", staticmethod(while_coming_online))
    monkeypatch.setattr(launch, "FlowerControl", _Control)
    monkeypatch.setattr(launch, "_wait_listening", while_nginx_starts)
    with pytest.raises(GenofedError, match="stopped by the test"):
        launch.start_coordinator(fed, loopback_service_options())
    assert seen["online"]["state"] == "starting" and seen["online"]["coordinator_running"]
    assert seen["online"]["pid"] == os.getpid() and seen["online"]["superlink_pid"]
    recorded = seen["nginx"]
    assert recorded["state"] == "starting" and recorded["superexec_pid"] and recorded["proxy_pid"]
    assert recorded["identities"]["pid"] == process_identity(os.getpid())
    assert set(recorded["identities"]) == {"pid", "superlink_pid", "superexec_pid", "proxy_pid"}
    assert all(recorded["identities"].values())
    for name in ("superlink", "superexec", "proxy"):  # all stopped when the start failed
        assert not pid_alive(recorded[f"{name}_pid"])


def _orphans(fed: Path) -> tuple[list[subprocess.Popen], int]:
    """What a coordinator killed while starting leaves: its SuperLink group, and its record."""
    superlink = sleeper(0)
    proxy = sleeper(superlink.pid)
    status = {
        "state": "starting",
        "pid": dead_pid(),
        "superlink_pid": superlink.pid,
        "proxy_pid": proxy.pid,
        "hospitals": {},
    }
    (fed / STATUS_FILE).write_text(json.dumps(status))
    return [superlink, proxy], status["pid"]


def test_a_start_after_a_killed_one_names_and_stops_what_it_left(fed, monkeypatch):
    orphans, killed = _orphans(fed)

    def stop_here(*_args):
        raise GenofedError("stopped by the test where the SuperLink would start")

    monkeypatch.setattr(launch, "FlowerControl", stop_here)
    monkeypatch.setattr(launch, "visible_arguments_warning", lambda: None)  # this machine's /proc's
    said: list[str] = []
    with pytest.raises(GenofedError, match="stopped by the test"):
        launch.start_coordinator(fed, loopback_service_options(), said.append)
    pids = ", ".join(str(p.pid) for p in orphans)
    assert said == [
        f"stopped the processes a killed coordinator (pid {killed}, starting) left running: pids {pids} "
        "(its SuperLink group)"
    ]
    for orphan in orphans:
        assert orphan.wait(timeout=5) is not None


def test_a_live_pid_in_the_record_is_no_running_coordinator_without_the_lock(fed):
    """The lock, not the recorded pid, says whether a coordinator runs: a pid reused by another
    process after a crash used to refuse every start ("already running")."""
    orphans, _killed = _orphans(fed)
    status = json.loads((fed / STATUS_FILE).read_text())
    (fed / STATUS_FILE).write_text(json.dumps(dict(status, pid=os.getpid())))
    assert "left running" in refuse_second_instance(fed)
    for orphan in orphans:
        assert orphan.wait(timeout=5) is not None


def _orphans_with(fed: Path, identities) -> list[subprocess.Popen]:
    """`_orphans`, their record holding `identities` (a function of the orphans)."""
    orphans, _killed = _orphans(fed)
    status = json.loads((fed / STATUS_FILE).read_text())
    (fed / STATUS_FILE).write_text(json.dumps(dict(status, identities=identities(orphans))))
    return orphans


def _assert_none_stopped(fed: Path, identities) -> None:
    """A start stops none of the orphans whose record holds `identities`."""
    orphans = _orphans_with(fed, identities)
    try:
        assert refuse_second_instance(fed) is None
        time.sleep(0.2)
        assert all(orphan.returncode is None and pid_alive(orphan.pid) for orphan in orphans)
    finally:
        for orphan in orphans:
            orphan.kill()


def test_a_start_after_a_power_loss_stops_no_process_that_took_a_recorded_pid(fed):
    """After a reboot the pids coordinator.json recorded may belong to new, unrelated processes
    (here `sleep`s leading their own groups): a start must not SIGTERM/SIGKILL their groups, as it
    did when a live pid was enough. The identities recorded beside the pids (boot id and start
    time) tell them apart."""
    _assert_none_stopped(
        fed, lambda _: {"superlink_pid": "another-boot:1234", "proxy_pid": "another-boot:1240"}
    )
    orphans = _orphans_with(  # the same processes as recorded: stopped
        fed,
        lambda found: {
            "superlink_pid": process_identity(found[0].pid),
            "proxy_pid": process_identity(found[1].pid),
        },
    )
    assert "left running" in refuse_second_instance(fed)
    for orphan in orphans:
        assert orphan.wait(timeout=5) is not None


def test_a_superlink_pid_taken_by_another_process_stops_none_of_the_group(fed):
    """The group is stopped through the SuperLink's pid (killpg): when that pid now names another
    process, no member is stopped, even one whose own identity was not recorded (a review)."""
    _assert_none_stopped(fed, lambda _: {"superlink_pid": "another-boot:1234"})  # the proxy's unrecorded
