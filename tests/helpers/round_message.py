"""A coordinator's round request to a hospital's ClientApp, as the ServerApp sends it: the global
model's arrays and the round's config (a small DP training on a logistic or network model)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Message, RecordDict

from genofed.common.model.network import ModelConfig


def round_message(
    kind: str,
    weights: Mapping[str, Any],
    config: ModelConfig,
    epsilon: float,
    overrides: Mapping[str, Any] | None = None,
) -> Message:
    """A `kind` message (train, evaluate, ...) to node 7 with a copy of `weights`; `overrides`
    replaces config entries of round 1 of 3 (an override of None drops the entry)."""
    base = {
        "server-round": 1,
        "num-rounds": 3,
        "plan-id": "p",
        "local-epochs": 1,
        "batch-size": 16,
        "lr": 0.05,
        "clip": 1.0,
        "epsilon": epsilon,
        "delta": 1e-5,
        "model": json.dumps(config.to_dict()),
        "site-evaluations": 1,
    }
    merged = {k: v for k, v in {**base, **(overrides or {})}.items() if v is not None}
    arrays = ArrayRecord({k: v.clone() for k, v in weights.items()})
    return Message(
        RecordDict({"arrays": arrays, "config": ConfigRecord(merged)}), message_type=kind, dst_node_id=7
    )


def deployed_node_config(hospital: Path, state: Path, budget: float) -> dict[str, str]:
    """The node config of a deployed hospital serving simulated `hospital`'s files (its federation
    folder's panel), with its state folder and its own epsilon `budget` at delta 1e-5."""
    genotypes = next(p for p in hospital.iterdir() if p.name.startswith("genotypes"))
    return {
        "genotypes": str(genotypes),
        "phenotypes": str(hospital / "phenotypes.csv"),
        "panel": str(hospital.parent / "panel.tsv"),
        "state-dir": str(state),
        "site-name": hospital.name,
        "epsilon-budget": str(budget),
        "delta": "1e-5",
    }
