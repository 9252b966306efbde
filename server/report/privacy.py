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
from genofed.server.report.plots import PRIVACY_PLOT, privacy_plot_caption, spender_words, top_spenders
from genofed.server.report.privacy_mode import (
    coalition_cap,
    coalition_epsilons,
    distributed_dp,
    worst_coalition_epsilon,
)
from genofed.server.report.reading import (
    LEDGER_ALSO_WORDS,
    any_spent_before,
    config_value,
    dp_on,
    mapping,
    md_text,
    never_trained,
    number,
    run_spend,
    site_epsilon,
    site_names,
    site_values,
    spent_before,
)

# Config keys that name the per-sample clipping norm, in the spellings a CLI or TOML might use.
CLIP_KEYS = ("clip", "max_grad_norm", "max-grad-norm", "clip_norm", "clip-norm")


def privacy_summary_line(results: Mapping[str, Any], *, markdown: bool = False) -> str:
    """'Privacy: ...' in one line: the budget, delta and epsilon spent per hospital, or NONE.

    Under distributed DP the spent epsilons hold only against a coordinator that sees the SecAgg+
    sum, so the line says so and adds the largest coalition epsilon: a reader of this line alone
    must not take the small figure for a promise against everyone. `markdown`: the line goes
    into report.md, so each site name is escaped (`md_text`); plain for the terminal.
    """
    if not dp_on(results):
        return "Privacy: NONE - this run was NOT differentially private (no epsilon budget)"
    spent = {s: number(site_epsilon(results, s)) for s in site_names(results)}
    measured = [v for v in spent.values() if v is not None]
    mode = "distributed DP under SecAgg+, " if distributed_dp(results) else ""
    before = any_spent_before(results)
    head = (
        f"Privacy: {mode}epsilon budget {fmt_epsilon(results.get('epsilon_budget'))} per hospital, "
        f"delta {fmt_delta(results.get('delta'))}; max spent{' (ledger totals, all runs)' if before else ''} "
        f"{fmt_epsilon(max(measured, default=None))}"
    )
    if 0 < len(spent) <= 8:
        named = md_text if markdown else str  # Markdown for the report, plain for the terminal
        head += " (" + ", ".join(f"{named(s)} {fmt_epsilon(v)}" for s, v in spent.items()) + ")"
    if before:
        run = [v for v in (run_spend(results, s) for s in spent) if v is not None]
        head += f"; in this run alone at most {fmt_epsilon(max(run, default=None))}"
    if distributed_dp(results):
        head += (
            " against a coordinator that sees only the sum; against the coordinator with all other "
            f"hospitals colluding, max coalition epsilon {fmt_epsilon(worst_coalition_epsilon(results))}"
        )
    return head


def _release_costs_text(results: Mapping[str, Any]) -> str:
    """What each kind of release cost by itself at the most-spending hospital (training, evaluation,
    and a synthetic-data generator's release when the run trained one), and all composed.

    The hospital is named, and chosen by the highest run total (`plots.top_spenders`), as the
    privacy plot's caption chooses it: a reader comparing the two figures must compare one hospital.
    """
    costs = {name: mapping(c) for name, c in mapping(results.get("release_costs")).items()}
    spenders = top_spenders({name: c.get("run") for name, c in costs.items()})
    if not spenders:
        return ""
    worst = costs[spenders[0]]
    evaluations = int(number(worst.get("evaluations")) or 0)
    evaluation = (
        f" and its {evaluations} evaluation(s) of the shared model (noisy histograms) "
        f"{fmt_epsilon(worst.get('evaluation'))} alone"
        if evaluations
        else ""
    )
    generator = (
        f", and its synthetic-data generator (trained under DP on its patients before the federation, "
        f"--synthetic-ratio) {fmt_epsilon(worst.get('generator'))} alone"
        if number(worst.get("generator")) is not None
        else ""
    )
    against = "; epsilon against a coordinator that sees only the sum" if distributed_dp(results) else ""
    total = number(site_epsilon(results, spenders[0]))
    ledger = (
        f" Its ledger's total, which the tables give beside it, is {fmt_epsilon(total)}: every release "
        f"its ledger holds composed: this run's, and {LEDGER_ALSO_WORDS} (not this run's figure added to "
        "another)."
        if spent_before(results, spenders[0]) and total is not None
        else ""
    )
    return (
        f"\n\n**What each release cost** ({spender_words(spenders)}; this run{against}): its "
        f"{int(number(worst.get('rounds')) or 0)} training round(s) alone epsilon "
        f"{fmt_epsilon(worst.get('training'))}{evaluation}{generator}; composed, "
        f"{fmt_epsilon(worst.get('run'))} (privacy losses compose sub-additively).{ledger}"
    )


