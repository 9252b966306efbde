"""The transfer-learning experiment: does a pretrained model help small sites, with and without DP?

The paper (BRIEF.md) reports +13.2 points of accuracy at 200 patients from a model pretrained on
a related task, and less from a distant one. Here, on the simulated rare disease, for sites of
50-400 patients, several seeds, and each privacy level (no DP, epsilon 8, epsilon 3 per site):

  (a) scratch, site alone       (b) near-source model fine-tuned, site alone
  (c) far-source model, alone   (d) federated from scratch   (e) federated from the near model

plus the pooled non-private reference on the same sites, and, at one site size, every
fine-tuning mode (how many parameters are trained privately) for the near source.

Everything goes through the product's own paths: cohorts from `simulate_cohorts`, source models
from `pretrain`, site files read back by the hospitals' loader, local models trained by the
reference trainer of `genofed simulate`, and federations run by `simulate` on Flower's
simulation engine. Finished pieces are kept in OUT, so an interrupted experiment picks up where
it stopped.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genofed.common.data.layout import PANEL, TEST
from genofed.common.data.panel import VariantPanel
from genofed.common.model.network import FINETUNE_MODES, ModelConfig, build_model, set_trainable
from genofed.common.scoring.model_file import PretrainedModel, check_compatible, load_pretrained
from genofed.common.util.atomic import write_text_atomic
from genofed.common.util.progress import Progress, silent
from genofed.server.evaluation import TestCohort
from genofed.server.pretraining.train import pretrain
from genofed.server.results import json_default
from genofed.server.settings import RunSettings
from genofed.simulations.cohorts.build import ensure_cohorts
from genofed.simulations.experiments.base import (
    cached,
    check_sites_fit,
    config_dict,
    epsilon_key,
    federation_results,
    load_hospitals,
    mean,
    sd,
    site_folders,
    site_settings,
)
from genofed.simulations.experiments.transfer.config import (
    EQUIVALENT_AUC_GAIN,
    PAPER,
    SOURCES,
    TransferConfig,
    finetune_mode,
)
from genofed.simulations.experiments.transfer.report import write_transfer_report
from genofed.simulations.local.baselines import fit_alone
from genofed.simulations.local.simulate import simulated_sites


def run_transfer_experiment(config: TransferConfig, progress: Progress | None = None) -> dict[str, Any]:
    """Run (or finish) the experiment in `config.out_dir`; write transfer.json and report.md there."""
    say = progress or silent
    started = time.perf_counter()
    out = Path(config.out_dir)
    check_sites_fit(config.sizes, config.preset)
    out.mkdir(parents=True, exist_ok=True)
    cohorts = ensure_cohorts(
        out / "cohorts", preset=config.preset, seed=config.cohort_seed, with_sources=True, progress=say
    )
    panel = VariantPanel.load(cohorts / PANEL)
    test = TestCohort.load(cohorts / TEST, panel)
    models = {
        name: _ensure_source_model(out / "models" / f"{name}.pt", cohorts, name, config, say)
        for name in SOURCES
    }
    hospitals = load_hospitals(cohorts)

    rows: list[dict[str, Any]] = []
    for size, seed, folder in site_folders(out, hospitals, cohorts, config.sizes, config.seeds):
        rows += cached(
            folder / "local.json",
            partial(_local_arms, folder, cohorts, test, models, size, seed, config, say),
        )
        if config.federated:
            rows += _federated_arms(out, folder, cohorts, models, size, seed, config, say)
    results = summarise(rows, config)
    results["wall_seconds"] = time.perf_counter() - started
    results["sources"] = {name: _source_info(model) for name, model in models.items()}
    share = float(np.mean(test.labels))
    results["test"] = {
        "people": int(len(test.labels)),
        "cases": int(test.labels.sum()),
        "majority_accuracy": max(share, 1 - share),
    }
    write_text_atomic(out / "transfer.json", json.dumps(results, indent=2, default=json_default) + "\n")
    results["report"] = str(write_transfer_report(out, results))
    return results


def _ensure_source_model(
    path: Path, cohorts: Path, source: str, config: TransferConfig, say: Progress
) -> PretrainedModel:
    if path.exists():
        model = load_pretrained(path)
        check_compatible(model, VariantPanel.load(cohorts / PANEL), source=str(path))
        return model
    say(f"pretraining on the {source} source")
    model, _ = pretrain(cohorts / "sources" / source, cohorts / PANEL, path, config.pretrain, progress=say)
    return model


def _site_settings(
    folder: Path, cohorts: Path, seed: int, epsilon: float, config: TransferConfig
) -> RunSettings:
    return replace(site_settings(config.run, folder, cohorts, seed), epsilon=epsilon)


def _local_arms(
    folder: Path,
    cohorts: Path,
    test: TestCohort,
    models: dict[str, PretrainedModel],
    size: int,
    seed: int,
    config: TransferConfig,
    say: Progress,
) -> list[dict[str, Any]]:
    """Arms (a)-(c) at every clinic, the pooled reference, and the mode comparison."""
    say(f"sites of {size}, seed {seed}: local arms")
    models_dir = folder.parent.parent / "models"
    base = _site_settings(folder, cohorts, seed, math.inf, config)
    sites = simulated_sites(base)
    scratch_config = ModelConfig(n_variants=next(iter(sites.values())).n_variants)
    rows = []
    for epsilon in config.epsilons:
        settings = replace(base, epsilon=epsilon)
        for source, model, mode in _local_arm_list(epsilon, models, size, config):
            model_config = scratch_config if model is None else model.model_config
            arm_settings = replace(
                settings, finetune=mode, pretrained="" if model is None else str(models_dir / f"{source}.pt")
            )
            arm = _LocalArm(source, model, mode, model_config, arm_settings)
            rows += _clinic_rows(arm, sites, test, size, seed, epsilon)
    rows.append(_pooled_row(sites, base, scratch_config, test, size, seed))
    return rows


@dataclass
class _LocalArm:
    """One site-alone arm: its source model (None: from scratch), fine-tuning mode and settings."""

    source: str
    model: PretrainedModel | None
    mode: str
    model_config: ModelConfig
    settings: RunSettings


def _local_arm_list(
    epsilon: float, models: dict[str, PretrainedModel], size: int, config: TransferConfig
) -> list[tuple[str, PretrainedModel | None, str]]:
    """(source, model, mode) of every site-alone arm at one privacy level: scratch, every source
    in its level's mode, and at `config.modes_at` the near source in the other modes."""
    arms = [("scratch", None, "full")] + [(s, models[s], finetune_mode(epsilon)) for s in SOURCES]
    if size == config.modes_at:
        arms += [("near", models["near"], m) for m in FINETUNE_MODES if m != finetune_mode(epsilon)]
    return arms


