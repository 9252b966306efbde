"""The `genofed` command line: one entry point, a subcommand per job.

One module per group of commands: `data` (checks of a site's files), `simulation` (simulated
cohorts, the local simulation mode), `experiments` (the paper's experiments), `pretrain` (a
source model), `coordinator` (the deployed coordinator, model inspection), `synth` (synthetic
data), `hospital` (the hospital agent), `predict` and `adapt` (a model at a hospital). Each
exposes `register(subparsers)` and keeps heavy imports (torch, flwr, msprime) inside its handlers, so
`genofed --help` and `genofed data check` never import torch (tests/unit checks it).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from genofed.cli import adapt, coordinator, data, experiments, hospital, predict, pretrain, simulation, synth
from genofed.cli.parser import GenofedParser
from genofed.cli.stdout import closed_stdout_is_fine, silence_stdout, stdout_is_gone
from genofed.common.errors import GenofedError
from genofed.common.util.allocator import keep_freed_memory
from genofed.common.util.progress import progress_bars

#: Modules that add subcommands, in the order `genofed --help` lists them.
COMMAND_MODULES = (data, simulation, experiments, pretrain, coordinator, synth, hospital, predict, adapt)


def build_parser() -> argparse.ArgumentParser:
    """`genofed` and every subcommand, each a `GenofedParser` (defaults in --help, typo hints)."""
    parser = GenofedParser(
        prog="genofed",
        description=(
            "Federated, differentially private disease-risk models for small rare-disease "
            "genetic cohorts: raw genomes never leave a hospital."
        ),
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    keep_freed_memory()  # every command; those that train reuse their steps' memory: common/util/allocator.py
    # bars with time left on a terminal (none under --quiet; silent anyway in a log or a pipe)
    bars = None if getattr(args, "quiet", False) else sys.stderr
    try:
        with progress_bars(bars):
            status = int(handler(args) or 0)
    except GenofedError as exc:
        print(f"error: {in_option_words(str(exc), args)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # a command may say what it leaves behind (genofed simulate)
        print(f"interrupted: {exc}" if str(exc) else "interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        if not stdout_is_gone():
            raise
        silence_stdout()  # `genofed ... | head`: the reader asked for no more; no traceback
        return 1
    except OSError as exc:
        if exc.filename is None:  # not about a path the user can fix: a real fault, keep its traceback
            raise
        print(f"error: {file_error(exc)}", file=sys.stderr)
        return 2
    with closed_stdout_is_fine():  # the last lines meet a reader that has gone here, not at exit
        return status


def in_option_words(message: str, args: argparse.Namespace) -> str:
    """A refusal that opens with a setting's field name (`l2 must be >= 0`, `dp_seeds must be >= 1`,
    as a config dataclass words it) opens with the option the user typed instead (`--l2`,
    `--dp-seeds`): only a name the command has an option for (its dest), only at the start."""
    first = message.split(" ", 1)[0]
    if first in vars(args) and message.startswith(f"{first} must"):
        return f"--{first.replace('_', '-')}{message[len(first) :]}"
    return message


def file_error(exc: OSError) -> str:
    """One line for a file the system refused (read-only file system, no permission, disk full, a
    path that vanished): the commands check their outputs before the work (`require_writable_target`),
    so this is the net for what changed while they ran or what no check foresaw."""
    target = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
    return (
        f"{target}: {exc.strerror or exc}; check the path, its permissions and the free space, then run again"
    )


if __name__ == "__main__":
    sys.exit(main())
