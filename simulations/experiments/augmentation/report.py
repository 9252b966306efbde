"""OUT/report.md of the genotype-augmentation experiment: tables, targets, the paper's figures, a plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genofed.common.reporting import markdown_table, new_figure, save_figure
from genofed.simulations.experiments.augmentation.config import (
    COMBINED_WITH,
    MIN_RELEVANT_GAIN,
    PAPER,
    TARGET_GAIN,
)
from genofed.simulations.experiments.base import number, plus_minus, privacy_label, signed, write_report

PLOT = "augment_gain.png"
#: A "more than one standard error" judgment with one seed: no standard error to judge by.
NOT_MEASURABLE_ONE_SEED = "not measurable with one seed (needs 2 or more)"


def write_augment_report(out_dir: Path, results: dict[str, Any]) -> Path:
    """OUT/report.md and its plot (`base.write_report`)."""
    return write_report(out_dir, results, render, _plot, PLOT)


def render(results: dict[str, Any], plotted: bool) -> str:
    """The report's Markdown: one section after another."""
    config = results["config"]
    lines = [
        *_introduction(results),
        "## Targets",
        "",
        *_targets(results),
        "",
        "## The paper's figures next to ours",
        "",
        *_paper(results),
        "",
    ]
    if plotted:
        lines += [f"![AUC gain over no augmentation vs site size]({PLOT})", ""]
    lines += ["## Test AUC by arm and site size (mean over seeds; paired gain over `none` in brackets)", ""]
    for epsilon in config["epsilons"]:
        lines += [f"{privacy_label(epsilon)}:", "", _pivot(results, epsilon), ""]
    if "thousand_genomes" in results:
        lines += _thousand_genomes(results["thousand_genomes"])
    for epsilon in config["epsilons"]:
        lines += [f"## Test AUC, {privacy_label(epsilon)}", "", _table(results, epsilon), ""]
    lines += [
        "## Paired AUC gain over `none` (mean +- sd over seeds)",
        "",
        _gain_table(results),
        "",
        "## Where the gain vanishes",
        "",
        *_vanishing(results),
        "",
        "## Commentary",
        "",
        *_commentary(results),
        "",
        f"Wall time {results['wall_seconds'] / 60:.1f} min (pieces reused from earlier runs are not timed).",
        "",
    ]
    return "\n".join(lines)


def _introduction(results: dict[str, Any]) -> list[str]:
    """The title and the protocol: cohorts, sites, classifier, test, robustness copies, arms."""
    config, run = results["config"], results["config"]["run"]
    test = results["test"]
    rates = config["error_rates"]
    return [
        "# Genotype augmentation for a small site",
        "",
        f"Cohorts: preset `{config['preset']}` (seed {config['cohort_seed']}, {results['variants']} panel "
        f"variants). Small sites of {', '.join(map(str, config['sizes']))} patients drawn nested from "
        f"clinic(s) {', '.join(config['clinics'])}, seeds {', '.join(map(str, config['seeds']))}; 80 % of a "
        "site trains (the split its ClientApp uses). Classifier: the GenNet-style network trained by the "
        f"site alone (`fit_alone`; {run['rounds']} x {run['local-epochs']} epochs, batch "
        f"{run['batch-size']}, lr {run['lr']}, clip {run['clip']}: the network's settings, not `genofed "
        "simulate`'s default "
        "logistic model), one augmented example per drawn record. Test: "
        f"{test['people']} "
        f"held-out people, {test['cases']} cases; AUC mean +- sd over seeds. Robustness: the same test "
        f"cohort with {', '.join(f'{100 * r:g} %' for r in rates)} injected miscalls "
        "(`inject_genotyping_error`).",
        "",
        "Arms (rates fixed in advance, not tuned): "
        + "; ".join(f"`{a}` = {s or 'no augmentation'}" for a, s in results["arms"].items())
        + ". Mixing arms (mix, mixup, all+mix) are refused under DP by design: one patient would enter "
        "two examples. "
        "`logistic`: L2-penalised logistic regression, penalty by internal stratified CV on the site's "
        f"training patients only, no DP. `combined`: the mean of the logistic and `{COMBINED_WITH}` "
        "predicted probabilities (no DP).",
        "",
    ]


