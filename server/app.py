"""The coordinator's Flower ServerApp."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from .coordinator import deployed_run_config
from .federation import Progress, run_federation
from .report import write_report
from .results import federation_results, write_model, write_results
from .settings import RunSettings


def make_server_app(defaults: Mapping[str, Any] | None = None, progress: Progress | None = None) -> ServerApp:
    """A ServerApp whose settings are `defaults` overridden by the run config.

    `flwr run` fills the run config from pyproject.toml; Flower's Python simulation entry point
    leaves it empty, so `genofed simulate` passes its settings (and a progress printer) here. A
    deployed coordinator's run config names only its federation folder (`federation=DIR`): the
    settings are the ones fixed in DIR/federation.json at `genofed coordinator init`.
    """
    app = ServerApp()
    base = dict(defaults or {})

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        run_config = dict(context.run_config)
        if run_config.get("federation"):  # a deployed coordinator: the settings agreed in its folder
            run_config = deployed_run_config(str(run_config.pop("federation")))
        settings = RunSettings.from_config({**base, **run_config})
        say = progress or (None if settings.quiet else _stderr)
        fed = run_federation(grid, settings, say)
        out_dir = Path(settings.out_dir)
        write_model(out_dir, fed)
        results = federation_results(fed, settings)
        write_results(out_dir, results)
        write_report(out_dir, results)  # `genofed simulate` rewrites it with its reference models

    return app


def _stderr(message: str) -> None:
    print(f"genofed: {message}", file=sys.stderr, flush=True)


#: The ServerApp `flwr run` loads (pyproject.toml [tool.flwr.app.components]).
app = make_server_app()
