"""Flower's `flower-supernode`, as the hospital agent runs it: `python -m
genofed.client.agent.flower_supernode ARGS` runs Flower's own entry point with Flower's own
arguments, and exits with `CONNECTION_LOST_EXIT` when that entry point returns.

Why: Flower's SuperNode (flwr 1.42) returns from its entry point only when its connection to the
SuperLink ended for good after it was activated: its connection context logs the error and
swallows it, e.g. after "SSL/TLS handshake error detected" / "Giving up reconnection after ...
tries" when the coordinator's address now serves another federation's certificate (a new CA), or
after `--max-retries` failed tries. The process then did not exit: its Runtime API thread (uvicorn,
not a daemon) kept it alive with nothing connected, so the agent, its SuperNode and its worker ran
on for good, saying nothing, and a service manager never restarted them (walkthrough h12, finding
1). A stop signal or any Flower error exit (`flwr_exit`) raises SystemExit: only a return is a lost
connection. The agent's side: genofed.client.agent.supernode (`serve`).

A SystemExit ends the process at once too, with Flower's code (`os._exit`), not through the
interpreter's shutdown: `flwr_exit` has run Flower's exit handlers by then (the Runtime API server
stopped, for at most 3 s), and the shutdown would wait for every thread still running, with the
signal handlers Flower put back, so a second signal meanwhile (a second Ctrl-C, systemd's and the
agent's SIGTERM, a heartbeat's SIGINT) printed `Exception ignored in: <module 'threading'> ...
SystemExit: 0` (or `KeyboardInterrupt`) into the agent's journal (walkthrough h12, section 9).

Kept free of genofed's own imports: it starts once per SuperNode, as quick as flower-supernode.
"""

from __future__ import annotations

import os
import sys

#: The SuperNode's exit status once its connection to the coordinator ended for good (EX_PROTOCOL
#: is 76; 79 is free among genofed's worker codes 77-78 and Flower's exit codes modulo 256).
CONNECTION_LOST_EXIT = 79


def main() -> None:
    from flwr.supernode.cli import flower_supernode

    try:
        flower_supernode()  # returns only once the connection to the SuperLink is lost for good
    except SystemExit as stop:  # a stop signal or a Flower error exit, its exit handlers run
        _exit_now(_status(stop.code))
    # not sys.exit: interpreter shutdown waits for the Runtime API's non-daemon thread, for ever
    _exit_now(CONNECTION_LOST_EXIT)


def _status(code: object) -> int:
    """The exit status of `SystemExit(code)`, as the interpreter would give it (a text is printed)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _exit_now(status: int) -> None:
    """End the process with `status` once its output is out, without the interpreter's shutdown."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
