"""The privacy frontier's numbers: means and spreads over seeds, the references, the targets, and
the run time per design. Pure functions of the experiment's rows (pandas only), so that the report
and `bench/privacy_frontier.py` read the same figures."""

from __future__ import annotations

from typing import Any

import pandas as pd

from genofed.simulations.experiments.base import config_dict, mean, sd
from genofed.simulations.experiments.privacy_frontier.config import (
    DEFAULT_DESIGN,
    DESIGNS,
    FrontierConfig,
)

Rows = list[dict[str, Any]]

#: The full grid, for the estimate of its run time: 2 federations x 3 seeds x the privacy levels
#: each design has (4: epsilon 1, 3, 8 and no DP; a distributed design has no run without DP).
FULL_GRID_FEDERATIONS_X_SEEDS = 2 * 3
FULL_GRID_EPSILONS = 4


def full_grid_runs(design: str) -> int:
    """How many federated runs of `design` the full grid holds."""
    return FULL_GRID_FEDERATIONS_X_SEEDS * (FULL_GRID_EPSILONS - int(DESIGNS[design].distributed))


def summarise(
    config: FrontierConfig,
    runs: Rows,
    references: Rows,
    skipped: Rows,
    federations: dict[str, Any],
) -> dict[str, Any]:
    """results.json: the config, every run and reference row, and what is derived from them."""
    return {
        "config": config_dict(config),
        "federations": federations,
        "runs": runs,
        "references": references,
        "skipped": skipped,
        "table": design_table(runs),
        "reference_table": reference_table(references),
        "targets": targets(runs, references),
        "timing": timing(runs),
    }


def design_table(runs: Rows) -> Rows:
    """Mean and sd over seeds of test AUC, wall seconds and seconds per round, per federation x
    design x epsilon."""
    if not runs:
        return []
    frame = pd.DataFrame(runs)
    table = []
    for (federation, design, epsilon), group in frame.groupby(
        ["federation", "design", "epsilon"], sort=False
    ):
        table.append(
            {
                "federation": federation,
                "design": design,
                "epsilon": epsilon,
                "n": int(len(group)),
                "auc_mean": mean(group["test_auc"]),
                "auc_sd": sd(group["test_auc"]),
                "wall_seconds_mean": mean(group["wall_seconds"]),
                "seconds_per_round_mean": mean(group["seconds_per_round"]),
            }
        )
    return table


def reference_table(references: Rows) -> Rows:
    """Mean and sd over seeds per federation x reference x epsilon x site (site: alone only)."""
    if not references:
        return []
    frame = pd.DataFrame(references)
    frame["site"] = frame["site"].fillna("")
    keys = ["federation", "reference", "epsilon", "site"]
    return [
        {
            "federation": federation,
            "reference": reference,
            "epsilon": epsilon,
            "site": site or None,
            "n": int(len(group)),
            "auc_mean": mean(group["test_auc"]),
            "auc_sd": sd(group["test_auc"]),
        }
        for (federation, reference, epsilon, site), group in frame.groupby(keys, sort=False)
    ]


def _auc(frame: pd.DataFrame, **where: Any) -> float | None:
    """Mean test AUC over the rows matching `where` (None when there are none)."""
    if frame.empty:
        return None
    mask = pd.Series(True, index=frame.index)
    for column, value in where.items():
        mask &= frame[column] == value
    return mean(frame.loc[mask, "test_auc"])


def _target(
    federation: str, name: str, design: str, epsilon: Any, value: float | None, rule: str, threshold: float
) -> dict[str, Any]:
    met = None
    if value is not None:
        met = bool(value >= threshold) if rule == ">=" else bool(value <= threshold)
    return {
        "federation": federation,
        "target": name,
        "design": design,
        "epsilon": epsilon,
        "value": value,
        "rule": rule,
        "threshold": threshold,
        "met": met,
    }


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def targets(runs: Rows, references: Rows) -> Rows:
    """The benchmark's targets on every federation, each measured in this run (value, threshold,
    met; met None when a design or reference it needs was not run). Robust designs are those with
    per-site DP against anyone; "pooled" is the pooled non-private logistic regression."""
    runs_frame, refs_frame = pd.DataFrame(runs), pd.DataFrame(references)
    federations = list(dict.fromkeys([r["federation"] for r in [*references, *runs]]))
    rows: Rows = []
    for fed in federations:
        fed_runs = runs_frame[runs_frame["federation"] == fed] if not runs_frame.empty else runs_frame
        fed_refs = refs_frame[refs_frame["federation"] == fed] if not refs_frame.empty else refs_frame
        pooled = _auc(fed_refs, reference="pooled")
        default = DEFAULT_DESIGN
        rows += [
            _target(
                fed,
                "default design, robust, from scratch: above the plain DP logistic regression",
                default,
                3.0,
                _difference(
                    _auc(fed_runs, design=default, epsilon=3.0),
                    _auc(fed_refs, reference="dp-logistic", epsilon=3.0),
                ),
                ">=",
                0.03,
            ),
            _target(
                fed,
                "default design, robust, from scratch: gap to pooled",
                default,
                8.0,
                _difference(pooled, _auc(fed_runs, design=default, epsilon=8.0)),
                "<=",
                0.03,
            ),
        ]
        for epsilon, threshold in ((3.0, 0.08), (1.0, 0.12)):
            rows.append(
                _target(
                    fed,
                    "source prior, robust: gap to pooled",
                    "logistic-source",
                    epsilon,
                    _difference(pooled, _auc(fed_runs, design="logistic-source", epsilon=epsilon)),
                    "<=",
                    threshold,
                )
            )
        for design in (d.name for d in DESIGNS.values() if d.distributed):
            value = _difference(pooled, _auc(fed_runs, design=design, epsilon=3.0))
            if value is not None or design == "logistic-source-distributed":
                rows.append(
                    _target(
                        fed, "distributed (coordinator-facing): gap to pooled", design, 3.0, value, "<=", 0.05
                    )
                )
        rows += _every_hospital(fed, fed_runs, fed_refs)
        rows.append(_round_cost(fed, fed_runs))
    return rows


