"""The human-readable report of a federated run: RUN/report.md, its plots and the CLI's closing lines.

`results.json` is for machines; this report is for three readers at once. A clinician wants to know
whether the shared model predicts better than what their hospital could train alone, and what its
numbers mean at the bedside. A hospital's data-protection officer wants to know, in plain words,
what left the hospital and what the privacy guarantee does (and does not) promise. An ML engineer
wants the curves, the per-site numbers and every setting, to reproduce or question the run.

Every value may be missing (a baseline that was skipped, a metric undefined on a one-class split):
the report then says "not measured" instead of failing, because a run that took hours must never
lose its report to one absent number. Every file is written to a temporary name and renamed
(`genofed.common.util.atomic`), plots first and report.md last, so a report.md that exists is complete
and the images it links to exist.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from genofed.common.reporting.figures import new_figure, save_figure
from genofed.common.reporting.formatting import (
    NOT_MEASURED,
    _number,
    fmt_auc,
    fmt_bytes,
    fmt_delta,
    fmt_duration,
    fmt_epsilon,
    fmt_float,
    fmt_int,
    fmt_percent,
)
from genofed.common.reporting.tables import markdown_table
from genofed.common.util.atomic import write_text_atomic

REPORT_NAME = "report.md"
AUC_PLOT = "auc_per_round.png"
PRIVACY_PLOT = "privacy_per_round.png"

# Config keys that name the per-sample clipping norm, in the spellings a CLI or TOML might use.
CLIP_KEYS = ("clip", "max_grad_norm", "max-grad-norm", "clip_norm", "clip-norm")


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def write_report(run_dir: Path, results: dict) -> Path:
    """Write RUN/report.md and its plots from a run's results dict; return the report's path.

    Plots are written before the Markdown so that the report never links to an image that a crash
    prevented from being written; plots that cannot be drawn (no rounds, DP off) are left out and
    the report says why.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    plots = {
        AUC_PLOT: _plot_auc_per_round(run_dir / AUC_PLOT, results),
        PRIVACY_PLOT: _plot_privacy_per_round(run_dir / PRIVACY_PLOT, results),
    }
    report = run_dir / REPORT_NAME
    write_text_atomic(report, render_markdown(results, plots))
    return report


def format_summary(results: Mapping[str, Any], report_path: str | Path | None = None) -> str:
    """The few lines the CLI prints when a run ends: is it worth opening the report, and where is it.

    Kept to one screen line each so that it survives being pasted into a chat or a ticket.
    """
    local_median = _median(_site_values(results.get("local_only_auc")))
    parts = [
        f"federated {fmt_auc(results.get('test_auc'))}",
        f"pooled, no privacy {fmt_auc(results.get('pooled_auc'))}",
        f"median local-only {fmt_auc(local_median)}",
    ]
    if _number(results.get("bayes_auc")) is not None:
        parts.append(f"Bayes ceiling {fmt_auc(results.get('bayes_auc'))}")
    lines = ["Test AUC: " + " | ".join(parts), _privacy_summary_line(results)]
    wall = _number(results.get("wall_seconds"))
    per_round = _number(results.get("seconds_per_round"))
    timing = f"Wall time {fmt_duration(wall)}"
    if per_round is not None:
        timing += f" ({fmt_duration(per_round)} per round)"
    lines.append(timing)
    if report_path is not None:
        lines.append(f"Report: {report_path}")
    return "\n".join(lines)


def render_markdown(results: Mapping[str, Any], plots: Mapping[str, bool]) -> str:
    """The whole report as Markdown; `plots` says which image files exist (name -> written).

    Separate from `write_report` so the text can be tested and previewed without touching disk.
    """
    sections = [
        "# Federated training report",
        headline(results),
        _section_auc_plot(results, plots.get(AUC_PLOT, False)),
        _section_sites(results),
        _section_synthetic(results),
        _section_privacy(results, plots.get(PRIVACY_PLOT, False)),
        _section_test_metrics(results),
        _section_run_facts(results),
        _section_config(results),
    ]
    return "\n\n".join(s.strip("\n") for s in sections if s) + "\n"


