"""The `genofed` command line: one entry point, a subcommand per job.

Each subcommand lives with the code it drives (`genofed.simulations.cli` for simulation,
`genofed.server.cli` for the coordinator, `genofed.client.cli` for the hospital agent). This
module only knows their module names, so `genofed.common` keeps no import-time dependency on
the client or server side; each module exposes `register(subparsers)`, and keeps heavy imports
(torch, flwr, msprime) inside its handlers so that `genofed --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from .errors import GenofedError

#: Modules that add subcommands, in the order `genofed --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "genofed.common.data_cli",
    "genofed.simulations.cli",
    "genofed.server.cli",
    "genofed.client.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genofed",
        description=(
            "Federated, differentially private disease-risk models for small rare-disease "
            "genetic cohorts: raw genomes never leave a hospital."
        ),
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
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
    try:
        return int(handler(args) or 0)
    except GenofedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