EVERY_HOSPITAL = "every hospital gains: min over hospitals of (federation - alone, no DP)"
EVERY_HOSPITAL_ADAPTED = (
    "every hospital gains, with its local adaptation: min over hospitals of (adapted - alone, no DP)"
)


def _every_hospital(fed: str, runs: pd.DataFrame, refs: pd.DataFrame) -> Rows:
    """Every hospital's AUC with the federation (the default design) >= its AUC alone without
    privacy: per epsilon, the smallest over hospitals of the mean over seeds of (federation AUC -
    the hospital's alone AUC), paired by seed (the seed sets both splits). Once with the shared
    model as it is, once with each hospital's own adaptation of it (`genofed adapt`), where the
    runs record one."""
    if runs.empty or refs.empty:
        return [_target(fed, EVERY_HOSPITAL, DEFAULT_DESIGN, None, None, ">=", 0.0)]
    alone = refs[refs["reference"] == "alone"][["seed", "site", "test_auc"]]
    design = runs[runs["design"] == DEFAULT_DESIGN]
    shared = design[["epsilon", "seed", "test_auc"]].merge(alone, on="seed", suffixes=("", "_alone"))
    rows = _gains(fed, EVERY_HOSPITAL, shared)
    if "adapted" in design:
        adapted = pd.DataFrame(
            [
                {"epsilon": run["epsilon"], "seed": run["seed"], "site": site, "test_auc": auc}
                for run in design.to_dict("records")
                if isinstance(run.get("adapted"), dict)
                for site, auc in run["adapted"].items()
            ]
        )
        if not adapted.empty:
            paired = adapted.merge(alone, on=["seed", "site"], suffixes=("", "_alone"))
            rows += _gains(fed, EVERY_HOSPITAL_ADAPTED, paired)
    return rows or [_target(fed, EVERY_HOSPITAL, DEFAULT_DESIGN, None, None, ">=", 0.0)]


def _gains(fed: str, name: str, paired: pd.DataFrame) -> Rows:
    """Per epsilon, the smallest over hospitals of the mean over seeds of (test_auc -
    test_auc_alone), with the worst hospital and how many are below 0."""
    rows = []
    for epsilon, group in paired.groupby("epsilon", sort=False):
        gains = (group["test_auc"] - group["test_auc_alone"]).groupby(group["site"]).mean()
        row = _target(fed, name, DEFAULT_DESIGN, epsilon, float(gains.min()), ">=", 0.0)
        row["worst_site"] = str(gains.idxmin())
        row["sites_below"] = int((gains < 0).sum())
        row["sites"] = int(len(gains))
        rows.append(row)
    return rows


def _round_cost(fed: str, runs: pd.DataFrame) -> dict[str, Any]:
    """A round of the logistic model costs no more than the network's: the ratio of their mean
    seconds per round over every epsilon and seed of this federation."""
    ratio = None
    if not runs.empty:
        logistic = mean(runs.loc[runs["design"] == "logistic", "seconds_per_round"])
        network = mean(runs.loc[runs["design"] == "network", "seconds_per_round"])
        if logistic is not None and network:
            ratio = logistic / network
    return _target(fed, "seconds per round, logistic / network", "logistic", None, ratio, "<=", 1.0)


def timing(runs: Rows) -> dict[str, Any]:
    """Mean wall seconds of one run per design, and the full grid (2 federations x 8 designs x 4
    epsilons x 3 seeds, less the distributed designs' no-DP cells) estimated from them: a design
    not measured counts as the mean of all measured runs."""
    if not runs:
        return {"per_design": {}, "full_grid_seconds_estimate": None}
    frame = pd.DataFrame(runs)
    per_design = {str(d): mean(g["wall_seconds"]) for d, g in frame.groupby("design", sort=False)}
    overall = mean(frame["wall_seconds"]) or 0.0
    estimate = sum((per_design.get(d) or overall) * full_grid_runs(d) for d in DESIGNS)
    return {
        "per_design": per_design,
        "runs_measured": int(len(frame)),
        "full_grid_runs": sum(full_grid_runs(d) for d in DESIGNS),
        "full_grid_seconds_estimate": estimate,
    }
