"""OUT/report.md of the privacy-frontier experiment: tables per federation, the references, the
targets, run time, and one plot per federation (frontier_<federation>.png)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from genofed.common.reporting import markdown_table, new_figure, save_figure
from genofed.simulations.experiments.base import plus_minus, privacy_label, write_report
from genofed.simulations.experiments.privacy_frontier.config import DESIGNS

#: One colour per model and prior; a distributed design is dashed in its local twin's colour.
COLORS = {
    "network": "tab:red",
    "logistic": "tab:blue",
    "logistic-source": "tab:green",
    "logistic-genes": "tab:purple",
}


def plot_name(federation: str) -> str:
    """The plot's file name inside OUT."""
    return f"frontier_{federation}.png"


def write_frontier_report(out_dir: Path, results: dict[str, Any]) -> Path:
    """The plots first, then OUT/report.md that links the ones drawn (`base.write_report`)."""
    out_dir = Path(out_dir)
    drawn = [name for name in results["federations"] if _plot(out_dir / plot_name(name), results, name)]
    return write_report(out_dir, results, lambda r, _plotted: render(r, drawn))


def render(results: dict[str, Any], drawn: list[str]) -> str:
    """The report's Markdown."""
    lines = [*_introduction(results), *_skipped(results)]
    for federation in results["federations"]:
        lines += _federation_section(results, federation, federation in drawn)
    lines += [*_targets(results), *_timing(results)]
    return "\n".join(lines) + "\n"


def _introduction(results: dict[str, Any]) -> list[str]:
    config = results["config"]
    federations = "; ".join(
        f"`{name}` ({_origin(info)}, {info['variants']:,} variants)"
        for name, info in results["federations"].items()
    )
    return [
        "# The privacy frontier: test AUC against epsilon for every design of the shared model",
        "",
        f"Federations: {federations}. Designs: {', '.join(f'`{d}`' for d in config['designs'])}. "
        f"Per-site epsilon: {', '.join(privacy_label(e) for e in config['epsilons'])} "
        f"(delta {config['run']['delta']}); "
        f"seeds {', '.join(map(str, config['seeds']))} (each sets the hospitals' train/validation splits, "
        "the initialisation and every noise draw). Every design is a real federation "
        "(`genofed simulate`'s path, Flower's simulation engine) with the product's defaults except what "
        "the design sets: the model, the prior (`logistic-source`: "
        f"{_source_variants(config['prior_variants'])} of a logistic model pretrained on the "
        "federation's related-disease source cohort, started from its weights; `logistic-genes`: the "
        "panel variants inside the federation's known-gene list), and `-distributed`: noise shares "
        "under SecAgg+ (`privacy=distributed`; its epsilon is the coordinator-facing one). The others "
        "are robust: per-site DP against anyone.",
        "",
        "References, on the very splits the federation's hospitals train on and the same test cohort: "
        "pooled non-private logistic regression (sklearn, C = 1, every hospital's training patients), each "
        "hospital alone with the same model without privacy, and the plain DP logistic regression "
        f"federation (per-site DP-SGD + FedAvg in one process, {config['reference_rounds']} rounds, its "
        "fixed rule: `simulations/experiments/privacy_frontier/references.py`). Means over seeds +- one "
        "standard deviation.",
        "",
    ]


def _source_variants(k: int) -> str:
    """What a source-prior design reads, for the introduction: its top k variants, or all (k = 0)."""
    return f"the top {k} variants" if k else "every variant"


def _origin(info: dict[str, Any]) -> str:
    if info.get("preset"):
        return f"preset {info['preset']}, seed {info['seed']}"
    return f"folder {info['folder']}"


def _skipped(results: dict[str, Any]) -> list[str]:
    skipped = results.get("skipped") or []
    if not skipped:
        return ["Every design asked for ran on every federation.", ""]
    lines = ["## Designs not measured", ""]
    for s in skipped:
        where = "" if s.get("epsilon") is None else f" at {privacy_label(s['epsilon'])}"
        lines.append(f"- `{s['design']}` on `{s['federation']}`{where}: {s['reason']}")
    return [*lines, ""]


def _federation_section(results: dict[str, Any], federation: str, plotted: bool) -> list[str]:
    epsilons = results["config"]["epsilons"]
    table = [r for r in results["table"] if r["federation"] == federation]
    refs = [r for r in results["reference_table"] if r["federation"] == federation]
    designs = [d for d in results["config"]["designs"] if any(r["design"] == d for r in table)]
    header = ["test AUC", *(privacy_label(e) for e in epsilons)]
    rows = [[f"`{d}`", *(_cell(table, design=d, epsilon=e) for e in epsilons)] for d in designs]
    rows.append(
        ["plain DP logistic regression", *(_cell(refs, reference="dp-logistic", epsilon=e) for e in epsilons)]
    )
    pooled = _cell(refs, reference="pooled")
    rows.append(["pooled logistic regression, no DP", *([pooled] * len(epsilons))])
    info = results["federations"][federation]
    lines = [f"## Federation `{federation}`", "", markdown_table(header, rows), ""]
    if info.get("bayes_auc") is not None:
        lines += [f"Bayes AUC (the simulation's true risk): {info['bayes_auc']:.3f}.", ""]
    alone = [r for r in refs if r["reference"] == "alone"]
    if alone:
        lines += [
            "Each hospital alone, the same logistic regression without privacy (test AUC):",
            "",
            markdown_table(
                ["hospital", "test AUC alone"],
                [[r["site"], plus_minus(r["auc_mean"], r["auc_sd"])] for r in alone],
            ),
            "",
        ]
    if plotted:
        lines += [f"![test AUC against epsilon, {federation}]({plot_name(federation)})", ""]
    return lines


