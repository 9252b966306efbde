"""RUN/results.json and RUN/model.pt: the contract that checks, docs and reports rely on
(field names in ../shared/DESIGN.md)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from genofed.common.atomic import atomic_path, write_text_atomic

from .federation import FederationResult
from .settings import RunSettings

RESULTS = "results.json"
MODEL = "model.pt"


def federation_results(fed: FederationResult, settings: RunSettings) -> dict[str, Any]:
    """The federated part of results.json; the simulation adds its reference models."""
    trained = [r for r in fed.rounds if r["round"] > 0]
    last_eval = fed.log.evaluate.get(max(fed.log.evaluate, default=0), {})
    sites = {}
    for name, sizes in fed.sites.items():
        last_train = _last_train_metrics(fed, name)
        sites[name] = {
            "samples": sizes["train"] + sizes["validation"],
            "cases": sizes["cases"],
            "train": sizes["train"],
            "validation": sizes["validation"],
            "synthetic": sizes.get("synthetic", 0),
            "federated_local_auc": _finite(last_eval.get(name, {}).get("val-auc")),
            "noise_multiplier": last_train.get("noise-multiplier") if settings.private else None,
            "epsilon": _finite(fed.epsilon.get(name)),
        }
    return {
        "test_auc": (fed.test_metrics or {}).get("auc"),
        "test_metrics": fed.test_metrics,
        "rounds": fed.rounds,
        "epsilon": {name: _finite(value) for name, value in fed.epsilon.items()},
        "delta": settings.delta if settings.private else None,
        "epsilon_budget": settings.epsilon if settings.private else None,
        "sites": sites,
        "wall_seconds": fed.wall_seconds,
        "seconds_per_round": sum(r["seconds"] for r in trained) / len(trained) if trained else None,
        "bytes_sent_per_client_per_round": fed.bytes_per_client_round,
        "model": {**fed.model_config.to_dict(), "parameters": sum(t.numel() for t in fed.state_dict.values())},
        "strategy": settings.strategy,
        "secagg": settings.secagg,
        "pretrained": fed.pretrained,
        "finetune": settings.finetune,
        "augment": settings.augment or None,
        "trainable_parameters": fed.trainable_parameters,
        "plan_id": fed.plan_id,
        "refusals": {str(r): reasons for r, reasons in sorted(fed.log.refused.items())},
        "config": settings.to_config(),
    }


def write_results(out_dir: Path, results: dict[str, Any]) -> Path:
    path = out_dir / RESULTS
    write_text_atomic(path, json.dumps(results, indent=2, default=json_default) + "\n")
    return path


def write_model(out_dir: Path, fed: FederationResult) -> Path:
    path = out_dir / MODEL
    with atomic_path(path) as tmp:
        torch.save({"state_dict": fed.state_dict, "model_config": fed.model_config.to_dict(), "plan_id": fed.plan_id}, tmp)
    return path


def _last_train_metrics(fed: FederationResult, site: str) -> dict[str, float]:
    for _round, sites in sorted(fed.log.train.items(), reverse=True):
        if site in sites:
            return sites[site]
    return {}


def _finite(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))) else value


def json_default(value: Any) -> Any:
    """`json.dumps(default=...)` for numpy scalars (they have .item())."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
