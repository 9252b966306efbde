"""OUT/report.md of the transfer-learning experiment: tables, the gains next to the paper's, a plot."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from genofed.common.reporting import markdown_table, new_figure, save_figure
from genofed.simulations.experiments.base import privacy_label, write_report
from genofed.simulations.experiments.transfer.config import EQUIVALENT_AUC_GAIN, finetune_mode

#: one colour per arm in every panel (matplotlib's default cycle, fixed by arm)
COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:gray")
PLOT = "transfer_auc.png"

ARM_TITLES = {
    "scratch-local": "(a) scratch, site alone",
    "near-local": "(b) near source, site alone",
    "far-local": "(c) far source, site alone",
    "scratch-federated": "(d) federated, scratch",
    "near-federated": "(e) federated, near source",
    "pooled": "pooled sites, no DP (reference)",
}


def write_transfer_report(out_dir: Path, results: dict[str, Any]) -> Path:
    """OUT/report.md and its plot (`base.write_report`)."""
    return write_report(out_dir, results, render, _plot, PLOT)


def render(results: dict[str, Any], plotted: bool) -> str:
    """The report's Markdown: one section after another."""
    lines = [
        *_introduction(results),
        *_sources(results),
        *_gains(results),
        *_arm_sections(results),
        *_modes(results),
        "## Targets",
        "",
        *_target_lines(results.get("targets", {})),
        "",
    ]
    if plotted:
        lines += [f"![AUC by site size]({PLOT})", ""]
    lines += [
        f"Wall time of this invocation: {results.get('wall_seconds', 0) / 60:.1f} min (pieces an earlier run "
        "of the same OUT finished are reused, not recomputed). Raw rows: `transfer.json`.",
        "",
    ]
    return "\n".join(lines)


def _introduction(results: dict[str, Any]) -> list[str]:
    """The title, the protocol in one paragraph, the accuracy note and the fine-tuning modes."""
    config = results["config"]
    run = config["run"]
    return [
        "# Transfer learning: pretrained models for small rare-disease sites",
        "",
        f"Cohorts: preset `{config['preset']}` (seed {config['cohort_seed']}), sites of "
        f"{', '.join(map(str, config['sizes']))} patients drawn from each clinic (nested: a bigger site adds "
        f"patients), seeds {', '.join(map(str, config['seeds']))}. Every arm trains with the settings of "
        f"`genofed simulate` ({run['rounds']} rounds x {run['local-epochs']} local epochs, batch "
        f"{run['batch-size']}, lr {run['lr']}, clip {run['clip']}, delta {run['delta']}); a site alone "
        "trains as many epochs. Test: the held-out test cohort of the simulation. Means over seeds (and "
        "clinics, for the site-alone arms), +- one standard deviation.",
        "",
        _accuracy_note(results),
        "",
        "Fine-tuning mode, fixed in advance: no DP trains everything (`full`); under DP only the output "
        "layer (`frozen`), because DP noise grows with every privately trained coordinate (see the mode "
        "table)."
        + (
            " Under DP the federated arm (e) runs "
            f"{', '.join(f'`{m}`' for m in config['federated_dp_modes'])}: a federation pools more signal "
            "than one site."
            if len(config.get("federated_dp_modes", ())) > 1
            else ""
        ),
        "",
    ]


def _sources(results: dict[str, Any]) -> list[str]:
    """The pretrained source models: size, targets, validation AUC, content hash."""
    return [
        "## Source models",
        "",
        markdown_table(
            ["source", "people", "targets", "validation AUC", "content hash"],
            [
                [
                    name,
                    info.get("samples"),
                    info.get("targets"),
                    _f((info.get("validation") or {}).get("auc")),
                    f"`{str(info.get('content_hash'))[:16]}`",
                ]
                for name, info in results.get("sources", {}).items()
            ],
        ),
        "",
    ]