def _table(results: dict[str, Any], epsilon: Any) -> str:
    rates = results["config"]["error_rates"]
    header = [
        "arm",
        "augmentation",
        "size",
        "AUC",
        *[f"AUC, {100 * r:g} % error" for r in rates],
        "noise mult.",
        "epsilon",
    ]
    rows = []
    for r in sorted(
        (r for r in results["table"] if r["epsilon"] == epsilon),
        key=lambda r: (r["size"], _arm_order(results, r)),
    ):
        if r["status"] != "ok":
            rows.append(
                [r["arm"], r["augment"], r["size"], f"n/a ({r['status']})", *["-" for _ in rates], "-", "-"]
            )
            continue
        rows.append(
            [
                r["arm"],
                r["augment"],
                r["size"],
                plus_minus(r["auc_mean"], r["auc_sd"]),
                *[plus_minus(r.get(f"auc_err{x:g}_mean"), r.get(f"auc_err{x:g}_sd")) for x in rates],
                number(r.get("noise_multiplier")),
                number(r.get("epsilon_spent")),
            ]
        )
    return markdown_table(header, rows)


def _pivot(results: dict[str, Any], epsilon: Any, key: str = "auc") -> str:
    sizes = results["config"]["sizes"]
    gains = {(g["arm"], g["size"]): g for g in results["gains"] if g["epsilon"] == epsilon}
    rows = []
    for arm in [*results["arms"], "logistic", "combined"]:
        cells = []
        for size in sizes:
            cell = next(
                (
                    r
                    for r in results["table"]
                    if r["arm"] == arm and r["size"] == size and r["epsilon"] == epsilon
                ),
                None,
            )
            if cell is None:
                cells.append("-")
            elif cell["status"] != "ok":
                cells.append("n/a")
            else:
                gain = gains.get((arm, size), {}).get(f"{key}_gain")
                cells.append(number(cell.get(f"{key}_mean")) + ("" if gain is None else f" ({gain:+.3f})"))
        if any(c != "-" for c in cells):
            rows.append([arm, *cells])
    return markdown_table(["arm", *[f"{s} patients" for s in sizes]], rows)


def _thousand_genomes(part: dict[str, Any]) -> list[str]:
    config = part["config"]
    t = part["targets"]
    lines = [
        "## Second part: semi-synthetic 1000 Genomes cohorts",
        "",
        f"Preset `1000g` (real 1000 Genomes genotypes, {part['variants']} panel variants, simulated "
        f"disease), clinics {', '.join(config['clinics'])} each acting as the small site (their clinics hold "
        f"60 patients, so sizes {', '.join(map(str, config['sizes']))} only: 100 and 200 do not exist "
        f"there), seeds {', '.join(map(str, config['seeds']))}; test: {part['test']['people']} people of "
        f"other 1000 Genomes populations, {part['test']['cases']} cases. Full tables: "
        "[1000g/report.md](1000g/report.md).",
        "",
    ]
    for epsilon in config["epsilons"]:
        lines += [f"{privacy_label(epsilon)}, clean test:", "", _pivot(part, epsilon), ""]
    worst = max(config["error_rates"])
    lines += [
        f"no DP, test with {100 * worst:g} % miscalls:",
        "",
        _pivot(part, "inf", f"auc_err{worst:g}"),
        "",
    ]
    gain = t["gain"]
    if gain["best_arm"] is not None:
        lines.append(
            f"Best augmentation at {gain['size']} patients, no DP: `{gain['best_arm']}` "
            f"{plus_minus(gain['gain'], gain['gain_sd'], signed=True)} AUC (the +{TARGET_GAIN:.2f} target is "
            "defined at 100 patients on the default disease; shown for comparison). Privacy: "
            f"{t['privacy']['dp_arms_checked']} DP arm runs with the noise and epsilon of `none` -> "
            f"{'met' if t['privacy']['met'] else 'MISSED'}."
        )
        lines.append("")
    return lines


