"""The report's privacy section, for a hospital's data-protection officer, and the one-line privacy summary.

It says in plain words what left each hospital, what the (epsilon, delta) guarantee promises and
does not promise, how it was accounted, and what was actually spent; and it says loudly when a run
was not private at all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from genofed.common.reporting.formatting import fmt_delta, fmt_epsilon, fmt_int
from genofed.server.report.plots import PRIVACY_PLOT, privacy_plot_caption
from genofed.server.report.reading import config_value, dp_on, mapping, number, site_epsilon, site_names

# Config keys that name the per-sample clipping norm, in the spellings a CLI or TOML might use.
CLIP_KEYS = ("clip", "max_grad_norm", "max-grad-norm", "clip_norm", "clip-norm")


def privacy_summary_line(results: Mapping[str, Any]) -> str:
    """'Privacy: ...' in one line: the budget, delta and epsilon spent per hospital, or NONE."""
    if not dp_on(results):
        return "Privacy: NONE - this run was NOT differentially private (no epsilon budget)"
    spent = {s: number(site_epsilon(results, s)) for s in site_names(results)}
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
    costs = [mapping(c) for c in mapping(results.get("release_costs")).values()]
    costs = [c for c in costs if number(c.get("run")) is not None]
    if not costs:
        return ""
    worst = max(costs, key=lambda c: number(c.get("run")) or 0.0)
    evaluations = int(number(worst.get("evaluations")) or 0)
    evaluation = (
        f" and its {evaluations} evaluation(s) of the shared model (noisy histograms) "
        f"{fmt_epsilon(worst.get('evaluation'))} alone"
        if evaluations
        else ""
    )
    return (
        f"\n\n**What each release cost** (the most-spending hospital, this run): its "
        f"{int(number(worst.get('rounds')) or 0)} training round(s) alone epsilon "
        f"{fmt_epsilon(worst.get('training'))}{evaluation}; composed, {fmt_epsilon(worst.get('run'))} "
        "(privacy losses compose sub-additively)."
    )


#: Above this epsilon the report calls the worst-case bound weak: e^epsilon grows from 7.4 at 2 to
#: 2981 at 8, and the false-accusation rate above which the bound says nothing falls from 14 % to 0.03 %.
WEAK_EPSILON = 2.0

#: Where the project's empirical privacy audit is described (named, not linked: the report is read
#: from the run folder, where a relative link would not resolve).
AUDIT_DOC = "docs/privacy-audit.md"


def vacuous_above(epsilon: float, delta: float | None) -> float:
    """The false-accusation rate p above which e^epsilon p + delta reaches 1 and bounds nothing."""
    return max(0.0, 1.0 - (delta or 0.0)) / math.exp(epsilon)


def _privacy_bound(epsilon: float, delta: float | None) -> str:
    """The (epsilon, delta) definition and the hypothesis-testing bound it implies, with numbers."""
    factor = math.exp(epsilon)
    delta_text = fmt_delta(delta) if delta is not None else "delta"
    return (
        f"What this promises: for any single patient, any outcome of what the hospital sent is at most "
        f"e^epsilon = {factor:,.1f} times as likely with that patient's data as without it, plus delta. "
        f"So anyone who sees the shared model and wants to decide whether a particular person was in a "
        f"hospital's data (for example, to learn that they have the disease) is limited: if their test "
        f"wrongly accuses non-participants a fraction p of the time, it can correctly identify "
        f"participants at most e^epsilon × p + delta of the time (here e^{epsilon:g} = {factor:,.1f}, "
        f"delta = {delta_text}). Delta is the small probability that this bound does not hold and "
        f"should be well below 1 / (number of patients). The guarantee holds whatever the adversary "
        f"knows about the other patients."
    )


def _privacy_strength(epsilon: float, delta: float | None) -> str:
    """What the bound is worth at this epsilon: strong when small, nearly vacuous when large.

    At epsilon 8 the bound allows an attacker who wrongly accuses 1 in 3,000 to identify every
    participant, so calling it protection against membership inference would overstate it; what
    then protects patients in practice is what audits measure, not what the bound proves.
    """
    scope = (
        "It does not hide facts that are true of the whole population (the model is meant to learn "
        "which variants raise risk)."
    )
    if epsilon <= WEAK_EPSILON:
        return (
            f"At epsilon {epsilon:g} this is a strong guarantee: it protects against membership "
            f"inference and reconstruction of individual records. {scope}"
        )
    limit = vacuous_above(epsilon, delta)
    return (
        f"**At epsilon {epsilon:g} this worst-case guarantee is weak:** the bound says nothing about a "
        f"test that wrongly accuses more than {100 * limit:.3g} % of non-participants (there "
        f"e^epsilon × p + delta already exceeds 1), so it cannot by itself be read as protection against "
        f"membership inference or reconstruction. The practical protection at this epsilon rests on "
        f"empirical evidence: the project's privacy audit ({AUDIT_DOC}) attacks a hospital's releases "
        f"to measure how much they reveal in practice; read it, and weigh a smaller epsilon, before "
        f"relying on this run's privacy. {scope}"
    )


def _privacy_promise(epsilon: float, delta: float | None) -> str:
    """The bound with its numbers, then what it is worth at this epsilon."""
    return _privacy_bound(epsilon, delta) + " " + _privacy_strength(epsilon, delta)


def _delta_warning(results: Mapping[str, Any], delta: float | None) -> str:
    """Flag a delta that is not small relative to the smallest hospital: the guarantee would be weak."""
    declared = (number(mapping(record).get("samples")) for record in mapping(results.get("sites")).values())
    sizes = [v for v in declared if v]
    if delta is None or not sizes or delta < 1 / max(min(sizes), 1):
        return ""
    return (
        f"\n\n**Warning:** delta = {fmt_delta(delta)} is not below 1 / {fmt_int(min(sizes))} (the "
        "smallest hospital); the guarantee is weak at this setting."
    )


_WHAT_LEAVES = (
    "**What leaves a hospital:** model weights (the update after local training); when the run asks "
    "for it, a noisy histogram of how the shared model scores its validation patients (by class and "
    "risk bin), from which the hospital's validation AUC in the table is read; and public facts: its "
    "name, its cohort sizes, the epsilon it has spent and the noise it used. No genotypes, no "
    "phenotypes and no sample ids ever leave the hospital, nor any loss, AUC or count of cases "
    "computed exactly on its patients."
)


def privacy_section(results: Mapping[str, Any], plot_written: bool) -> str:
    """Plain-words privacy section for the data-protection officer; loud when the run was not private.

    `plot_written` says whether the privacy-per-round plot exists, so that the section links to it.
    """
    if not dp_on(results):
        return (
            "## Privacy\n\n"
            "**This run was NOT private: no differential privacy was applied** (no epsilon budget was "
            "set). Each hospital's model updates were computed from its patients' data without clipping "
            "or noise, and model updates can leak information about individual patients (for example, "
            "whether a given person was in the training data). Use this setting only for simulated "
            "data or benchmarks, never on real patients.\n\n" + _WHAT_LEAVES
        )
    budget = number(results.get("epsilon_budget")) or 0.0
    delta = number(results.get("delta"))
    clip = config_value(results, CLIP_KEYS)
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
        + _WHAT_LEAVES
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
    spent = [v for v in (number(site_epsilon(results, s)) for s in site_names(results)) if v is not None]
    if spent:
        text += (
            f"\n\nEpsilon actually spent: {fmt_epsilon(min(spent))} to {fmt_epsilon(max(spent))} "
            f"across hospitals (budget {budget:g})."
        )
    text += _release_costs_text(results)
    if plot_written:
        text += f"\n\n![Cumulative epsilon per round]({PRIVACY_PLOT})\n\n{privacy_plot_caption(results)}"
    return text