def _clinic_rows(
    arm: _LocalArm, sites: dict[str, Any], test: TestCohort, size: int, seed: int, epsilon: float
) -> list[dict[str, Any]]:
    """One site-alone arm trained at every clinic alone and scored on the test cohort."""
    start = None if arm.model is None else arm.model.state_dict
    rows = []
    for name, data in sites.items():
        weights = fit_alone(data.train_x, data.train_y, arm.settings, arm.model_config, name, start)
        rows.append(
            _row(
                f"{arm.source}-local",
                arm.source,
                arm.mode,
                size,
                seed,
                epsilon,
                name,
                test.evaluate(arm.model_config, weights),
                _trainable(arm.model_config, arm.mode),
            )
        )
    return rows


def _pooled_row(
    sites: dict[str, Any],
    base: RunSettings,
    scratch_config: ModelConfig,
    test: TestCohort,
    size: int,
    seed: int,
) -> dict[str, Any]:
    """The pooled reference: every clinic's training patients in one place, from scratch, no DP."""
    pooled_x = np.concatenate([d.train_x for d in sites.values()])
    pooled_y = np.concatenate([d.train_y for d in sites.values()])
    weights = fit_alone(pooled_x, pooled_y, base, scratch_config, "pooled", private=False)
    return _row(
        "pooled",
        "scratch",
        "full",
        size,
        seed,
        math.inf,
        "pooled",
        test.evaluate(scratch_config, weights),
        _trainable(scratch_config, "full"),
    )


def _federated_arms(
    out: Path,
    folder: Path,
    cohorts: Path,
    models: dict[str, PretrainedModel],
    size: int,
    seed: int,
    config: TransferConfig,
    say: Progress,
) -> list[dict[str, Any]]:
    """Arms (d) and (e): real federations of the `size`-patient sites on Flower's simulation engine."""
    rows = []
    for epsilon in config.epsilons:
        near_modes = ("full",) if math.isinf(epsilon) else config.federated_dp_modes
        for source, mode in [("scratch", "full"), *(("near", m) for m in near_modes)]:
            tag = f"n{size}-seed{seed}-{source}-{mode}-eps{epsilon:g}"
            run_dir = out / "federations" / tag
            settings = replace(
                _site_settings(folder, cohorts, seed, epsilon, config),
                out_dir=str(run_dir),
                pretrained=str(out / "models" / "near.pt") if source == "near" else "",
                finetune=mode,
            )
            label = f"sites of {size}, seed {seed}: federation {source} ({mode}), epsilon {epsilon:g}"
            results = federation_results(settings, say, label)
            metrics = results["test_metrics"] or {}
            rows.append(
                _row(
                    f"{source}-federated",
                    source,
                    mode,
                    size,
                    seed,
                    epsilon,
                    "federation",
                    metrics,
                    int(results.get("trainable_parameters") or 0),
                    seconds=results.get("wall_seconds"),
                )
            )
    return rows


def _row(
    arm: str,
    source: str,
    mode: str,
    size: int,
    seed: int,
    epsilon: float,
    site: str,
    metrics: dict[str, Any],
    trainable: int,
    seconds: float | None = None,
) -> dict[str, Any]:
    return {
        "arm": arm,
        "source": source,
        "mode": mode,
        "size": size,
        "seed": seed,
        "epsilon": epsilon_key(epsilon),
        "site": site,
        "auc": metrics.get("auc"),
        "accuracy": metrics.get("accuracy"),
        "trainable_parameters": trainable,
        "seconds": seconds,
    }