def _cell(rows: list[dict[str, Any]], **where: Any) -> str:
    for row in rows:
        if all(row.get(k) == v for k, v in where.items()):
            return plus_minus(row["auc_mean"], row["auc_sd"])
    return "-"


def _targets(results: dict[str, Any]) -> list[str]:
    rows = [
        [
            f"`{t['federation']}`",
            t["target"],
            f"`{t['design']}`",
            "-" if t["epsilon"] is None else privacy_label(t["epsilon"]),
            "-" if t["value"] is None else f"{t['value']:+.3f}",
            f"{t['rule']} {t['threshold']:g}",
            {True: "yes", False: "**no**", None: "not measured"}[t["met"]],
        ]
        for t in results["targets"]
    ]
    return [
        "## Targets",
        "",
        'Differences of mean test AUC over seeds ("gap to pooled": pooled minus the design); the round '
        "cost is a ratio of mean seconds per round.",
        "",
        markdown_table(["federation", "target", "design", "privacy", "value", "threshold", "met"], rows),
        "",
    ]


def _timing(results: dict[str, Any]) -> list[str]:
    timing = results["timing"]
    per_design = timing.get("per_design") or {}
    lines = ["## Run time", ""]
    if per_design:
        lines += [
            markdown_table(
                ["design", "wall seconds per run (mean)"],
                [[f"`{d}`", "-" if s is None else f"{s:.0f}"] for d, s in per_design.items()],
            ),
            "",
        ]
    estimate = timing.get("full_grid_seconds_estimate")
    if estimate:
        lines.append(
            f"The full grid ({timing['full_grid_runs']} federated runs: 2 federations x "
            f"{len(DESIGNS)} designs x 4 epsilons x 3 seeds, less the distributed designs' no-DP cells) "
            "at these rates: about "
            f"{estimate / 3600:.1f} h, plus the references. "
        )
    lines += [
        f"Wall time of this invocation: {results.get('wall_seconds', 0) / 60:.1f} min (runs an earlier "
        "invocation of the same OUT finished are reused, not rerun). Every run: `results.json`.",
    ]
    return lines


def x_positions(epsilons: list[Any]) -> dict[Any, float]:
    """Where each privacy level sits on the log x axis: a finite epsilon at its value, no DP ("inf")
    at the right edge, a factor 3 beyond the largest finite one (30 when none is finite)."""
    finite = [float(e) for e in epsilons if e != "inf"]
    edge = 3.0 * max(finite) if finite else 30.0
    return {e: (edge if e == "inf" else float(e)) for e in epsilons}


def _plot(path: Path, results: dict[str, Any], federation: str) -> bool:
    epsilons = results["config"]["epsilons"]
    table = [r for r in results["table"] if r["federation"] == federation and r["auc_mean"] is not None]
    if not table:
        return False
    where = x_positions(epsilons)
    figure = new_figure()
    figure.set_size_inches(9.0, 4.5)
    axes = figure.add_subplot(1, 1, 1)
    for design in results["config"]["designs"]:
        rows = sorted((r for r in table if r["design"] == design), key=lambda r: where[r["epsilon"]])
        if not rows:
            continue
        spec = DESIGNS[design]
        axes.errorbar(
            [where[r["epsilon"]] for r in rows],
            [r["auc_mean"] for r in rows],
            yerr=[r["auc_sd"] or 0.0 for r in rows],
            marker="o",
            capsize=3,
            label=design,
            color=COLORS[design.removesuffix("-distributed")],
            linestyle="--" if spec.distributed else "-",
        )
    _reference_lines(axes, results, federation, where)
    axes.set_xscale("log")
    ticks = sorted(where.values())
    labels = {v: ("no DP" if e == "inf" else f"{float(e):g}") for e, v in where.items()}
    axes.set_xticks(ticks, [labels[t] for t in ticks])
    axes.minorticks_off()
    axes.set_xlabel("per-site epsilon (log scale)")
    axes.set_ylabel("test AUC")
    axes.set_title(f"privacy frontier, federation {federation}")
    axes.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    save_figure(figure, path)
    return True


def _reference_lines(axes: Any, results: dict[str, Any], federation: str, where: dict[Any, float]) -> None:
    """Pooled (no DP) and the median hospital alone (no DP) as horizontal lines; the plain DP
    logistic regression as a grey line over epsilon."""
    refs = [
        r for r in results["reference_table"] if r["federation"] == federation and r["auc_mean"] is not None
    ]
    pooled = [r["auc_mean"] for r in refs if r["reference"] == "pooled"]
    if pooled:
        axes.axhline(pooled[0], color="black", linestyle=":", label="pooled LR, no DP")
    alone = sorted(r["auc_mean"] for r in refs if r["reference"] == "alone")
    if alone:
        axes.axhline(
            alone[len(alone) // 2], color="tab:gray", linestyle="-.", label="median hospital alone, no DP"
        )
    dp = sorted(
        (r for r in refs if r["reference"] == "dp-logistic"), key=lambda r: where.get(r["epsilon"], math.inf)
    )
    dp = [r for r in dp if r["epsilon"] in where]
    if dp:
        axes.plot(
            [where[r["epsilon"]] for r in dp],
            [r["auc_mean"] for r in dp],
            color="tab:gray",
            marker="s",
            label="plain DP logistic regression",
        )
