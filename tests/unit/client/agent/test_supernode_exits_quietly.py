"""A SuperNode stopped by a signal ends with Flower's exit code and no traceback-like lines, also
when a second signal comes while it ends.

Why: a stopped agent's output (journald) ended with `Exception ignored in: <module 'threading'> ...
SystemExit: 0` (walkthrough h12, section 9): Flower's signal handler (`flwr_exit`) raised
SystemExit, the interpreter's shutdown then waited for a thread still running, and a signal during
that wait ran a handler inside `threading._shutdown`. genofed.client.agent.flower_supernode now
ends the process as soon as Flower's SystemExit reaches it.

Flower's entry point is stood in for (a SuperNode needs a SuperLink to reach this state), with
Flower's own signal handling (`register_signal_handlers`, `flwr_exit`) and a non-daemon thread that
outlives the stop, as the SuperNode's Runtime API thread did.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

ENTRY_POINT = textwrap.dedent(
    """
    import runpy, threading, time
    import flwr.supernode.cli as cli
    from flwr.supercore.exit import register_signal_handlers
    from flwr.supercore.telemetry import EventType

    def flower_supernode():
        threading.Thread(target=time.sleep, args=(30,), name="runtime-api").start()
        register_signal_handlers(EventType.RUN_SUPERNODE_LEAVE, "SuperNode terminated gracefully.")
        print("ready", flush=True)
        while True:
            time.sleep(0.05)

    cli.flower_supernode = flower_supernode
    runpy.run_module("genofed.client.agent.flower_supernode", run_name="__main__")
    """
)


def test_a_supernode_stopped_twice_exits_with_flowers_code_and_prints_no_traceback():
    env = dict(os.environ, FLWR_TELEMETRY_ENABLED="0", FLWR_DISABLE_UPDATE_CHECK="1")
    process = subprocess.Popen(
        [sys.executable, "-c", ENTRY_POINT],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert process.stdout.readline().strip() == "ready"
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)  # the agent passes its stop on
    time.sleep(1.0)
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # a second Ctrl-C, as an impatient operator presses it
    try:
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert "Traceback" not in output and "Exception ignored" not in output, output
    assert "SuperNode terminated gracefully." in output
    assert process.returncode == 0, output  # Flower's graceful exit: 0
    assert time.monotonic() - started < 10  # not held by the thread still running (30 s)
