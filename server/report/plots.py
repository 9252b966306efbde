"""The report's two figures (test AUC per round, epsilon spent per round) and the learning-curve section.

The learning-curve section's caption names the colours and line styles of the AUC plot, so it lives
beside the code that draws them. matplotlib is imported only when a figure is drawn
(`genofed.common.reporting.figures.new_figure`), so importing this module stays light.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genofed.common.reporting.figures import new_figure, save_figure
from genofed.common.reporting.formatting import fmt_delta
from genofed.server.report.reading import (
    LEDGER_ALSO_WORDS,
    any_spent_before,
    dp_on,
    mapping,
    md_text,
    number,
    rounds,
    site_values,
)

AUC_PLOT = "auc_per_round.png"
PRIVACY_PLOT = "privacy_per_round.png"


def _round_series(results: Mapping[str, Any], key: str) -> tuple[list[float], list[float]]:
    """(round numbers, values) for rounds where `key` was measured; gaps are skipped, not zeroed."""
    xs, ys = [], []
    for index, record in enumerate(rounds(results)):
        value = number(record.get(key))
        if value is not None:
            round_number = number(record.get("round"))
            xs.append(index if round_number is None else round_number)
            ys.append(value)
    return xs, ys


def _alone_privacy(results: Mapping[str, Any]) -> str:
    """', same privacy' when the hospitals-alone baselines trained under the run's budget, else ''.

    Without it a reader compares the federated model with hospitals that look privacy-free, and
    misreads the gap as the price of privacy rather than the gain of federating.
    """
    return ", same privacy" if dp_on(results) else ""


def plot_auc_per_round(path: Path, results: Mapping[str, Any]) -> bool:
    """Test AUC per round against the baselines a reader will ask about; False if nothing to plot.

    `path` is the PNG to write (atomically); nothing is written when no round measured a test AUC.
    """
    xs, ys = _round_series(results, "test_auc")
    if not xs:
        return False
    figure = new_figure()
    axes = figure.add_subplot()
    axes.plot(
        xs,
        ys,
        marker="o" if len(xs) <= 30 else None,
        color="tab:blue",
        linewidth=2,
        label="Federated model (test cohort)",
    )
    _reference_lines(axes, results)
    axes.set_xlabel("Round (0 = initial model, before any hospital trained)")
    axes.set_ylabel("AUC on the held-out test cohort")
    axes.set_title("Federated model: test AUC per round")
    axes.set_xticks(xs if len(xs) <= 20 else axes.get_xticks())
    axes.set_xlim(min(xs) - 0.3, max(xs) + 0.3)
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize=8, framealpha=0.9)
    save_figure(figure, path)
    return True


def _reference_lines(axes: Any, results: Mapping[str, Any]) -> None:
    """Pooled, the plain DP logistic regression federation, Bayes and local-only (median, with the
    min-max range as a band) as horizontal lines."""
    pooled = number(results.get("pooled_auc"))
    if pooled is not None:
        axes.axhline(pooled, color="tab:green", linestyle="--", label=f"Pooled, no privacy ({pooled:.3f})")
    plain = number(results.get("plain_dp_logistic_auc"))
    if plain is not None:
        axes.axhline(
            plain, color="tab:purple", linestyle=(0, (5, 2, 1, 2)), label=f"Plain DP logistic ({plain:.3f})"
        )
    bayes = number(results.get("bayes_auc"))
    if bayes is not None:
        axes.axhline(bayes, color="black", linestyle=":", label=f"Bayes-optimal ceiling ({bayes:.3f})")
    local = site_values(results.get("local_only_auc"))
    privacy = _alone_privacy(results)
    if local:
        median = statistics.median(local)
        axes.axhline(
            median,
            color="tab:orange",
            linestyle="-.",
            label=f"Median hospital alone{privacy} ({median:.3f})",
        )
        if len(local) > 1:
            axes.axhspan(
                min(local),
                max(local),
                color="tab:orange",
                alpha=0.12,
                label=f"Hospitals alone{privacy}, min-max ({min(local):.3f}-{max(local):.3f})",
            )
    axes.axhline(0.5, color="grey", linewidth=0.8, alpha=0.6, label="Chance (0.5)")


def final_epsilon(results: Mapping[str, Any]) -> float | None:
    """The most any hospital reported spending by the end of the run (None: not recorded).

    This is the total the report and results.json state; it exceeds the last round's
    `epsilon_max` when hospitals released noisy validation histograms after their last training
    round, which the per-round records (taken at training time) do not include.
    """
    return max(site_values(results.get("epsilon")), default=None)


#: How far a recorded epsilon may sit from a plotted one and still be that point (two decimals shown).
SAME_EPSILON = 0.005


def top_spenders(totals: Mapping[str, Any]) -> list[str]:
    """The hospitals whose epsilon in `totals` is the highest (equal ones tie), in `totals`' order.

    The report's one definition of "the most-spending hospital": the highest total over the run.
    The release costs and the privacy plot's caption both name it from this, so that the phrase
    cannot mean one hospital in one place and another in the next.
    """
    values = {str(name): number(value) for name, value in mapping(totals).items()}
    measured = {name: value for name, value in values.items() if value is not None}
    if not measured:
        return []
    top = max(measured.values())
    return [name for name, value in measured.items() if math.isclose(value, top, rel_tol=1e-9)]


def spender_words(names: list[str]) -> str:
    """'astrakhan, the most-spending hospital, level with elista': the hospital named, and any tied
    with it, so that a reader can find its row in the Hospitals table."""
    if not names:
        return "the most-spending hospital"
    words = f"{md_text(names[0])}, the most-spending hospital"
    if len(names) > 1:
        words += f", level with {' and '.join(md_text(name) for name in names[1:])}"
    return words


def most_spending_sites(results: Mapping[str, Any]) -> list[str]:
    """The hospitals with the highest run total (results.json `epsilon`, per hospital)."""
    return top_spenders(mapping(results.get("epsilon")))


def _line_end_owner(results: Mapping[str, Any], line_end: float) -> str:
    """' The line's last point is rostov's: ...' when the line ends at another hospital's training.

    The line is the highest training epsilon of any hospital, and a hospital whose training cost
    the most need not have the highest total (evaluations cost each hospital differently). Said
    only when release_costs records whose training it is; '' otherwise.
    """
    costs = {name: mapping(c).get("training") for name, c in mapping(results.get("release_costs")).items()}
    owners = top_spenders(costs)
    if not owners or abs((number(costs[owners[0]]) or 0.0) - line_end) >= SAME_EPSILON:
        return ""
    spenders = most_spending_sites(results)
    if not spenders or set(owners) & set(spenders):
        return ""
    names = " and ".join(md_text(name) for name in owners)
    return (
        f" The line's last point is {names}'s: its training alone cost the most, but its total is "
        f"lower than {md_text(spenders[0])}'s."
    )


def final_release_point(results: Mapping[str, Any]) -> tuple[float, float] | None:
    """(round, total epsilon) of the release after the last training round; None when there is none.

    The privacy plot must end at the total the text states, so an evaluation after the last round
    gets its own point at that round.
    """
    xs, ys = _round_series(results, "epsilon_max")
    total = final_epsilon(results)
    if not xs or total is None or total <= ys[-1] + 0.005:
        return None
    return xs[-1], total


def plot_privacy_per_round(path: Path, results: Mapping[str, Any]) -> bool:
    """Cumulative epsilon of the highest-spending hospital per round against the budget, ending at the
    run's total (the final evaluation release included); False if no DP.

    `path` is the PNG to write (atomically); nothing is written without rounds or without DP.
    """
    xs, ys = _round_series(results, "epsilon_max")
    budget = number(results.get("epsilon_budget"))
    if not xs or (budget is None and not any(ys)):
        return False
    figure = new_figure()
    axes = figure.add_subplot()
    axes.plot(
        xs,
        ys,
        marker="o" if len(xs) <= 30 else None,
        color="tab:purple",
        linewidth=2,
        label="Epsilon spent by training so far (highest of all hospitals)",
    )
    final = final_release_point(results)
    if final is not None:
        axes.plot([final[0], final[0]], [ys[-1], final[1]], color="tab:purple", linestyle=":")
        axes.plot(
            *final,
            marker="*",
            markersize=14,
            color="tab:purple",
            linestyle="none",
            label=f"Run total, after the final evaluation release (noisy validation histograms): "
            f"{final[1]:.2f}",
        )
    if budget is not None:
        axes.axhline(
            budget, color="tab:red", linestyle="--", label=f"Budget per hospital (epsilon = {budget:g})"
        )
    axes.set_ylim(bottom=0)
    axes.set_xlabel("Round")
    axes.set_ylabel("Cumulative epsilon (lower = more private)")
    delta = fmt_delta(results.get("delta"))
    axes.set_title(f"Privacy spent per round (delta = {delta})")
    axes.set_xticks(xs if len(xs) <= 20 else axes.get_xticks())
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize=8, framealpha=0.9)
    save_figure(figure, path)
    return True


def privacy_plot_caption(results: Mapping[str, Any]) -> str:
    """How to read the privacy plot, in words that agree with its last point."""
    spender = spender_words(most_spending_sites(results))
    final = final_release_point(results)
    if final is not None:
        _, ys = _round_series(results, "epsilon_max")
        return (
            f"The line is the highest epsilon any hospital had spent after each round's training "
            f"({ys[-1]:.2f} after round {final[0]:g}); the star is {_total_words(results)}, "
            f"{final[1]:.2f}, at {spender}, after the noisy validation histograms released once training "
            "ended." + _line_end_owner(results, ys[-1]) + _ledger_words(results)
        )
    total = final_epsilon(results)
    end = f", ending at {_total_words(results)} ({total:.2f}) at {spender}" if total is not None else ""
    return f"The line is the highest epsilon any hospital had spent after each round{end}." + _ledger_words(
        results
    )


def _total_words(results: Mapping[str, Any]) -> str:
    """What the plot's last figure is: the run's total, or where a hospital's ledger held spending
    from before this run, its ledger's total (`_ledger_words`)."""
    return "the ledger's total after this run" if any_spent_before(results) else "the run's total"