# --------------------------------------------------------------------------------------------
# Reading the results dict defensively
# --------------------------------------------------------------------------------------------


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _site_values(per_site: Any) -> list[float]:
    """The measured values of a {site: value} dict; missing ones are dropped, not counted as 0."""
    return [v for v in (_number(x) for x in _mapping(per_site).values()) if v is not None]


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _rounds(results: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    rounds = results.get("rounds")
    return sorted(
        (r for r in rounds or [] if isinstance(r, Mapping)), key=lambda r: _number(r.get("round")) or 0.0
    )


def _dp_on(results: Mapping[str, Any]) -> bool:
    """DP is on exactly when the run had a budget: `epsilon_budget: null` is the schema's 'no DP'."""
    return _number(results.get("epsilon_budget")) is not None


def _site_names(results: Mapping[str, Any]) -> list[str]:
    """Every site any part of the results mentions, largest first (then by name, for stability).

    Sorting by size puts the hospitals that dominate the federated model at the top, and lets a
    reader see at a glance whether small sites gain most from federating.
    """
    sites = _mapping(results.get("sites"))
    names: set[str] = set(sites)
    for key in ("local_only_auc", "local_only_nonprivate_auc", "epsilon"):
        names.update(_mapping(results.get(key)))

    def size(name: str) -> float:
        return _number(_mapping(sites.get(name)).get("samples")) or 0.0

    return sorted(names, key=lambda name: (-size(name), name))


def _site_epsilon(results: Mapping[str, Any], site: str) -> Any:
    """Epsilon spent by a site: the per-site record first, the top-level epsilon dict as fallback."""
    value = _mapping(_mapping(results.get("sites")).get(site)).get("epsilon")
    return value if _number(value) is not None else _mapping(results.get("epsilon")).get(site)


def _config_value(results: Mapping[str, Any], keys: Sequence[str]) -> Any:
    config = _mapping(results.get("config"))
    for key in keys:
        if key in config and config[key] is not None:
            return config[key]
    return None


def _test_size(results: Mapping[str, Any]) -> tuple[float | None, float | None]:
    metrics = _mapping(results.get("test_metrics"))
    return _number(metrics.get("n")), _number(metrics.get("cases"))


# --------------------------------------------------------------------------------------------
# Headline
# --------------------------------------------------------------------------------------------


def _gap(value: float, reference: float) -> str:
    """'0.030 below' / '0.012 above' / 'the same as' (within rounding of the shown 3 decimals)."""
    diff = value - reference
    if abs(diff) < 0.0005:
        return "the same as"
    return f"{abs(diff):.3f} {'above' if diff > 0 else 'below'}"


def _cohort_words(results: Mapping[str, Any]) -> str:
    n, cases = _test_size(results)
    if n is None:
        return "the held-out test cohort"
    text = f"the held-out test cohort of {fmt_int(n)} people"
    return text + (f" ({fmt_int(cases)} with the disease)" if cases is not None else "")


def headline(results: Mapping[str, Any]) -> str:
    """One paragraph a clinician can read without any other section: was federating worth it?"""
    fed = _number(results.get("test_auc"))
    if fed is None:
        return (
            "**The federated model's test AUC was not measured**, so it cannot be compared with "
            "the alternatives below."
        )
    sentences = [f"**The federated model reached AUC {fed:.3f} on {_cohort_words(results)}.**"]
    comparisons = []
    pooled = _number(results.get("pooled_auc"))
    if pooled is not None:
        comparisons.append(
            f"{_gap(fed, pooled)} training on all hospitals' data pooled in one place "
            f"without privacy ({pooled:.3f})"
        )
    local_median = _median(_site_values(results.get("local_only_auc")))
    if local_median is not None:
        budget = " with the same privacy budget" if _dp_on(results) else ""
        comparisons.append(
            f"{_gap(fed, local_median)} the median hospital training alone{budget} ({local_median:.3f})"
        )
    if comparisons:
        sentences.append("That is " + ", and ".join(comparisons) + ".")
    missing = [
        name
        for name, value in (("pooled (all data in one place)", pooled), ("hospitals-alone", local_median))
        if value is None
    ]
    if missing:
        sentences.append(
            f"The {' and '.join(missing)} baseline{'s were' if len(missing) > 1 else ' was'} {NOT_MEASURED}."
        )
    bayes = _number(results.get("bayes_auc"))
    if bayes is not None:
        sentences.append(
            f"No model can exceed the Bayes-optimal ceiling of {bayes:.3f} for this "
            f"simulated disease (the AUC of its true risk model); the federated model is "
            f"{_gap(fed, bayes)} it."
        )
    sentences.append(
        "AUC is the chance that the model ranks a randomly chosen patient with the "
        "disease above one without it: 0.5 is a coin toss, 1.0 a perfect ranking."
    )
    if not _dp_on(results):
        sentences.append("**This run was NOT private** (see Privacy below).")
    return " ".join(sentences)


# --------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------


def _round_series(results: Mapping[str, Any], key: str) -> tuple[list[float], list[float]]:
    """(round numbers, values) for rounds where `key` was measured; gaps are skipped, not zeroed."""
    xs, ys = [], []
    for index, record in enumerate(_rounds(results)):
        value = _number(record.get(key))
        if value is not None:
            round_number = _number(record.get("round"))
            xs.append(index if round_number is None else round_number)
            ys.append(value)
    return xs, ys


def _plot_auc_per_round(path: Path, results: Mapping[str, Any]) -> bool:
    """Test AUC per round against the baselines a reader will ask about; False if nothing to plot."""
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
    """Pooled, Bayes and local-only (median, with the min-max range as a band) as horizontal lines."""
    pooled = _number(results.get("pooled_auc"))
    if pooled is not None:
        axes.axhline(pooled, color="tab:green", linestyle="--", label=f"Pooled, no privacy ({pooled:.3f})")
    bayes = _number(results.get("bayes_auc"))
    if bayes is not None:
        axes.axhline(bayes, color="black", linestyle=":", label=f"Bayes-optimal ceiling ({bayes:.3f})")
    local = _site_values(results.get("local_only_auc"))
    if local:
        median = statistics.median(local)
        axes.axhline(
            median, color="tab:orange", linestyle="-.", label=f"Median hospital alone ({median:.3f})"
        )
        if len(local) > 1:
            axes.axhspan(
                min(local),
                max(local),
                color="tab:orange",
                alpha=0.12,
                label=f"Hospitals alone, min-max ({min(local):.3f}-{max(local):.3f})",
            )
    axes.axhline(0.5, color="grey", linewidth=0.8, alpha=0.6, label="Chance (0.5)")


def _plot_privacy_per_round(path: Path, results: Mapping[str, Any]) -> bool:
    """Cumulative epsilon of the most-spent hospital per round against the budget; False if no DP."""
    xs, ys = _round_series(results, "epsilon_max")
    budget = _number(results.get("epsilon_budget"))
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
        label="Epsilon spent so far (highest of all hospitals)",
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


def _section_auc_plot(results: Mapping[str, Any], written: bool) -> str:
    if not written:
        return "## Learning curve\n\nNo per-round test AUC was measured, so there is no learning curve."
    return (
        "## Learning curve\n\n"
        f"![Test AUC per round]({AUC_PLOT})\n\n"
        "The blue line is the shared model's AUC on the held-out test cohort after each round. "
        "Dashed green: one model trained on all hospitals' data pooled centrally without privacy "
        "(what federating tries to approach). Orange: models each hospital trained on its own data "
        "only (median line, range shaded). Dotted black, when shown: the best any model can do on "
        "this simulated disease."
    )


# --------------------------------------------------------------------------------------------
# Per-hospital table
# --------------------------------------------------------------------------------------------


def _participation(results: Mapping[str, Any]) -> tuple[dict[str, int], dict[str, int]]:
    """How many rounds each site trained in and how many it refused (budget exhausted, offline...)."""
    trained: dict[str, int] = {}
    refused: dict[str, int] = {}
    for record in _rounds(results):
        for site in record.get("participants") or []:
            trained[site] = trained.get(site, 0) + 1
        for site in record.get("refused") or []:
            refused[site] = refused.get(site, 0) + 1
    return trained, refused


def _rounds_cell(site: str, trained: Mapping[str, int], refused: Mapping[str, int], any_rounds: bool) -> str:
    if not any_rounds:
        return NOT_MEASURED
    text = str(trained.get(site, 0))
    return text + (f" ({refused[site]} refused)" if refused.get(site) else "")


def _site_row(results: Mapping[str, Any], site: str, dp: bool, rounds_cell: str) -> list[str]:
    record = _mapping(_mapping(results.get("sites")).get(site))
    train, validation = record.get("train"), record.get("validation")
    split = (
        f"{fmt_int(train)} / {fmt_int(validation)}"
        if _number(train) is not None or _number(validation) is not None
        else NOT_MEASURED
    )
    row = [site, fmt_int(record.get("samples")), fmt_int(record.get("cases")), split]
    local = _mapping(results.get("local_only_auc")).get(site)
    nonprivate = _mapping(results.get("local_only_nonprivate_auc")).get(site)
    row += (
        [fmt_auc(local), fmt_auc(nonprivate)]
        if dp
        else [fmt_auc(nonprivate if _number(nonprivate) is not None else local)]
    )
    auc, spread = record.get("federated_local_auc"), _number(record.get("federated_local_auc_noise_sd"))
    row.append(fmt_auc(auc) + (f" ± {spread:.2f}" if spread and _number(auc) is not None else ""))
    if dp:
        row += [fmt_epsilon(_site_epsilon(results, site)), fmt_float(record.get("noise_multiplier"), 3)]
    row.append(rounds_cell)
    return row


def _section_sites(results: Mapping[str, Any]) -> str:
    """One row per hospital: does this hospital, in particular, gain from joining the federation?"""
    names = _site_names(results)
    if not names:
        return "## Hospitals\n\nNo per-hospital results were recorded."
    dp = _dp_on(results)
    header = ["Hospital", "Patients (declared)", "Cases", "Train / validation (declared)"]
    header += (
        ["Alone, same privacy (test AUC)", "Alone, no privacy (test AUC)"] if dp else ["Alone (test AUC)"]
    )
    header.append("Federated model on own validation split (AUC)")
    if dp:
        header += ["Epsilon spent", "Noise multiplier"]
    header.append("Rounds trained")
    trained, refused = _participation(results)
    any_rounds = bool(_rounds(results))
    rows = [_site_row(results, s, dp, _rounds_cell(s, trained, refused, any_rounds)) for s in names]
    intro = (
        "## Hospitals\n\n"
        f"The federated model is one shared model, so its AUC on the common test cohort is the same "
        f"for every hospital: **{fmt_auc(results.get('test_auc'))}**. The table compares it with what "
        "each hospital would get by training on its own data alone (evaluated on the same test cohort"
        + (", once with the same privacy budget and once without privacy" if dp else "")
        + "), and shows how the shared model does on each hospital's own validation split, which can "
        "reveal a hospital whose patients the shared model serves less well. Sorted by size. Under "
        "differential privacy that validation AUC is read from the hospital's noisy histogram of its "
        "validation patients (a release charged to its budget); ± is the spread the noise alone causes, "
        "and with a few dozen validation patients the sampling error comes on top."
    )
    return intro + "\n\n" + markdown_table(header, rows)


# --------------------------------------------------------------------------------------------
# Privacy
# --------------------------------------------------------------------------------------------


def _privacy_summary_line(results: Mapping[str, Any]) -> str:
    if not _dp_on(results):
        return "Privacy: NONE - this run was NOT differentially private (no epsilon budget)"
    spent = {s: _number(_site_epsilon(results, s)) for s in _site_names(results)}
    measured = [v for v in spent.values() if v is not None]
    head = (
        f"Privacy: epsilon budget {fmt_epsilon(results.get('epsilon_budget'))} per hospital, "
        f"delta {fmt_delta(results.get('delta'))}; max spent {fmt_epsilon(max(measured, default=None))}"
    )
    if 0 < len(spent) <= 8:
        head += " (" + ", ".join(f"{s} {fmt_epsilon(v)}" for s, v in spent.items()) + ")"
    return head


def _release_costs_text(results: Mapping[str, Any]) -> str:
    """What the run's two kinds of release cost, by themselves, at the most-spending hospital."""
    costs = [_mapping(c) for c in _mapping(results.get("release_costs")).values()]
    costs = [c for c in costs if _number(c.get("run")) is not None]
    if not costs:
        return ""
    worst = max(costs, key=lambda c: _number(c.get("run")) or 0.0)
    evaluations = int(_number(worst.get("evaluations")) or 0)
    evaluation = (
        f" and its {evaluations} evaluation(s) of the shared model (noisy histograms) "
        f"{fmt_epsilon(worst.get('evaluation'))} alone"
        if evaluations
        else ""
    )
    return (
        f"\n\n**What each release cost** (the most-spending hospital, this run): its "
        f"{int(_number(worst.get('rounds')) or 0)} training round(s) alone epsilon "
        f"{fmt_epsilon(worst.get('training'))}{evaluation}; composed, {fmt_epsilon(worst.get('run'))} "
        "(privacy losses compose sub-additively)."
    )


def _privacy_promise(epsilon: float, delta: float | None) -> str:
    """What (epsilon, delta) means, stated as the hypothesis-testing bound it actually implies."""
    factor = math.exp(epsilon)
    delta_text = fmt_delta(delta) if delta is not None else "delta"
    return (
        f"What this promises: for any single patient, everything the hospital sent is almost equally "
        f"likely whether or not that patient's data was used. Formally, the probability of any outcome "
        f"with the patient included is at most e^epsilon times the probability without them, plus "
        f"delta. So anyone who sees the shared model and wants to decide whether a particular person "
        f"was in a hospital's data (for example, to learn that they have the disease) is limited: "
        f"if their test wrongly accuses non-participants a fraction p of the time, it can correctly "
        f"identify participants at most e^epsilon × p + delta of the time (here e^{epsilon:g} = "
        f"{factor:.1f}, delta = {delta_text}). Delta is the small probability that this bound does not "
        f"hold and should be well below 1 / (number of patients). The guarantee holds whatever the "
        f"adversary knows about the other patients. It protects against membership inference and "
        f"reconstruction of individual records; it does not hide facts that are true of the whole "
        f"population (the model is meant to learn which variants raise risk)."
    )


def _delta_warning(results: Mapping[str, Any], delta: float | None) -> str:
    """Flag a delta that is not small relative to the smallest hospital: the guarantee would be weak."""
    sizes = [
        v for v in (_number(_mapping(r).get("samples")) for r in _mapping(results.get("sites")).values()) if v
    ]
    if delta is None or not sizes or delta < 1 / max(min(sizes), 1):
        return ""
    return (
        f"\n\n**Warning:** delta = {fmt_delta(delta)} is not below 1 / {fmt_int(min(sizes))} (the "
        "smallest hospital); the guarantee is weak at this setting."
    )


def _section_privacy(results: Mapping[str, Any], plot_written: bool) -> str:
    """Plain-words privacy section for the data-protection officer; loud when the run was not private."""
    leaves = (
        "**What leaves a hospital:** model weights (the update after local training); when the run asks "
        "for it, a noisy histogram of how the shared model scores its validation patients (by class and "
        "risk bin), from which the hospital's validation AUC in the table is read; and public facts: its "
        "name, its cohort sizes, the epsilon it has spent and the noise it used. No genotypes, no "
        "phenotypes and no sample ids ever leave the hospital, nor any loss, AUC or count of cases "
        "computed exactly on its patients."
    )
    if not _dp_on(results):
        return (
            "## Privacy\n\n"
            "**This run was NOT private: no differential privacy was applied** (no epsilon budget was "
            "set). Each hospital's model updates were computed from its patients' data without clipping "
            "or noise, and model updates can leak information about individual patients (for example, "
            "whether a given person was in the training data). Use this setting only for simulated "
            "data or benchmarks, never on real patients.\n\n" + leaves
        )
    budget = _number(results.get("epsilon_budget")) or 0.0
    delta = _number(results.get("delta"))
    clip = _config_value(results, CLIP_KEYS)
    clip_text = f" (to an L2 norm of {clip})" if clip is not None else ""
    text = (
        "## Privacy\n\n"
        "Each hospital's training used differential privacy (DP-SGD, Opacus): every patient's "
        f"influence on each update was clipped{clip_text} and Gaussian noise added, so that the whole "
        f"run stays within epsilon = {budget:g} at delta = {fmt_delta(delta)} for each hospital. Smaller "
        "epsilon means stronger protection; values around 1 are considered strong and values up to "
        "about 10 are common in practice, while the noise needed for small epsilon costs accuracy "
        "(compare the two 'Alone' columns above).\n\n"
        + _privacy_promise(budget, delta)
        + "\n\n"
        + leaves
        + " The epsilon above covers both the model "
        "weights and the validation histograms: every number computed on a hospital's patients is charged "
        "to its ledger.\n\n"
        "**Accounting:** each hospital keeps its own privacy ledger and adds up the privacy cost of every "
        "round it trains, and of every evaluation it answers, with Opacus' Renyi-DP (RDP) accountant, "
        "converted to (epsilon, delta). Its noise "
        "multiplier is calibrated so that the planned rounds fit the budget, and a hospital refuses to "
        "train in a round that would exceed it. The guarantee is per hospital: hospitals hold different "
        "patients, so each patient is covered by their hospital's epsilon (a patient treated at two "
        "hospitals is covered by each, up to twice the epsilon in total)." + _delta_warning(results, delta)
    )
    spent = [v for v in (_number(_site_epsilon(results, s)) for s in _site_names(results)) if v is not None]
    if spent:
        text += (
            f"\n\nEpsilon actually spent: {fmt_epsilon(min(spent))} to {fmt_epsilon(max(spent))} "
            f"across hospitals (budget {budget:g})."
        )
    text += _release_costs_text(results)
    if plot_written:
        text += f"\n\n![Cumulative epsilon per round]({PRIVACY_PLOT})"
    return text


# --------------------------------------------------------------------------------------------
# Test-cohort metrics
# --------------------------------------------------------------------------------------------


def _metric_rows(metrics: Mapping[str, Any]) -> list[list[str]]:
    """Each metric with one sentence a clinician can act on; the threshold is named where it matters."""
    threshold = _number(metrics.get("threshold"))
    at = f"predicted risk above {threshold:g}" if threshold is not None else "the decision threshold"
    n, cases = _number(metrics.get("n")), _number(metrics.get("cases"))
    prevalence = cases / n if n and cases is not None else None
    brier_ref = (
        f" A model that gave everyone the test cohort's prevalence would score "
        f"{prevalence * (1 - prevalence):.3f}."
        if prevalence is not None
        else ""
    )
    return [
        [
            "AUC",
            fmt_auc(metrics.get("auc")),
            "Chance that a random patient with the disease is ranked above a random one without it "
            "(0.5 = coin toss, 1 = perfect). Independent of any threshold.",
        ],
        [
            "Accuracy",
            fmt_percent(metrics.get("accuracy")),
            f"Share of people classified correctly when {at} counts as high risk. Misleading for rare "
            "diseases: calling everyone healthy is accurate too.",
        ],
        [
            "Sensitivity",
            fmt_percent(metrics.get("sensitivity")),
            f"Share of patients with the disease flagged as high risk ({at}); the rest are missed.",
        ],
        [
            "Specificity",
            fmt_percent(metrics.get("specificity")),
            "Share of people without the disease correctly not flagged; the rest are false alarms.",
        ],
        [
            "Brier score",
            fmt_float(metrics.get("brier")),
            "Mean squared error of the predicted risks (0 = perfect; lower is better)." + brier_ref,
        ],
        [
            "Calibration error (ECE)",
            fmt_float(metrics.get("ece")),
            "Average gap between predicted risk and the observed rate of disease, over 10 risk bins: "
            + _ece_words(metrics.get("ece")),
        ],
    ]


def _ece_words(ece: Any) -> str:
    """ECE as percentage points, the unit a clinician reads a risk in."""
    number = _number(ece)
    if number is None:
        return "0 means a predicted 30% risk comes true for 30% of such patients."
    return (
        f"predicted risks are off from what actually happened by about {100 * number:.1f} "
        "percentage points on average (0 = a predicted 30% risk comes true for 30% of such patients)."
    )


def _section_test_metrics(results: Mapping[str, Any]) -> str:
    metrics = _mapping(results.get("test_metrics"))
    if not metrics:
        return "## Final model on the test cohort\n\nTest-cohort metrics were not measured."
    n, cases = _number(metrics.get("n")), _number(metrics.get("cases"))
    cohort = (
        f"{fmt_int(n)} people, {fmt_int(cases)} with the disease "
        f"({fmt_percent(cases / n) if n and cases is not None else NOT_MEASURED} prevalence)"
    )
    return (
        "## Final model on the test cohort\n\n"
        f"Held-out test cohort: {cohort}. Nobody in it was used for training.\n\n"
        + markdown_table(["Metric", "Value", "What it means"], _metric_rows(metrics))
    )


# --------------------------------------------------------------------------------------------
# Run facts and configuration
# --------------------------------------------------------------------------------------------


def _model_text(results: Mapping[str, Any]) -> str:
    model = _mapping(results.get("model"))
    if not model:
        return NOT_MEASURED
    params = fmt_int(model.get("parameters"))
    shape = ", ".join(f"{k}={v}" for k, v in model.items() if k != "parameters")
    return f"{params} parameters" + (f" ({shape})" if shape else "")


def _completed_rounds(results: Mapping[str, Any]) -> str:
    """Training rounds run (round 0 is the initial model, not a round), else the configured count."""
    rounds = [r for r in _rounds(results) if (_number(r.get("round")) or 0) > 0]
    if rounds:
        return str(len(rounds))
    configured = _config_value(results, ("rounds", "num_rounds", "num-rounds"))
    return str(configured) if configured is not None else NOT_MEASURED


def _section_run_facts(results: Mapping[str, Any]) -> str:
    rows = [
        ["Strategy", results.get("strategy") or NOT_MEASURED],
        ["Secure aggregation", _secagg_text(results)],
        ["Rounds", _completed_rounds(results)],
        ["Wall time", fmt_duration(results.get("wall_seconds"))],
        ["Time per round", fmt_duration(results.get("seconds_per_round"))],
        ["Sent per hospital per round", fmt_bytes(results.get("bytes_sent_per_client_per_round"))],
        ["Model", _model_text(results)],
        ["Starting model", _start_text(results)],
        ["Augmentation", results.get("augment") or "not used"],
        ["Privacy", _privacy_summary_line(results).removeprefix("Privacy: ")],
    ]
    return "## Run facts\n\n" + markdown_table(["", ""], rows)


def _secagg_text(results: Mapping[str, Any]) -> str:
    """Whether the coordinator could see one hospital's update (SecAgg+ off) or only their sum."""
    if results.get("secagg"):
        return "on (SecAgg+): the coordinator saw only the sum of the hospitals' updates"
    return "off: the coordinator saw each hospital's update"


def _start_text(results: Mapping[str, Any]) -> str:
    """Where round 0 came from, and how much of it the hospitals trained (privately)."""
    trained = results.get("trainable_parameters")
    trained_text = f"; hospitals trained {fmt_int(trained)} parameters" if trained else ""
    pretrained = _mapping(results.get("pretrained"))
    if not pretrained:
        return "randomly initialised" + trained_text
    source = pretrained.get("source") or "an unnamed source"
    task = _mapping(pretrained.get("task"))
    samples = pretrained.get("source_samples")
    people = f", {fmt_int(samples)} people" if samples else ""
    return (
        f"pretrained on {source} ({task.get('kind', '?')} task '{task.get('label', '?')}'{people}; content hash "
        f"{str(pretrained.get('content_hash', ''))[:16]}), fine-tuned '{results.get('finetune', 'full')}'"
        + trained_text
    )


def _section_synthetic(results: Mapping[str, Any]) -> str:
    """Which hospitals trained with synthetic records, and why the others did not: a clinician
    must be able to see that failed batches were not used."""
    synthetic = _mapping(results.get("synthetic"))
    if not synthetic:
        return ""
    eps = synthetic.get("generator_epsilon")
    cost = (
        f"Under DP each generator spent epsilon {eps:g} of its hospital's budget, charged to the same privacy ledger, "
        "so the epsilon below covers the generator and the training together."
        if eps is not None
        else "Without DP the generators were trained without a privacy guarantee, like the rest of this run."
    )
    rows = []
    for site, record in sorted(_mapping(synthetic.get("sites")).items()):
        record = _mapping(record)
        verdict = (
            "passed"
            if record.get("passed")
            else "failed: " + ", ".join(record.get("failed_checks") or []) + "; not used"
        )
        spurious = record.get("spurious_association_rate")
        used = _mapping(_mapping(results.get("sites")).get(site)).get("synthetic")
        rows.append(
            [
                site,
                verdict,
                fmt_int(record.get("records_generated")),
                fmt_int(record.get("records_accepted")),
                fmt_int(used),
                "n/a" if spurious is None else f"{100 * spurious:.0f} %",
            ]
        )
    table = markdown_table(
        ["Hospital", "Validation", "Generated", "Accepted", "Trained with", "Spurious associations"], rows
    )
    return (
        f"## Synthetic data\n\nEach hospital trained a {str(synthetic.get('generator', 'vae')).upper()} on its own "
        f"patients and added up to {synthetic.get('ratio', 0):g} validated synthetic records per real training patient. "
        f"Batches that failed validation were not used; records too close to a real patient were dropped. {cost}\n\n"
        + table
    )


def _config_cell(value: Any) -> str:
    if value is None:
        return "not set"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _section_config(results: Mapping[str, Any]) -> str:
    """Every setting, last, so the ML engineer can reproduce the run without reading results.json."""
    config = _mapping(results.get("config"))
    if not config:
        return "## Appendix: full configuration\n\nThe configuration was not recorded."
    rows = [[key, _config_cell(value)] for key, value in sorted(config.items())]
    return "## Appendix: full configuration\n\n" + markdown_table(["Setting", "Value"], rows)