def _trainable(config: ModelConfig, mode: str) -> int:
    return set_trainable(build_model(config, seed=0), mode)


def summarise(rows: list[dict[str, Any]], config: TransferConfig) -> dict[str, Any]:
    """Means and spreads per (arm, mode, size, epsilon), the gains of transfer, and the targets."""
    frame = pd.DataFrame(rows)
    groups = frame.groupby(["arm", "mode", "size", "epsilon"], sort=False)
    table = [
        {
            "arm": arm,
            "mode": mode,
            "size": int(size),
            "epsilon": eps,
            "n": int(len(g)),
            "auc_mean": mean(g["auc"]),
            "auc_sd": sd(g["auc"]),
            "accuracy_mean": mean(g["accuracy"]),
            "accuracy_sd": sd(g["accuracy"]),
            "trainable_parameters": int(g["trainable_parameters"].iloc[0]),
        }
        for (arm, mode, size, eps), g in groups
    ]
    return {
        "config": config_dict(config),
        "rows": rows,
        "table": table,
        "gains": _gains(frame),
        "targets": _targets(frame),
        "paper": PAPER,
    }


def _gains(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Transfer minus scratch, paired by (size, seed, epsilon, site), for the arms' own modes."""
    gains = []
    for (size, eps), group in frame.groupby(["size", "epsilon"], sort=False):
        mode = finetune_mode(math.inf if eps == "inf" else float(eps))
        scratch = group[(group.arm == "scratch-local")].set_index(["seed", "site"])
        for source in SOURCES:
            tuned = group[(group.arm == f"{source}-local") & (group["mode"] == mode)].set_index(
                ["seed", "site"]
            )
            paired = scratch.merge(tuned, left_index=True, right_index=True, suffixes=("_scratch", "_tuned"))
            if paired.empty:
                continue
            diff_acc = 100 * (paired["accuracy_tuned"] - paired["accuracy_scratch"])
            diff_auc = paired["auc_tuned"] - paired["auc_scratch"]
            gains.append(
                {
                    "source": source,
                    "size": int(size),
                    "epsilon": eps,
                    "mode": mode,
                    "pairs": int(len(paired)),
                    "accuracy_points_mean": mean(diff_acc),
                    "accuracy_points_sd": sd(diff_acc),
                    "auc_mean": mean(diff_auc),
                    "auc_sd": sd(diff_auc),
                }
            )
    return gains


def _targets(frame: pd.DataFrame) -> dict[str, Any]:
    """The benchmark's three targets (module docstring), measured."""
    gains = pd.DataFrame(_gains(frame))
    out: dict[str, Any] = {}
    at200 = gains[gains["size"] == 200] if not gains.empty else gains
    near_rows, far_rows = [], []
    for epsilon, group in at200.groupby("epsilon", sort=False) if not at200.empty else []:
        near, far = group[group.source == "near"], group[group.source == "far"]
        if near.empty:
            continue
        points, auc = float(near.accuracy_points_mean.iloc[0]), float(near.auc_mean.iloc[0])
        near_rows.append(
            {
                "epsilon": epsilon,
                "mode": near["mode"].iloc[0],
                "accuracy_points": points,
                "auc": auc,
                "met": bool(points >= 13.0 or auc >= EQUIVALENT_AUC_GAIN),
            }
        )
        if not far.empty:
            far_rows.append(
                {
                    "epsilon": epsilon,
                    "near_accuracy_points": points,
                    "far_accuracy_points": float(far.accuracy_points_mean.iloc[0]),
                    "near_auc": auc,
                    "far_auc": float(far.auc_mean.iloc[0]),
                    "met": bool(far.auc_mean.iloc[0] < auc),
                }
            )
    if near_rows:
        out["near_gain_at_200"] = near_rows
    if far_rows:
        out["far_helps_less_than_near_at_200"] = far_rows
    fed = frame[(frame.arm == "near-federated") & (frame.epsilon == 3.0)]
    pooled = frame[frame.arm == "pooled"]
    per_size = []
    for (size, mode), group in fed.groupby(["size", "mode"]):
        ref = pooled[pooled["size"] == size]
        if len(ref):
            gap = mean(ref["auc"]) - mean(group["auc"])
            per_size.append(
                {
                    "size": int(size),
                    "mode": mode,
                    "federated_near_eps3_auc": mean(group["auc"]),
                    "pooled_auc": mean(ref["auc"]),
                    "gap": gap,
                    "met": bool(gap <= 0.05),
                }
            )
    if per_size:
        out["federated_near_eps3_within_0.05_of_pooled"] = per_size
    return out


def _source_info(model: PretrainedModel) -> dict[str, Any]:
    prov = model.provenance
    return {
        "content_hash": model.content_hash,
        "samples": prov.get("samples"),
        "targets": prov.get("targets"),
        "validation": prov.get("metrics", {}).get("validation"),
        "seconds": prov.get("seconds"),
    }