#: Above this epsilon the report calls the worst-case bound weak: e^epsilon grows from 7.4 at 2 to
#: 2981 at 8, and the false-accusation rate above which the bound says nothing falls from 14 % to 0.03 %.
WEAK_EPSILON = 2.0

#: Where the project's empirical privacy audit is described (named, not linked: the report is read
#: from the run folder, where a relative link would not resolve).
AUDIT_DOC = "docs/privacy-audit.md"


#: The largest power of ten the report writes out as a number; e^epsilon beyond it (epsilon above
#: about 690) is said in words, and `math.exp` would overflow a float above epsilon 709.8 anyway.
LARGEST_SHOWN_POWER = 300


def vacuous_above(epsilon: float, delta: float | None) -> float:
    """The false-accusation rate p above which e^epsilon p + delta reaches 1 and bounds nothing.

    Computed as (1 - delta) e^-epsilon, which cannot overflow: at a huge epsilon it is 0.0."""
    return max(0.0, 1.0 - (delta or 0.0)) * math.exp(-epsilon)


def times(factor: float) -> str:
    """e^epsilon for reading: one decimal while small, whole numbers once it is in the thousands."""
    return f"{factor:,.1f}" if factor < 1000 else f"{factor:,.0f}"


def _log10_exp(epsilon: float) -> float:
    """log10(e^epsilon), in logs so that no epsilon overflows."""
    return epsilon / math.log(10)


def exp_words(epsilon: float) -> str:
    """e^epsilon for reading, as `times` writes it, or "more than 10^300" once it is that large."""
    if _log10_exp(epsilon) > LARGEST_SHOWN_POWER:
        return f"more than 10^{LARGEST_SHOWN_POWER}"
    return times(math.exp(epsilon))


def vacuous_percent(epsilon: float, delta: float | None) -> str:
    """`vacuous_above` as a percentage for reading; "10^-300 %" once it is that small (the bound
    then says nothing about practically any test; every caller reads "more than" it, which stays
    true, where "less than 10^-300 %" read "more than less than": an ML engineer's walkthrough)."""
    limit = vacuous_above(epsilon, delta)
    if limit <= 0.0 or math.log10(100 * limit) < -LARGEST_SHOWN_POWER:
        return f"10^-{LARGEST_SHOWN_POWER} %"
    return f"{100 * limit:.3g} %"