def _gains(results: dict[str, Any]) -> list[str]:
    """The paired gain of transfer over scratch, next to the paper's figure."""
    return [
        "## Gain of transfer over scratch (site alone, paired by clinic and seed)",
        "",
        f"The paper: {results['paper']['accuracy_with_transfer']:.1%} accuracy with transfer at "
        f"{results['paper']['patients']} patients, **+{results['paper']['gain_points']} points** over "
        "training on the small sample alone.",
        "",
        markdown_table(
            ["source", "patients", "epsilon", "mode", "accuracy gain (points)", "AUC gain", "pairs"],
            [
                [
                    g["source"],
                    g["size"],
                    _eps(g["epsilon"]),
                    g["mode"],
                    _pm(g["accuracy_points_mean"], g["accuracy_points_sd"], 1),
                    _pm(g["auc_mean"], g["auc_sd"]),
                    g["pairs"],
                ]
                for g in results["gains"]
            ],
        ),
        "",
    ]


def _arm_sections(results: dict[str, Any]) -> list[str]:
    """One AUC and accuracy table per privacy level (the near source in the level's own mode;
    the pooled reference in every DP section)."""
    config = results["config"]
    table = results["table"]
    lines: list[str] = []
    for epsilon in config["epsilons"]:
        rows = [
            r
            for r in table
            if r["epsilon"] == epsilon and not (r["arm"] == "near-local" and r["mode"] != _mode(epsilon))
        ]
        rows += [r for r in table if r["arm"] == "pooled" and epsilon != "inf"]
        lines += [
            f"## {'No DP' if epsilon == 'inf' else f'epsilon {_eps(epsilon)} per site'}: AUC and accuracy",
            "",
            _arm_table(rows, config["sizes"]),
            "",
        ]
    return lines


def _modes(results: dict[str, Any]) -> list[str]:
    """How many parameters to fine-tune privately, when the near-source modes were measured."""
    config = results["config"]
    modes = [r for r in results["table"] if r["arm"] == "near-local" and r["size"] == config["modes_at"]]
    if not modes:
        return []
    return [
        f"## How many parameters to fine-tune privately (near source, sites of {config['modes_at']})",
        "",
        markdown_table(
            ["epsilon", "mode", "privately trained parameters", "AUC", "accuracy"],
            [
                [
                    _eps(r["epsilon"]),
                    r["mode"],
                    f"{r['trainable_parameters']:,}",
                    _pm(r["auc_mean"], r["auc_sd"]),
                    _pm(r["accuracy_mean"], r["accuracy_sd"]),
                ]
                for r in sorted(modes, key=lambda r: (str(r["epsilon"]), -r["trainable_parameters"]))
            ],
        ),
        "",
    ]


def _accuracy_note(results: dict[str, Any]) -> str:
    test = results.get("test") or {}
    if not test:
        return ""
    return (
        f"Accuracy is at threshold 0.5 on a test cohort of {test['people']} people ({test['cases']} cases): "
        f"a model that calls everyone a control scores {test['majority_accuracy']:.1%}, so accuracy also "
        "measures calibration to the test cohort's case share, and a gain in accuracy can come from "
        "recalibration alone. AUC does not depend on the threshold."
    )


def _arm_table(rows: list[dict[str, Any]], sizes: list[int]) -> str:
    body = []
    for arm, mode in _arm_modes(rows):
        cells = []
        for size in sizes:
            match = [r for r in rows if r["arm"] == arm and r["mode"] == mode and r["size"] == size]
            cells.append(
                f"{_pm(match[0]['auc_mean'], match[0]['auc_sd'])} / {_pct(match[0]['accuracy_mean'])}"
                if match
                else ""
            )
        body.append([_title(arm, mode), *cells])
    return markdown_table(["arm (AUC / accuracy)", *[f"{s} patients" for s in sizes]], body)