def _gain_table(results: dict[str, Any]) -> str:
    rates = results["config"]["error_rates"]
    header = ["privacy", "arm", "size", "gain", *[f"gain, {100 * r:g} % error" for r in rates]]
    rows = [
        [
            privacy_label(g["epsilon"]),
            g["arm"],
            g["size"],
            plus_minus(g["auc_gain"], g["auc_gain_sd"], signed=True),
            *[
                plus_minus(g.get(f"auc_err{x:g}_gain"), g.get(f"auc_err{x:g}_gain_sd"), signed=True)
                for x in rates
            ],
        ]
        for g in sorted(
            results["gains"], key=lambda g: (_eps_order(g["epsilon"]), _arm_order(results, g), g["size"])
        )
    ]
    return markdown_table(header, rows)


def _vanishing(results: dict[str, Any]) -> list[str]:
    lines = [
        f"A gain counts as clear where its paired mean is at least {MIN_RELEVANT_GAIN:.2f} AUC (fixed in "
        "advance) and more than one standard error (sd / sqrt(seeds)); with 3 seeds that is a weak bar, so a "
        "clear cell is suggestive, not significant. `logistic` and `combined` are listed for comparison "
        "(they are not augmentations).",
        "",
    ]
    for v in results["vanishing"]:
        by = ", ".join(f"{s}: {g:+.3f}" for s, g in v["gain_by_size"].items() if g is not None)
        unmeasured = v.get("sizes_not_measurable", [])
        if unmeasured and len(unmeasured) == len(v["gain_by_size"]):
            where = NOT_MEASURABLE_ONE_SEED
        else:
            where = (
                "no clear gain at any size"
                if v["smallest_clear"] is None
                else f"clear at {', '.join(map(str, v['sizes_with_clear_gain']))}"
            )
            if unmeasured:
                where += f" ({', '.join(map(str, unmeasured))}: {NOT_MEASURABLE_ONE_SEED})"
        lines.append(f"- `{v['arm']}`, {privacy_label(v['epsilon'])}: {by} -> {where}")
    return lines


def _targets(results: dict[str, Any]) -> list[str]:
    t = results["targets"]
    gain, robust, privacy = t["gain"], t["robustness"], t["privacy"]
    lines = []
    if gain["best_arm"] is None:
        lines.append(f"- Gain >= +{TARGET_GAIN:.2f} AUC at {gain['size']} patients (no DP): not measured.")
    else:
        lines.append(
            f"- Gain >= +{TARGET_GAIN:.2f} AUC at {gain['size']} patients, no DP, best of "
            f"{gain['arms_compared']} augmentation arms (`{gain['best_arm']}`): "
            f"{plus_minus(gain['gain'], gain['gain_sd'], signed=True)} -> "
            f"**{'met' if gain['met'] else 'MISSED'}**. (Best of several arms over few seeds: optimistic.)"
        )
    if robust["gain"] is not None:
        lines.append(
            f"- Robustness: `{robust['best_arm']}`'s AUC gain over `none` on the test cohort with "
            f"{100 * robust['error_rate']:g} % miscalls, {robust['size']} patients, no DP: "
            f"{plus_minus(robust['gain'], robust['gain_sd'], signed=True)} (met if positive by more than one "
            f"standard error) -> **{_verdict(robust['met'])}** (best arm on that copy: "
            f"`{robust['best_robust_arm']}`, {signed(robust['best_robust_gain'])})."
        )
    if privacy["met"] is None:
        lines.append("- Privacy: no DP arm in this run.")
    else:
        lines.append(
            f"- Privacy unchanged: {privacy['dp_arms_checked']} DP arm runs checked, noise multiplier and "
            "epsilon equal to `none`'s at the same size and seed -> "
            f"**{'met' if privacy['met'] else 'MISSED: ' + ', '.join(privacy['mismatches'])}**."
        )
    return lines


