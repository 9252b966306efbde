"""`genofed coordinator start` stops at once on SIGTERM while it is still starting (waiting for
its SuperLink, up to `startup_timeout`), stopping the process it started, and records "stopped";
once the run is watched, a signal only ends the watch loop."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

from genofed.common.deployment.processes import pid_alive
from genofed.server.service import launch


class _NeverOnline:
    env = dict(os.environ)

    def __init__(self, *_args) -> None:
        pass

    def online(self) -> bool:
        return False


def test_sigterm_while_starting_stops_at_once(tmp_path, monkeypatch, restored_signals):
    monkeypatch.setattr(launch, "_require_enough_hospitals", lambda folder: None)
    monkeypatch.setattr(launch, "check_prior_files", lambda folder, federation: {})
    monkeypatch.setattr(launch, "read_federation_file", lambda folder: {})
    monkeypatch.setattr(launch, "find_nginx", lambda name: "nginx")
    monkeypatch.setattr(launch, "refuse_second_instance", lambda folder: None)
    monkeypatch.setattr(launch, "check_folder_pki", lambda folder: None)
    monkeypatch.setattr(launch, "require_free_addresses", lambda options, grace: None)
    monkeypatch.setattr(launch, "FlowerControl", _NeverOnline)
    monkeypatch.setattr(launch, "write_app_dir", lambda path: path)
    monkeypatch.setattr(launch, "write_superexec_secret", lambda folder: folder / "secret")
    monkeypatch.setattr(launch, "approved_app_hash", lambda: "0" * 64)
    monkeypatch.setattr(launch, "superlink_command", lambda *args: ["sleep", "120"])  # never comes online
    options = launch.ServiceOptions(
        startup_timeout=60.0, address="127.0.0.1:29092", internal_address="127.0.0.1:29091"
    )
    threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
    said: list[str] = []
    started = time.monotonic()
    code = launch.start_coordinator(tmp_path, options, said.append)
    assert code == 1 and time.monotonic() - started < 10  # not the 60 s start-up timeout
    status = json.loads((tmp_path / "coordinator.json").read_text())
    assert status["state"] == "stopped" and "stopped by signal" in said[-1]
    assert not pid_alive(status["superlink_pid"])  # the SuperLink it started is stopped


def test_once_watching_a_signal_only_ends_the_wait(restored_signals):
    flag = launch._stop_on_signals()
    flag["starting"] = False
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.2)
    assert flag["signal"] == signal.SIGTERM
