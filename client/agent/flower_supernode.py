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
1). A stop signal or any Flower error exit (`flwr_exit`) raises SystemExit, which passes through
here untouched: only a return is a lost connection. The agent's side:
genofed.client.agent.supernode (`serve`).

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

    flower_supernode()  # returns only once the connection to the SuperLink is lost for good
    sys.stdout.flush()
    sys.stderr.flush()
    # not sys.exit: interpreter shutdown waits for the Runtime API's non-daemon thread, for ever
    os._exit(CONNECTION_LOST_EXIT)


if __name__ == "__main__":
    main()