def _arm_modes(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(arm, mode) pairs present, in the arms' order."""
    present = {(r["arm"], r["mode"]) for r in rows}
    return [
        (arm, mode) for arm in ARM_TITLES for mode in ("full", "partial", "frozen") if (arm, mode) in present
    ]


def _title(arm: str, mode: str) -> str:
    return ARM_TITLES[arm] + (f" [{mode}]" if arm in ("near-local", "far-local", "near-federated") else "")


def _target_lines(targets: dict[str, Any]) -> list[str]:
    lines = []
    for entry in targets.get("near_gain_at_200", []):
        lines.append(
            f"- Near-source transfer at 200 patients, {privacy_label(entry['epsilon'])} ({entry['mode']}): "
            f"{entry['accuracy_points']:+.1f} points of accuracy, {entry['auc']:+.3f} AUC (target: >= 13 "
            f"points or >= {EQUIVALENT_AUC_GAIN:.2f} AUC): **{'met' if entry['met'] else 'missed'}**."
        )
    for entry in targets.get("far_helps_less_than_near_at_200", []):
        lines.append(
            f"- Far source helps less than near at 200 patients, {privacy_label(entry['epsilon'])}: AUC gain "
            f"far {entry['far_auc']:+.3f} vs near {entry['near_auc']:+.3f} (accuracy "
            f"{entry['far_accuracy_points']:+.1f} vs {entry['near_accuracy_points']:+.1f} points): "
            f"**{'yes' if entry['met'] else 'no'}**."
        )
    for entry in targets.get("federated_near_eps3_within_0.05_of_pooled", []):
        lines.append(
            f"- Federated + near source at epsilon 3 ({entry.get('mode', 'frozen')}), sites of "
            f"{entry['size']}: AUC {entry['federated_near_eps3_auc']:.3f} vs pooled non-private "
            f"{entry['pooled_auc']:.3f} (gap {entry['gap']:+.3f}; target <= 0.05): "
            f"**{'met' if entry['met'] else 'missed'}**."
        )
    return lines or ["- not measured in this configuration"]


def _plot(path: Path, results: dict[str, Any]) -> bool:
    table = results["table"]
    epsilons = results["config"]["epsilons"]
    if not table:
        return False
    figure = new_figure()
    figure.set_size_inches(4.0 * len(epsilons), 4.0)
    for i, epsilon in enumerate(epsilons):
        axes = figure.add_subplot(1, len(epsilons), i + 1)
        shown = [
            r
            for r in table
            if (r["epsilon"] == epsilon or r["arm"] == "pooled")
            and (r["arm"] != "near-local" or r["mode"] == _mode(epsilon))
        ]
        for arm, mode in _arm_modes(shown):
            rows = sorted(
                (r for r in shown if r["arm"] == arm and r["mode"] == mode), key=lambda r: r["size"]
            )
            style = (
                "--" if arm == "pooled" else (":" if mode == "partial" and arm == "near-federated" else "-")
            )
            axes.errorbar(
                [r["size"] for r in rows],
                [r["auc_mean"] for r in rows],
                yerr=[r["auc_sd"] or 0 for r in rows],
                marker="o",
                capsize=3,
                label=_title(arm, mode),
                color=COLORS[list(ARM_TITLES).index(arm)],
                linestyle=style,
            )
        sizes = results["config"]["sizes"]
        axes.set_xscale("log")
        axes.set_xticks(sizes, [str(s) for s in sizes])
        axes.minorticks_off()
        axes.set_xlabel("patients per site")
        axes.set_title("no DP" if epsilon == "inf" else f"epsilon {_eps(epsilon)}")
        if i == 0:
            axes.set_ylabel("test AUC")
    for axes in figure.axes:
        axes.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    save_figure(figure, path)
    return True


def _mode(epsilon: Any) -> str:
    return finetune_mode(math.inf if epsilon == "inf" else float(epsilon))


def _eps(value: Any) -> str:
    return "no DP" if value == "inf" else f"{float(value):g}"


def _f(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _pm(mean: Any, sd: Any, digits: int = 3) -> str:
    if mean is None:
        return "n/a"
    return f"{mean:.{digits}f}" + ("" if sd is None else f" +- {sd:.{digits}f}")