def _ledger_words(results: Mapping[str, Any]) -> str:
    """When a hospital's ledger held spending from before this run: the plotted figures are ledger
    totals (what the hospitals report), which include it."""
    if not any_spent_before(results):
        return ""
    return (
        " Both are ledger totals, as the hospitals report them: they include every release a "
        f"hospital's ledger holds: this run's, and {LEDGER_ALSO_WORDS} (this run alone, as on the "
        "coordinator's record: "
        "What each release cost)."
    )


def learning_curve_section(written: bool, results: Mapping[str, Any]) -> str:
    """The learning-curve section: the AUC plot and how to read it, or why there is none.

    `written` says whether the AUC plot exists; `results` which reference lines it has (each is
    described only when drawn: a run without reference models, `flwr run` or `genofed simulate
    --no-references`, has none) and whether the hospitals-alone baselines were private (they train
    with the run's budget when it has one).
    """
    if not written:
        return "## Learning curve\n\nNo per-round test AUC was measured, so there is no learning curve."
    lines = ["The blue line is the shared model's AUC on the held-out test cohort after each round."]
    if number(results.get("pooled_auc")) is not None:
        lines.append(
            "Dashed green: one model trained on all hospitals' data pooled centrally without privacy "
            "(what federating tries to approach)."
        )
    if number(results.get("plain_dp_logistic_auc")) is not None:
        lines.append(
            "Dash-dotted purple: a plain DP logistic regression federation at the same epsilon per "
            "hospital (what a private federation must beat to be worth joining)."
        )
    if site_values(results.get("local_only_auc")):
        alone = (
            "with the same privacy budget as the federation (median line, range shaded; the Hospitals "
            "table also gives each without privacy)"
            if dp_on(results)
            else "without privacy (median line, range shaded)"
        )
        lines.append(f"Orange: models each hospital trained on its own data only, {alone}.")
    if number(results.get("bayes_auc")) is not None:
        lines.append("Dotted black: the best any model can do on this simulated disease.")
    if len(lines) == 1:
        lines.append(
            "This run trained no reference models (all data pooled, each hospital alone), so there is "
            "no baseline to compare it with."
        )
    elif results.get("simulated_patients") is False:
        lines.append(
            "On real exports the reference lines are trained on this run's own draw of the hospitals' "
            "splits, which the next run draws anew (see the headline)."
        )
    return "## Learning curve\n\n" + f"![Test AUC per round]({AUC_PLOT})\n\n" + " ".join(lines)