def _paper(results: dict[str, Any]) -> list[str]:
    size = results["targets"]["gain"]["size"]
    best = results["targets"]["gain"]["best_arm"]
    none = _cell(results, "none", size, "inf")
    with_best = _cell(results, best, size, "inf") if best else None
    logistic = _cell(results, "logistic", size, "inf")
    combined = _cell(results, "combined", size, "inf")
    rows = [
        ["without augmentation", f"{PAPER['auc_without']:.2f}", number(none and none["auc_mean"])],
        [
            "with augmentation",
            f"{PAPER['auc_with']:.2f}",
            number(with_best and with_best["auc_mean"]) + (f" (`{best}`)" if best else ""),
        ],
        [
            "gain",
            f"{PAPER['auc_with'] - PAPER['auc_without']:+.2f}",
            signed(results["targets"]["gain"]["gain"]),
        ],
        ["penalised logistic regression", "-", number(logistic and logistic["auc_mean"])],
        [f"combined (logistic + {COMBINED_WITH})", "-", number(combined and combined["auc_mean"])],
    ]
    return [
        markdown_table(["", "paper", f"ours ({size} patients, no DP)"], rows),
        "",
        "The paper's cohort, disease and model differ from ours; the comparison is of the size of the "
        "effect, not of the absolute AUC.",
    ]


