"""The piece cache: a finished piece of an experiment is kept in OUT and read back on a rerun.

An interrupted experiment picks up where it stopped; a piece's file name says what it depends
on, so a piece of another configuration is another file.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genofed.common.util.atomic import write_text_atomic

Rows = list[dict[str, Any]]


def cached(path: Path, compute: Callable[[], Rows]) -> Rows:
    """The rows stored at `path`, or `compute()`'s, written there atomically first.

    Args:
        path: the piece's JSON file.
        compute: what makes the rows when the piece is not there yet (called at most once).
    """
    from genofed.server.results import json_default  # torch comes with it: only when writing

    if path.exists():
        return json.loads(path.read_text())
    rows = compute()
    write_text_atomic(path, json.dumps(rows, indent=1, default=json_default) + "\n")
    return rows


def federation_results(settings: Any, say: Callable[[str], None], label: str) -> dict[str, Any]:
    """The results of one of an experiment's federations: read back when it finished, else run
    with `simulate` (settings: its `RunSettings`; `label` names it in the progress line).

    An interrupted federation (its out-dir without results.json) is removed first and run afresh:
    its simulated hospitals' ledgers (in the out-dir) hold the rounds it trained and would rightly
    refuse to train them again, and the ServerApp refuses to overwrite its checkpoints."""
    from genofed.simulations.local.simulate import simulate  # Flower, torch: only when running

    out = Path(settings.out_dir)
    if (out / "results.json").exists():
        return json.loads((out / "results.json").read_text())
    if out.exists():
        say(f"{label}: removing the unfinished run {out}")
        shutil.rmtree(out)
    say(label)
    # a run no hospital trained in is recorded (its refusals, the untrained model): an outcome
    # the experiment judges (privacy_frontier's NothingTrained)
    return simulate(settings, references=False, require_training=False)
