"""The coordinator side: the Flower ServerApp and everything one federated run does on it.
Never imports `genofed.client`.

Modules, one job each:

- `app`: the Flower ServerApp (settings from the run config, outputs written) and the grid a
  deployed coordinator restricts to its admitted hospitals.
- `settings`: `RunSettings`, every setting of a run and its checks (light to import: the CLI
  reads it).
- `federation`: `run_federation`, one run as a sequence of steps, and its `FederationResult`.
- `sites`: waits for the hospitals and asks each its name and cohort sizes.
- `resume`: where a run starts (round 0, or the checkpoint of an interrupted run).
- `strategies`: the Flower strategy the settings ask for (`make_strategy`).
- `tracking`: `Tracked`, the wrapper around a Flower strategy that screens, logs and orders
  each round's replies; the strategy's state (every attribute it changed) through `state()` /
  `load_state()`.
- `round_log`: `RoundLog`, the per-site record of every round.
- `integrity`: the coordinator's checks of every update (finite, example count, DP norm bound).
- `round_end`: after each round: central evaluation, history, checkpoint, progress line.
- `checkpoint`: the checkpoint files.
- `evaluation`: the held-out test cohort and its metrics.
- `secagg`: the same rounds on Flower's SecAgg+ (the coordinator sees sums only).
- `results`: RUN/results.json and RUN/model.pt.

Packages: `report` (RUN/report.md), `service` (the deployed coordinator: service, PKI,
enrollment), `pretraining` (the shared model's pretraining and its model file).

The names below are exported lazily: importing `genofed.server` (as `genofed.server.settings`
does) loads neither Flower nor torch.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AdmittedGrid",
    "Checkpoint",
    "FederationResult",
    "RoundLog",
    "RunSettings",
    "SettingsError",
    "TestCohort",
    "Tracked",
    "UpdateScreen",
    "federation_results",
    "latest_checkpoint",
    "make_server_app",
    "make_strategy",
    "run_federation",
    "write_model",
    "write_results",
]


def __getattr__(name: str) -> Any:
    if name in {"AdmittedGrid", "make_server_app"}:
        import genofed.server.app as app

        return getattr(app, name)
    if name in {"RunSettings", "SettingsError"}:
        import genofed.server.settings as settings

        return getattr(settings, name)
    if name in {"FederationResult", "run_federation"}:
        import genofed.server.federation as federation

        return getattr(federation, name)
    if name in {"Checkpoint", "latest_checkpoint"}:
        import genofed.server.checkpoint as checkpoint

        return getattr(checkpoint, name)
    if name in {"federation_results", "write_model", "write_results"}:
        import genofed.server.results as results

        return getattr(results, name)
    return _round_name(name)


def _round_name(name: str) -> Any:
    """The names of a round's machinery: strategy, tracking, round log, screen, test cohort."""
    if name == "make_strategy":
        from genofed.server.strategies import make_strategy

        return make_strategy
    if name == "Tracked":
        from genofed.server.tracking import Tracked

        return Tracked
    if name == "RoundLog":
        from genofed.server.round_log import RoundLog

        return RoundLog
    if name == "UpdateScreen":
        from genofed.server.integrity import UpdateScreen

        return UpdateScreen
    if name == "TestCohort":
        from genofed.server.evaluation import TestCohort

        return TestCohort
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
