"""The small SecAgg+ federation the secure-aggregation tests run (unit and e2e)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from genofed.server.settings import RunSettings


def small_run_settings(federation: Path, out: Path, **overrides) -> RunSettings:
    """Two rounds at epsilon 8 on `federation`, ledgers under `out`; `overrides` replace fields."""
    base = RunSettings(
        data_dir=str(federation),
        out_dir=str(out),
        rounds=2,
        local_epochs=1,
        epsilon=8.0,
        batch_size=16,
        seed=5,
        quiet=True,
        ledger_dir=str(out / "ledgers"),
        plan_id="secagg-test-plan",
    )
    return replace(base, **overrides)
