"""`genofed ... | head`: a reader of stdout that has gone ends a command quietly, on a real pipe."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

#: Runs `genofed.cli.main.main` with one subcommand-less parser whose handler is HANDLER.
SCRIPT = textwrap.dedent(
    """
    import argparse, sys
    import genofed.cli.main as cli

    def handler(args):
    {body}

    def build_parser():
        parser = argparse.ArgumentParser()
        parser.add_argument("-v", "--verbose", action="store_true")
        parser.set_defaults(handler=handler)
        return parser

    cli.build_parser = build_parser
    sys.exit(cli.main([]))
    """
)


def _run(body: str, stdout: int) -> subprocess.CompletedProcess:
    """Run SCRIPT with `body` as the handler, stdout buffered (as in a pipe without
    PYTHONUNBUFFERED), so that a short output meets the pipe only at the final flush."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    script = SCRIPT.format(body=textwrap.indent(body, "    "))
    return subprocess.run(
        [sys.executable, "-c", script], stdout=stdout, stderr=subprocess.PIPE, text=True, env=env, timeout=60
    )


def _run_into_closed_pipe(body: str) -> subprocess.CompletedProcess:
    """`_run` with stdout a pipe whose reader is already closed."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return _run(body, write_end)
    finally:
        os.close(write_end)


def test_a_long_output_into_a_closed_pipe_stops_with_status_1_and_no_traceback():
    done = _run_into_closed_pipe("for _ in range(100_000):\n    print('x' * 100)\nreturn 0")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr


def test_a_short_output_met_at_the_end_keeps_the_commands_status():
    done = _run_into_closed_pipe("print('one line')\nreturn 0")
    assert done.returncode == 0 and done.stderr == ""


def test_a_broken_pipe_that_is_not_stdout_is_not_hidden():
    done = _run("raise BrokenPipeError(32, 'a pipe to another process')", subprocess.PIPE)
    assert done.returncode != 0 and "a pipe to another process" in done.stderr
