"""The `genofed` command line: one entry point, `genofed.cli.main:main`.

Modules:

- `main`: the entry point: the parser with every group's subcommands, and error handling.
- `parser`: `GenofedParser`, the class of every (sub)command's parser: defaults in every --help,
  a typo answered with the subcommand's usage and "did you mean ...?".
- `run_folder`: `genofed simulate --out` on a folder that holds a run: refused, resumed or
  replaced (`--force`).
- `data`: `genofed data check`: a hospital's data checked before anything connects or trains.
- `simulation`: `genofed simulate-cohorts` and `genofed simulate`.
- `experiments`: `genofed experiment ...`: the paper's experiments, each written to a report.
- `coordinator`: `genofed coordinator ...` (the deployed coordinator), `pretrain` and
  `inspect-model` (its handler in `inspect_model`: what a model file says, by the kind of model).
- `hospital`: `genofed hospital ...` (the hospital agent) and `synth`.

Each group module exposes `register(subparsers)` and imports nothing heavy at module level
(torch, Opacus, Flower only inside the handlers), so `genofed --help` and `genofed data check`
stay fast. `build_parser` loads on first use, so that `python -m genofed.cli.main` does not find
its own module already imported by this package.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """`build_parser`, imported on first use."""
    if name == "build_parser":
        import genofed.cli.main as main_module

        return main_module.build_parser
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["build_parser"]