def _privacy_bound(epsilon: float, delta: float | None, seen: str = "what the hospital sent") -> str:
    """The (epsilon, delta) definition and the hypothesis-testing bound it implies, with numbers.

    `seen` names what the promise is about: what the hospital sent, or, under distributed DP, only
    what a coordinator that sees the SecAgg+ sum gets to see.
    """
    factor = exp_words(epsilon)
    delta_text = fmt_delta(delta) if delta is not None else "delta"
    return (
        f"What this promises: for any single patient, any outcome of {seen} is at most "
        f"e^epsilon = {factor} times as likely with that patient's data as without it, plus delta. "
        f"So anyone who sees the shared model and wants to decide whether a particular person was in a "
        f"hospital's data is limited: if their test wrongly accuses non-participants a fraction p of the "
        f"time, it can correctly identify participants at most e^epsilon × p + delta of the time (here "
        f"e^{epsilon:g} = {factor}, delta = {delta_text}). Delta is the small probability that this "
        f"bound does not hold and should be well below 1 / (number of patients). The disease label of a "
        f"person known to be in the data is bounded only at about 2 epsilon, and a family enrolled "
        f"together at about epsilon times its size. The guarantee holds whatever the adversary knows "
        f"about the other patients."
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
    vacuous = (
        " - in effect about any test at all: at this epsilon the guarantee is vacuous"
        if vacuous_above(epsilon, delta) < 1e-12
        else ""
    )
    return (
        f"**At epsilon {epsilon:g} this worst-case guarantee is weak:** the bound says nothing about a "
        f"test that wrongly accuses more than {vacuous_percent(epsilon, delta)} of non-participants (there "
        f"e^epsilon × p + delta already exceeds 1){vacuous}, so it cannot by itself be read as protection "
        f"against membership inference or reconstruction. The practical protection at this epsilon rests on "
        f"empirical evidence: the project's privacy audit ({AUDIT_DOC}) attacks a hospital's releases "
        f"to measure how much they reveal in practice; read it, and weigh a smaller epsilon, before "
        f"relying on this run's privacy. {scope}"
    )


def _privacy_promise(epsilon: float, delta: float | None, seen: str = "what the hospital sent") -> str:
    """The bound with its numbers, then what it is worth at this epsilon."""
    return _privacy_bound(epsilon, delta, seen) + " " + _privacy_strength(epsilon, delta)


def void_delta(results: Mapping[str, Any]) -> tuple[float, int] | None:
    """(delta, the smallest hospital's size) when delta is not below 1 / that size, else None.

    At such a delta the guarantee is void, not merely weak: publishing one of n patients' records
    outright, chosen at random, is (0, 1/n)-DP. The privacy section and the model card say so. A
    hospital that trained in no round (`never_trained`: it released nothing) is not counted."""
    delta = number(results.get("delta"))
    absent = never_trained(results)
    declared = (
        number(mapping(record).get("samples"))
        for site, record in mapping(results.get("sites")).items()
        if site not in absent
    )
    sizes = [v for v in declared if v]
    if delta is None or not sizes or delta < 1 / max(min(sizes), 1):
        return None
    return delta, int(min(sizes))


def _delta_warning(results: Mapping[str, Any]) -> str:
    """Flag a delta that is not small relative to the smallest hospital: the guarantee is void."""
    void = void_delta(results)
    if void is None:
        return ""
    delta, smallest = void
    return (
        f"\n\n**Warning: delta = {fmt_delta(delta)} is not below 1 / {fmt_int(smallest)} (the smallest "
        "hospital), so the guarantee is void:** publishing one of its patients' records outright, chosen "
        "at random, meets the same (epsilon, delta) bound. Rerun with a delta well below 1 / (patients per "
        "hospital), such as 1e-5."
    )


def _update_words(results: Mapping[str, Any]) -> str:
    """What a hospital's model update is when it leaves, and who can read it: SecAgg+ masks it, so
    the coordinator unmasks only a sum; under distributed DP it carries only its share of the noise."""
    if distributed_dp(results):
        return (
            "a masked share of its noisy update: its model update after one step along its patients' "
            "clipped gradients, carrying only its share of the DP noise, masked by SecAgg+ so that the "
            "coordinator can unmask only the sum over the hospitals (in which the shares add up to the "
            "full noise), never one hospital's update (hospitals colluding with the coordinator could "
            "subtract their own updates from the sum and see this one with only its own share of the "
            "noise: hence the coalition epsilon)"
        )
    noise = "clipped and noised by DP-SGD" if dp_on(results) else "without noise"
    if results.get("secagg"):
        return (
            f"its model update after local training ({noise}), masked by SecAgg+ so that the "
            "coordinator can unmask only the sum of the hospitals' updates, never one hospital's"
        )
    return f"model weights (the update after local training, {noise})"


def _histogram_words(results: Mapping[str, Any]) -> str:
    """The validation histogram a hospital releases: noisy and charged under DP, exact without."""
    if dp_on(results):
        kind = "a noisy histogram"
        counts = ""
    else:
        kind = "a histogram"
        counts = " with exact counts (this run had no differential privacy: no noise, no budget)"
    return (
        f"when the run asks for it, {kind} of how the shared model scores its validation patients (by "
        f"class and risk bin){counts}, from which the hospital's validation AUC in the table is read"
    )


def _public_facts(results: Mapping[str, Any]) -> str:
    """The facts a hospital states about itself: with DP, also what it spent and the noise it used."""
    if not dp_on(results):
        return "its name and its cohort sizes"
    coalition = ", its coalition epsilon" if distributed_dp(results) else ""
    return f"its name, its cohort sizes, the epsilon it has spent{coalition} and the noise it used"


def _what_leaves(results: Mapping[str, Any]) -> str:
    """Every kind of message a hospital sends, as this run's privacy mode made it, and what stays."""
    kept = (
        "No genotypes, no phenotypes and no sample ids ever leave the hospital, nor any loss, AUC or "
        "count of cases computed exactly on its patients."
        if dp_on(results)
        else "No genotypes, no phenotypes, no sample ids and no training loss leave the hospital, but "
        "without differential privacy the histogram's counts are exact: they tell how many of its "
        "validation patients have the disease and how the model scores them."
    )
    return (
        f"**What leaves a hospital:** {_update_words(results)}; {_histogram_words(results)}; and public "
        f"facts: {_public_facts(results)}. {kept}"
    )


def _not_private_section(results: Mapping[str, Any]) -> str:
    """The loud section of a run without differential privacy."""
    return (
        "## Privacy\n\n"
        "**This run was NOT private: no differential privacy was applied** (no epsilon budget was "
        "set). Each hospital's model updates were computed from its patients' data without clipping "
        "or noise, and model updates can leak information about individual patients (for example, "
        "whether a given person was in the training data). Use this setting only for simulated "
        "data or benchmarks, never on real patients.\n\n"
        + _what_leaves(results)
        + simulation_figures_note(results)
    )


#: What a simulation computes on the hospitals' patients outside the federation (results.json keys).
_OUTSIDE_FIGURES = (
    ("pooled_auc", "the pooled model without privacy"),
    ("plain_dp_logistic_auc", "the plain DP logistic regression federation"),
    ("local_only_auc", "each hospital alone under the same privacy"),
    ("local_only_nonprivate_auc", "each hospital alone without privacy"),
    ("adapted_auc", "each hospital's adapted model"),
)


def simulation_figures_note(results: Mapping[str, Any]) -> str:
    """What this simulation computed on every hospital's patients outside the federation (the
    reference models' AUCs, the adapted models', the hospitals' case counts): no hospital released
    them and no ledger holds them. On hospitals' real exports they are exact facts about real
    patients, so the report is as confidential as the data ("" when the run holds none of them).

    Why: a red-team audit ran `genofed simulate --data` on real-looking exports, flipped one label
    and read it off the report's case count and the no-privacy reference AUCs, while the
    section said every number computed on a hospital's patients was charged to its ledger."""
    present = [
        words
        for key, words in _OUTSIDE_FIGURES
        if site_values(results.get(key)) or number(results.get(key)) is not None
    ]
    if any("cases" in mapping(record) for record in mapping(results.get("sites")).values()):
        present.append("the hospitals' case counts")
    if not present:
        return ""
    text = (
        f"\n\n**Computed by this simulation, outside the federation:** {_series(present)}. The simulation "
        "read every hospital's patients to compute them; no hospital released them and no ledger holds them."
    )
    if results.get("simulated_patients") is False:
        text += (
            " **This run read hospitals' real exports: those figures are exact facts about real patients.** "
            "Keep this run's folder (this report, results.json, test_predictions.csv) as you keep the "
            "patients' records; what the federation releases is model.pt and the figures marked noisy."
        )
    return text


def confidential_notice(results: Mapping[str, Any]) -> str:
    """The report's first line after its title when a simulation of real exports holds figures
    computed on the patients outside the federation (`simulation_figures_note`); "" otherwise."""
    if results.get("simulated_patients") is not False or not simulation_figures_note(results):
        return ""
    return (
        "**Confidential: as the patients' records.** This simulation read hospitals' real exports, and "
        "this report holds figures computed on their patients without privacy (see Privacy)."
    )


def _series(items: list[str]) -> str:
    """`a`; `a and b`; `a, b and c`."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _clip_text(results: Mapping[str, Any]) -> str:
    """' (to an L2 norm of 1.0)' when the run recorded its clipping norm."""
    clip = config_value(results, CLIP_KEYS)
    return f" (to an L2 norm of {clip})" if clip is not None else ""


def _scale(results: Mapping[str, Any]) -> str:
    """What epsilon's size means; the 'Alone' columns are pointed to only when they were measured
    (a run without reference models, `flwr run` or `--no-references`, has them empty)."""
    alone = site_values(results.get("local_only_auc")) or site_values(
        results.get("local_only_nonprivate_auc")
    )
    return (
        "Smaller epsilon means stronger protection; values around 1 are considered strong and values up to "
        "about 10 are common in practice, while the noise needed for small epsilon costs accuracy"
        + (" (compare the two 'Alone' columns above)." if alone else ".")
    )


def _local_opening(results: Mapping[str, Any], budget: float, delta: float | None) -> str:
    """Local DP: each hospital added all its noise, so one epsilon holds against anyone."""
    return (
        "Each hospital's training used differential privacy (DP-SGD, Opacus): every patient's "
        f"influence on each update was clipped{_clip_text(results)} and Gaussian noise added, so that the "
        f"whole run stays within epsilon = {budget:g} at delta = {fmt_delta(delta)} for each hospital. "
        + _scale(results)
    )


def _coalition_figure(results: Mapping[str, Any]) -> str:
    """'up to 11.52 (the largest over hospitals)', or that it was not recorded."""
    worst = worst_coalition_epsilon(results)
    if worst is None:
        return "not recorded by any hospital"
    return f"up to {fmt_epsilon(worst)} (the largest over hospitals)"


def _distributed_opening(results: Mapping[str, Any], budget: float, delta: float | None) -> str:
    """Distributed DP: the privacy mode, then the two epsilons, each with whom it holds against.

    The budget bounds only the epsilon against a coordinator that sees the SecAgg+ sum; stating it
    alone would promise a data-protection officer far more than holds against a coalition.
    """
    return (
        "**Privacy mode: distributed differential privacy under secure aggregation** (`--privacy "
        "distributed` with SecAgg+; docs/distributed-dp.md). Every patient's influence on each update "
        f"was clipped{_clip_text(results)} and each hospital added only its share of the Gaussian noise; "
        "SecAgg+ let the coordinator unmask only the sum of the hospitals' updates (at least a strict "
        "majority of them), in which the shares add up to the full noise. Each hospital therefore has "
        "two epsilons, each against a different adversary:\n\n"
        f"- **epsilon = {budget:g}** at delta = {fmt_delta(delta)} (the budget) against a coordinator "
        "that sees only the SecAgg+ sum;\n"
        f"- **coalition epsilon {_coalition_figure(results)}** at the same delta against the coordinator "
        "colluding with all other hospitals, who can subtract their own updates from the sum and so "
        "see this hospital's update with only its own share of the noise.\n\n" + _scale(results)
    )


def _cap_words(results: Mapping[str, Any]) -> str:
    """Whether the run capped the coalition epsilon, and what that cap is for."""
    cap = coalition_cap(results)
    if cap is not None:
        return f"This run capped each hospital's coalition epsilon at {cap:g} (`max-coalition-epsilon`)."
    return (
        "This run set no cap on it (`max-coalition-epsilon`); a hospital that needs a guarantee against "
        "a malicious coordinator should set one, at the price of more noise for every hospital."
    )


def _coalition_promise(results: Mapping[str, Any], delta: float | None) -> str:
    """What holds against the coordinator colluding with all other hospitals: the coalition epsilon.

    A coordinator that runs SecAgg+ dishonestly (fakes dropouts, adds hospitals of its own) gets
    the same view without any hospital's help (docs/distributed-dp.md), so this is also the
    guarantee against a malicious coordinator.
    """
    head = (
        "**Against the coordinator colluding with all other hospitals** (or a coordinator that runs "
        "SecAgg+ dishonestly, faking dropouts or adding hospitals of its own) the bound above holds "
        "only with the coalition epsilon"
    )
    worst = worst_coalition_epsilon(results)
    if worst is None:
        return f"{head}, which no hospital recorded in this run. {_cap_words(results)}"
    strength = (
        "a strong guarantee"
        if worst <= WEAK_EPSILON
        else f"a weak guarantee: the bound says nothing about a test that wrongly accuses more than "
        f"{vacuous_percent(worst, delta)} of non-participants"
    )
    return (
        f"{head}, {fmt_epsilon(worst)} at the most-exposed hospital: any outcome of what that hospital "
        f"sent is at most e^{fmt_epsilon(worst)} = {exp_words(worst)} times as likely with a "
        f"patient's data as without it, plus delta; {strength}. {_cap_words(results)}"
    )


def _promises(results: Mapping[str, Any], budget: float, delta: float | None) -> str:
    """The promise with its numbers: one under local DP, one per adversary under distributed DP."""
    if not distributed_dp(results):
        return _privacy_promise(budget, delta)
    seen = (
        "what a coordinator that sees only the SecAgg+ sum learns from a hospital (the sum and the "
        "hospital's validation histograms)"
    )
    return (
        "**Against a coordinator that sees only the SecAgg+ sum** (epsilon "
        f"{budget:g}). " + _privacy_promise(budget, delta, seen) + "\n\n" + _coalition_promise(results, delta)
    )


_ACCOUNTING = (
    "**Accounting:** each hospital keeps its own privacy ledger and adds up the privacy cost of every "
    "round it trains, and of every evaluation it answers, with Opacus' Renyi-DP (RDP) accountant, "
    "converted to (epsilon, delta). Its noise multiplier is calibrated so that the planned rounds fit "
    "the budget, and a hospital refuses to train in a round that would exceed it."
)

_DISTRIBUTED_ACCOUNTING = (
    " Under distributed DP each round is charged twice: with the full noise of the sum (the epsilon "
    "against the coordinator, which the budget bounds) and with the hospital's own share alone (the "
    "coalition epsilon, which only `max-coalition-epsilon` bounds). The validation histograms are not "
    "aggregated: each is charged in full to both."
)

_PER_HOSPITAL = (
    " The guarantee is per hospital: hospitals hold different patients, so each patient is covered by "
    "their hospital's epsilon (a patient treated at two hospitals is covered by each, up to twice the "
    "epsilon in total)."
)


def _spent_text(results: Mapping[str, Any], budget: float) -> str:
    """The range of epsilon spent across hospitals, and of the coalition epsilon under distributed DP."""
    spent = [v for v in (number(site_epsilon(results, s)) for s in site_names(results)) if v is not None]
    if not spent:
        return ""
    text = (
        f"\n\nEpsilon actually spent: {fmt_epsilon(min(spent))} to {fmt_epsilon(max(spent))} "
        f"across hospitals (budget {budget:g})"
    )
    apart = ""  # after the distributed figures, which qualify the ranges before it
    if any_spent_before(results):
        run = [v for v in (run_spend(results, s) for s in site_names(results)) if v is not None]
        text = (
            f"\n\nEpsilon actually spent, each hospital's ledger total over every run it took part in: "
            f"{fmt_epsilon(min(spent))} to {fmt_epsilon(max(spent))} across hospitals (budget {budget:g}, "
            f"which caps that total); in this run alone, its releases on the coordinator's record, "
            f"{fmt_epsilon(min(run))} to {fmt_epsilon(max(run))}"
        )
        apart = (
            f". A ledger's total holds this run's releases and {LEDGER_ALSO_WORDS}; privacy losses compose "
            "sub-additively, so the "
            "difference is not what a hospital spent before this run"
        )
    if not distributed_dp(results):
        return text + apart + "." + _unrecorded_words(results)
    coalition = [v for v in coalition_epsilons(results).values() if v is not None]
    text += " against a coordinator that sees only the sum"
    if coalition:
        text += (
            f"; against the coordinator with all other hospitals colluding, {fmt_epsilon(min(coalition))} "
            f"to {fmt_epsilon(max(coalition))} (coalition epsilon)"
        )
    return text + apart + "." + _unrecorded_words(results)


def _unrecorded_words(results: Mapping[str, Any]) -> str:
    """When the run planned evaluations of the final model and recorded none: the figures above are
    a floor (an operator stopped a coordinator in the last round; the hospitals answered and paid)."""
    from genofed.server.service.status import unrecorded_evaluations  # light: the coordinator's status

    planned = unrecorded_evaluations(results)
    if not planned:
        return ""
    return (
        f" The run planned {planned} evaluation(s) of the final model and recorded none (it stopped before "
        "the replies arrived, or every hospital refused): a hospital that answered paid for its release all "
        "the same, so it may have spent more than shown here; its own ledger (`genofed hospital ledger`) is "
        "the record."
    )


def _augmentation_text(results: Mapping[str, Any]) -> str:
    """Under DP, that the run's genotype augmentation cost no epsilon: each record DP-SGD samples
    is replaced by one augmented example of itself, so rate, steps and clipping, and the
    accountant's epsilon, are those of the run without it (docs/augmentation.md). The report said
    so nowhere: the spec showed only in the run-facts table."""
    spec = results.get("augment")
    if not spec:
        return ""
    return (
        f"\n\n**Genotype augmentation** ({spec}) cost no epsilon: each record DP-SGD sampled was replaced "
        "by one augmented example of itself, inside the hospital, so the sampling rate, the steps and the "
        "clipping, and so the epsilon above, are those of the same run without augmentation; no "
        "generated patient was made and nothing was charged for it (docs/augmentation.md)."
    )


def privacy_section(results: Mapping[str, Any], plot_written: bool) -> str:
    """Plain-words privacy section for the data-protection officer; loud when the run was not private.

    `plot_written` says whether the privacy-per-round plot exists, so that the section links to it.
    """
    if not dp_on(results):
        return _not_private_section(results)
    budget = number(results.get("epsilon_budget")) or 0.0
    delta = number(results.get("delta"))
    distributed = distributed_dp(results)
    opening = (_distributed_opening if distributed else _local_opening)(results, budget, delta)
    covers = (
        " Each epsilon above covers both the model updates and the validation histograms"
        if distributed
        else " The epsilon above covers both the model weights and the validation histograms"
    )
    outside = simulation_figures_note(results)
    text = (
        f"## Privacy\n\n{opening}\n\n{_promises(results, budget, delta)}\n\n{_what_leaves(results)}"
        f"{covers}: every number a hospital sends is charged to its ledger.{outside}\n\n"
        + _ACCOUNTING
        + (_DISTRIBUTED_ACCOUNTING if distributed else "")
        + _PER_HOSPITAL
        + _delta_warning(results)
        + _spent_text(results, budget)
        + _release_costs_text(results)
        + _augmentation_text(results)
    )
    if plot_written:
        text += f"\n\n![Cumulative epsilon per round]({PRIVACY_PLOT})\n\n{privacy_plot_caption(results)}"
        if distributed:
            text += (
                " The plot shows the epsilon against a coordinator that sees only the SecAgg+ sum; the "
                "coalition epsilon is not plotted."
            )
    return text