def _commentary(results: dict[str, Any]) -> list[str]:
    lines = []
    gains = [g for g in results["gains"] if g["arm"] not in ("logistic", "combined")]
    if gains:
        top = max(gains, key=lambda g: g["auc_gain"] if g["auc_gain"] is not None else -9)
        low = min(gains, key=lambda g: g["auc_gain"] if g["auc_gain"] is not None else 9)
        lines.append(
            f"- Augmentation gains range from {signed(low['auc_gain'])} (`{low['arm']}`, {low['size']} "
            f"patients, {privacy_label(low['epsilon'])}) to {signed(top['auc_gain'])} (`{top['arm']}`, "
            f"{top['size']} patients, {privacy_label(top['epsilon'])}) AUC."
        )
    for size in results["config"]["sizes"]:
        log, none = _cell(results, "logistic", size, "inf"), _cell(results, "none", size, "inf")
        if not log or not none or log["auc_mean"] is None:
            continue
        aug = [
            r
            for r in results["table"]
            if r["size"] == size
            and r["epsilon"] == "inf"
            and r["status"] == "ok"
            and r["arm"] not in ("none", "logistic", "combined")
            and r["auc_mean"] is not None
        ]
        beats = [r["arm"] for r in aug if r["auc_mean"] > log["auc_mean"]]
        comb = _cell(results, "combined", size, "inf")
        lines.append(
            f"- {size} patients, no DP: logistic {log['auc_mean']:.3f} vs network without augmentation "
            f"{none['auc_mean']:.3f}; augmented networks above the logistic baseline: "
            f"{', '.join(f'`{a}`' for a in beats) or 'none'}"
            + (f"; combined {comb['auc_mean']:.3f}." if comb and comb["auc_mean"] is not None else ".")
        )
    run = results["config"]["run"]
    epochs = run["rounds"] * run["local-epochs"]
    steps = {}
    for r in results["rows"]:
        if r.get("n_train"):
            steps[r["size"]] = epochs * -(-r["n_train"] // run["batch-size"])
    if steps:
        lines.append(
            "- Training is short at these sizes: "
            + ", ".join(f"{s} patients: {k} optimiser steps" for s, k in sorted(steps.items()))
            + f" ({epochs} epochs of batch {run['batch-size']}, the network's settings, not changed here). "
            "A likely reason for the null result (a hypothesis, not measured here): over so few steps a 1-2 "
            "% perturbation of the calls barely changes the gradients, and there is little over-fitting to "
            "regularise."
        )
    lines.append(
        "- Augmentation adds no information about the disease: it can only regularise what the same few "
        "patients show. Where the target is missed, that is the first reason to consider, not the simulation "
        "(which was not tuned for this experiment)."
    )
    lines.append(
        "- Under DP the augmentation arms spend exactly the budget of `none` (same noise multiplier, same "
        "epsilon): the guarantee is unchanged, checked for every DP run."
    )
    return lines


def _plot(path: Path, results: dict[str, Any]) -> bool:
    """The paired AUC gain over "none" against site size, one panel per privacy level."""
    gains = results["gains"]
    if not gains:
        return False
    epsilons = results["config"]["epsilons"]
    figure = new_figure()
    figure.set_size_inches(4.2 * len(epsilons), 3.4)
    for i, epsilon in enumerate(epsilons):
        _plot_panel(figure.add_subplot(1, len(epsilons), i + 1), results, gains, epsilon)
    handles, labels = max((a.get_legend_handles_labels() for a in figure.axes), key=lambda hl: len(hl[1]))
    figure.axes[-1].legend(handles, labels, fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    figure.tight_layout()
    save_figure(figure, path)
    return True


def _plot_panel(axes: Any, results: dict[str, Any], gains: list[dict[str, Any]], epsilon: Any) -> None:
    """One privacy level's panel: a gain curve per arm, zero, the paper's gain and the target."""
    for arm in [a for a in [*results["arms"], "logistic", "combined"] if a != "none"]:
        cells = sorted(
            (g for g in gains if g["arm"] == arm and g["epsilon"] == epsilon and g["auc_gain"] is not None),
            key=lambda g: g["size"],
        )
        if not cells:
            continue
        style = "--" if arm in ("logistic", "combined") else "-"
        color = f"C{[*results['arms'], 'logistic', 'combined'].index(arm) % 10}"
        axes.errorbar(
            [g["size"] for g in cells],
            [g["auc_gain"] for g in cells],
            yerr=[g["auc_gain_sd"] or 0.0 for g in cells],
            fmt=style,
            marker="o",
            markersize=3,
            capsize=2,
            linewidth=1,
            label=arm,
            color=color,
        )
    axes.axhline(0.0, color="black", linewidth=0.8)
    axes.axhline(
        PAPER["auc_with"] - PAPER["auc_without"],
        color="tab:red",
        linestyle=":",
        linewidth=0.8,
        label="paper +0.11",
    )
    axes.axhline(TARGET_GAIN, color="gray", linestyle=":", linewidth=0.8, label=f"target +{TARGET_GAIN:.2f}")
    axes.set_xscale("log")
    sizes = results["config"]["sizes"]
    axes.set_xticks(sizes)
    axes.set_xticklabels([str(s) for s in sizes])
    axes.minorticks_off()
    axes.set_title(privacy_label(epsilon), fontsize=8)
    axes.set_xlabel("site size (patients)", fontsize=7)
    axes.set_ylabel("test AUC gain over no augmentation", fontsize=7)
    axes.tick_params(labelsize=7)


def _cell(results: dict[str, Any], arm: str, size: int, epsilon: Any) -> dict[str, Any] | None:
    for r in results["table"]:
        if r["arm"] == arm and r["size"] == size and r["epsilon"] == epsilon and r["status"] == "ok":
            return r
    return None


def _arm_order(results: dict[str, Any], row: dict[str, Any]) -> int:
    order = [*results["arms"], "logistic", "combined"]
    return order.index(row["arm"]) if row["arm"] in order else len(order)


def _eps_order(value: Any) -> float:
    return -1.0 if value == "inf" else float(value)


def _verdict(met: bool | None) -> str:
    """A target's verdict: met, MISSED, or (None: no standard error, one seed) not measurable."""
    return NOT_MEASURABLE_ONE_SEED if met is None else ("met" if met else "MISSED")
