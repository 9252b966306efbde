"""A small finished run for the report tests: a federation folder (panel, gene list, truth) and a run
folder (model.pt, test_predictions.csv) with a results dict, written in well under a second.

The linear model's weights are largest on the simulated causal variants, so the report's top
variants must find them; the test cohort's labels are drawn from the model's own risks, so its
AUC is well above chance (or, with `informative=False`, risks are unrelated to the labels).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from genofed.common.data.panel import VariantPanel
from genofed.common.model.network import ModelConfig, build_model

N_VARIANTS = 60
CAUSAL = (3, 17, 29, 41, 55)  # panel indices of the simulated causal variants
GENES = (("GENEA", 1_000, 2_400), ("GENEB", 3_900, 4_500))  # BED regions on chromosome 1


def variant_ids() -> list[str]:
    return [f"1:{1_000 + 100 * i}:A:G" for i in range(N_VARIANTS)]


def write_federation(folder: Path, gene_column: bool = False, rsids: bool = False) -> Path:
    """panel.tsv (optionally with a `gene` column, and with rsIDs `rs<1000 + i>` for the even
    variants i), known_genes.bed and truth.json."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = variant_ids()
    names = {v: f"rs{1000 + i}" for i, v in enumerate(ids) if rsids and i % 2 == 0}
    VariantPanel(ids, np.linspace(0.05, 0.5, N_VARIANTS), names).save(folder / "panel.tsv")
    if gene_column:
        lines = (folder / "panel.tsv").read_text().splitlines()
        rows = [lines[0] + "\tgene"] + [line + f"\tPANELGENE{i % 3}" for i, line in enumerate(lines[1:])]
        (folder / "panel.tsv").write_text("\n".join(rows) + "\n")
    (folder / "known_genes.bed").write_text("".join(f"1\t{s}\t{e}\t{name}\n" for name, s, e in GENES))
    truth = {
        "prevalence_target": 0.02,
        "prevalence_realised": 0.019,
        "model": {"causal_variants": [{"id": ids[i], "effect": 0.5} for i in CAUSAL]},
    }
    (folder / "truth.json").write_text(json.dumps(truth))
    return folder


def write_model(run_dir: Path, seed: int = 0) -> Path:
    """A logistic model.pt as a run writes it: {state_dict, model_config}, causal weights largest."""
    config = ModelConfig(n_variants=N_VARIANTS, architecture="logistic")
    model = build_model(config, seed=0)
    rng = np.random.default_rng(seed)
    weights = rng.normal(0, 0.05, N_VARIANTS + 2)
    weights[list(CAUSAL)] = [0.9, -0.8, 0.7, 0.85, -0.75]
    with torch.no_grad():
        model.linear.weight[0] = torch.as_tensor(weights, dtype=torch.float32)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "model.pt"
    torch.save({"state_dict": model.state_dict(), "model_config": config.to_dict()}, path)
    return path


def write_predictions(run_dir: Path, n: int = 400, informative: bool = True, seed: int = 1) -> Path:
    """test_predictions.csv (sample_id,label,risk): labels drawn from the risks when informative."""
    rng = np.random.default_rng(seed)
    risks = rng.beta(2, 3, n)
    labels = rng.random(n) < (risks if informative else np.full(n, 0.4))
    path = run_dir / "test_predictions.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sample_id", "label", "risk"])
        for i, (label, risk) in enumerate(zip(labels, risks, strict=True)):
            writer.writerow([f"T{i:04d}", int(label), f"{risk:.6f}"])
    return path


def run_results(data_dir: Path, threshold: float | None = 0.45) -> dict:
    """A results dict for a 3-site DP run on `data_dir`, with the operating point H3 records."""
    sites = {"rostov": (300, 30), "maykop": (80, 8), "elista": (40, 4)}
    released = {"rostov": (30.4, 12.2), "maykop": (15.8, 6.1), "elista": (8.3, 3.9)}
    return {
        "test_auc": 0.74,
        "test_metrics": {"auc": 0.74, "brier": 0.2, "n": 400, "cases": 160, "threshold": 0.5},
        "rounds": [{"round": r, "test_auc": 0.5 + r / 20, "epsilon_max": r * 0.9} for r in range(5)],
        "epsilon": {name: 3.9 for name in sites},
        "delta": 1e-5,
        "epsilon_budget": 4.0,
        "sites": {
            name: {
                "samples": n + v,
                "train": n,
                "validation": v,
                "federated_local_auc": 0.7,
                "federated_local_auc_noise_sd": 0.03,
                "epsilon": 3.9,
            }
            for name, (n, v) in sites.items()
        },
        "site_evaluation": {
            "round": 4,
            "sites": {name: {"patients": p, "cases": c, "auc": 0.7} for name, (p, c) in released.items()},
        },
        "model": {"n_variants": N_VARIANTS, "n_covariates": 2, "architecture": "logistic", "parameters": 63},
        "operating_point": {
            "threshold": threshold,
            "rule": "maximise Youden's J on the pooled validation histograms",
        },
        "config": {"data-dir": str(data_dir), "panel": "", "epsilon": 4.0, "rounds": 4},
    }


def write_run(
    root: Path, *, informative: bool = True, gene_column: bool = False, rsids: bool = False
) -> tuple[Path, dict]:
    """(run folder, results): a federation under root/cohorts and a run under root/run."""
    data_dir = write_federation(root / "cohorts", gene_column=gene_column, rsids=rsids)
    run_dir = root / "run"
    write_model(run_dir)
    write_predictions(run_dir, informative=informative)
    return run_dir, run_results(data_dir)


def rewrite_risks(run_dir: Path, risk: Callable[[float], float]) -> None:
    """Rewrite RUN/test_predictions.csv with each person's risk mapped by `risk` (same people,
    same labels): a run whose final model scored its test cohort otherwise."""
    path = run_dir / "test_predictions.csv"
    rows = list(csv.DictReader(path.open()))
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sample_id", "label", "risk"])
        for row in rows:
            writer.writerow([row["sample_id"], row["label"], f"{risk(float(row['risk'])):.6f}"])
