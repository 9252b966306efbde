"""One generator run (dataset, generator, epsilon, seed) as a cached piece under OUT/pieces:
reused when its key matches, trained otherwise, reported as an error row when it fails."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from genofed.common.util.atomic import write_text_atomic
from genofed.common.util.progress import Progress
from genofed.server.results import json_default
from genofed.simulations.experiments.synthetic_fidelity.config import PIECE_VERSION, FidelityConfig
from genofed.simulations.experiments.synthetic_fidelity.datasets import Dataset, eval_sets
from genofed.simulations.experiments.synthetic_fidelity.generators import (
    generator_rows,
    generator_temperatures,
    row_name,
    settings_of,
)
from genofed.simulations.experiments.synthetic_fidelity.metrics import Reference
from genofed.simulations.experiments.synthetic_fidelity.summary import table_row


def piece_key(ds: Dataset, config: FidelityConfig, kind: str, seed: int) -> dict[str, Any]:
    """What a cached generator row depends on; a piece with another key is recomputed. The
    generator's full settings are part of it: a generator whose defaults change (the GAN's did
    while this experiment was first run) must not be reported with rows of its old version."""
    settings = asdict(settings_of(kind, seed, config))
    # how the public panel was cut ("805site" only: the other datasets' keys, and caches, stay as they were)
    panel = {"panel": ds.panel_facts} if ds.panel_facts else {}
    return {
        "version": PIECE_VERSION,
        "dataset": ds.name,
        "n_variants": ds.n_variants,
        "phased": ds.phased,
        "split_seed": config.split_seed,
        "n_haplotypes": config.n_haplotypes,
        "n_people": config.n_people,
        "epochs": config.epochs,
        "delta": config.delta,
        "settings": settings,
        "temperatures": list(generator_temperatures(kind, config)),
        **panel,
    }


def generator_piece(
    out: Path,
    kind: str,
    epsilon: float,
    seed: int,
    ds: Dataset,
    ref: Reference,
    config: FidelityConfig,
    say: Progress,
) -> list[dict[str, Any]]:
    label = "inf" if math.isinf(epsilon) else f"{epsilon:g}"
    path = out / "pieces" / f"{ds.name}-{kind}-eps{label}-s{seed}.json"
    key = piece_key(ds, config, kind, seed)
    if path.is_file():
        cached = json.loads(path.read_text())
        if cached.get("key") == key:
            say(f"{ds.name}: {kind} epsilon {label} seed {seed}: reused {path.name}")
            return cached["rows"]
    if not config.train:
        say(f"{ds.name}: {kind} epsilon {label} seed {seed}: not run (no finished piece)")
        return [
            table_row(
                ds,
                row_name(kind, t),
                "generator",
                epsilon,
                seed,
                {},
                error=f"not run (no {path.name} in OUT/pieces)",
            )
            for t in generator_temperatures(kind, config)
        ]
    say(f"{ds.name}: training {kind}, epsilon {label}, seed {seed}")
    try:
        by_temperature = generator_rows(kind, epsilon, seed, ds, ref, eval_sets(ds, config, seed), config)
    except Exception as exc:  # one failing generator run is reported, not allowed to lose the table
        say(f"{ds.name}: {kind} epsilon {label} seed {seed} FAILED: {type(exc).__name__}: {exc}")
        return [
            table_row(
                ds, row_name(kind, t), "generator", epsilon, seed, {}, error=f"{type(exc).__name__}: {exc}"
            )
            for t in generator_temperatures(kind, config)
        ]
    rows = [
        table_row(ds, row_name(kind, t), "generator", epsilon, seed, m) for t, m in by_temperature.items()
    ]
    write_text_atomic(path, json.dumps({"key": key, "rows": rows}, indent=1, default=json_default) + "\n")
    for t, m in by_temperature.items():
        say(
            f"{ds.name}: {kind} epsilon {label} seed {seed} T {t:g}: AF {m['af_correlation']:.3f}, LD "
            f"{m['ld_correlation']:.3f}, AATS {m['aats_train']:.3f}/{m['aats_test']:.3f} "
            f"({m['train_seconds']:.0f} s)"
        )
    return rows
