"""What `genofed synth` says when its batch fails validation: which checks failed, whether privacy
protection was on, and what to try next.

The advice is derived from the families of the failed checks (`genofed.common.synthetic.checks`),
one coherent set of remedies per family, most preferred first:

- privacy (privacy loss, exact copies, membership inference, AA_TS below its band): the samples
  sit too close to the training patients. Privacy protection (DP) is the remedy, or a smaller
  epsilon when it is on; without DP, fewer epochs memorise less (but bound nothing).
- fidelity (allele frequencies, genotype distribution, LD, population structure, AA_TS above its
  band) and label associations: the generator did not learn the cohort well enough. Under DP a
  larger generator epsilon (less noise) comes first; without DP more epochs; then the other
  generator, or the public-panel generator for linkage. Under DP more epochs help only with a
  larger epsilon: at a fixed epsilon they mean more noise per step.
- both: privacy first (a batch too close to the patients is unusable however faithful, and
  training harder would memorise more), then fidelity only by changing the generator, never by
  loosening privacy, so no knob is pulled both ways.

A privacy check that cannot tell at the batch's size (`genofed.common.synthetic.checks.precision`:
its standard error is at least the distance from no leak to its limit, as for privacy_loss and
mia_auc at a clinic's 200 patients, and AA_TS at 60) is said to be so, beside its value and as the
first tip; a failure of such checks alone gets no "smaller --epsilon" (a new run, charged again,
would only redraw the noise: an audit saw the verdict flip with `--seed`). The batch still fails.
Genotype augmentation in training is always the alternative that makes no generated patient.

Under DP the generator's epsilon is charged to the site's ledger whatever the verdict
(`genofed.client.synth`): the message says so, since a retry spends again.

At a site (`--state-dir SITE/state`, or without it the site the genotypes file or its patients are
bound to, `local_ledger.bound_state_dir`, when the caller passes them), no remedy suggests more
epsilon than the site has left of its declared budget (`SiteBudget`): an audit was told to turn DP
on at `--epsilon 8` at a site whose budget was 3, with 1.38 left, a command the site's own cap
would refuse, and again without `--state-dir` for files bound to that site. A ledger's folder
outside any site is read the same way against the `--budget` recorded beside it, and its command
names that `--budget`. When no budget is known the advice names no epsilon, only "at most what the
site has left" and where to read it; when a larger epsilon is closed, nothing that needs one is
offered.

The reference generator trains nothing: its release of the patients' class frequencies is what
is (or is not) under DP, and the message words it so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genofed.client.agent.ledger_report import bare_ledger_folder, recorded_budget
from genofed.client.declared_size import declared_cohort_size
from genofed.client.local_ledger import DEFAULT_DELTA, bound_state_dir, ledger_words, local_ledger
from genofed.client.synth_feasibility import MIN_BATCH_EPSILON, PublicFacts
from genofed.common.errors import GenofedError
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger
from genofed.common.synthetic.checks.precision import MIN_RECORDS, patients_needed, undecided

#: Checks whose failure means the samples are too close to the training patients.
PRIVACY_CHECKS = ("privacy_loss", "exact_copies", "mia_auc")
#: The other generators, to try when one fails (the reference generator also when linkage fails).
OTHER_GENERATOR = {"vae": ("gan",), "gan": ("vae",), "reference": ("vae", "gan")}
#: Checks a copy of linkage and population structure fails; the reference generator takes both
#: from a public panel.
LINKAGE_CHECKS = ("ld_correlation", "pca_mixing")
#: What the message suggests instead of synthetic records (docs/augmentation.md).
AUGMENT_EXAMPLE = 'augment = "noise=0.01,mutate=0.005"'
#: How the advice says that no DP batch it could suggest would pass `synth`'s check before a charge.
NO_DP_BATCH = "no DP batch that `genofed synth` would accept"
#: The generator epsilon suggested for turning DP on, when the site is known and can afford it.
SUGGESTED_EPSILON = 8.0


@dataclass(frozen=True)
class SiteBudget:
    """What is left of a site's declared budget, for the advice (`budget_left`).

    Args:
        state_dir: the site's state folder, as the operator gave it.
        budget: the lifetime epsilon budget its hospital.json declares (or, for a ledger's folder
            outside any site, the `--budget` its last release was given).
        left: the budget less what its ledger has spent, at the site's delta (after this run's charge).
        outside_site: a ledger's folder outside any site (`--state-dir DIR --budget B`).
    """

    state_dir: str
    budget: float
    left: float
    outside_site: bool = False

    @property
    def owner(self) -> str:
        """Whose budget it is, in words."""
        return "this ledger's" if self.outside_site else "this site's"

    def affordable(self, epsilon: float) -> float | None:
        """`epsilon`, or the most the site has left below it (rounded down to 2 decimals); None when
        nothing is left to spend."""
        if epsilon <= self.left:
            return epsilon
        most = math.floor(self.left * 100) / 100
        return most if most > 0 else None

    def can_pay_a_batch(self) -> bool:
        """Whether what is left could pay for a DP batch worth making: at least `MIN_BATCH_EPSILON`
        (a walkthrough at 0.0151 left was offered another generator and a reference batch, and a
        larger epsilon, which then spent the rest on a batch at noise 158)."""
        return self.left >= MIN_BATCH_EPSILON

    def words(self) -> str:
        return f"epsilon {max(self.left, 0.0):.3g} of its budget of {self.budget:g} is left"


def budget_left(state_dir: str | Path) -> SiteBudget | None:
    """What is left at the site whose state folder is `state_dir` (its declared budget less its
    ledger's epsilon at the site's delta), or in a ledger's folder outside any site (the `--budget`
    recorded beside it, `ledger_report.recorded_budget`, at its delta: an audit was told `--epsilon
    2` where 0.504 of a `--budget 1.5` was left); None at a site that declared no budget, a folder
    with neither, or when the ledger cannot be read (the advice then names no figure)."""
    if not state_dir:
        return None
    outside_site = False
    try:
        local = local_ledger(state_dir, None, spends=False)
        budget = local.declared_budget
        delta = DEFAULT_DELTA if local.delta is None else local.delta  # the site's, read once above
        if budget is None and bare_ledger_folder(local.state_dir):  # the --budget its releases were given
            record = recorded_budget(local.state_dir)
            if record is not None:
                budget, delta, outside_site = float(record["budget"]), float(record["delta"]), True
        if budget is None or math.isinf(budget):
            return None
        ledger = PrivacyLedger(local.state_dir / LEDGER_FILE)
        spent = ledger.epsilon(delta) if ledger.charges else 0.0
    except (GenofedError, OSError, ValueError):
        return None
    return SiteBudget(str(state_dir), budget, budget - spent, outside_site)


def bound_budget_left(genotypes: str | Path, sample_ids: list[str] | None = None) -> SiteBudget | None:
    """`budget_left` of the site whose ledger the genotypes file (else its patients) is bound to by
    the machine-wide index (`local_ledger.bound_state_dir`, the lookup DP runs bind by); None when
    it is bound to none, or to a folder that is no site with a budget."""
    if not genotypes:
        return None
    try:
        bound = bound_state_dir(genotypes, sample_ids or ())
    except (GenofedError, OSError, ValueError):
        return None
    return None if bound is None else budget_left(bound)


def failure_message(
    summary: dict[str, Any],
    out: str,
    state_dir: str = "",
    *,
    genotypes: str | Path = "",
    sample_ids: list[str] | None = None,
    facts: PublicFacts | None = None,
) -> str:
    """The lines `genofed synth` prints for a batch that failed validation.

    Args:
        summary: what `genofed.client.synth.synthesize` returned (validation.json's content).
        out: the output folder (where report.md was written).
        state_dir: the site's state folder (where the ledger was charged, under DP).
        genotypes, sample_ids: the input genotypes file and its patients: without `state_dir`, the
            site they are bound to bounds the epsilon the advice names (`bound_budget_left`).
        facts: what the run's DP batches are judged on before a charge (`synth.DP_FEASIBILITY`);
            None: the declared size is read off the summary and a reference batch is not judged.
    """
    checks = {c["name"]: c for c in summary.get("validation", {}).get("checks", [])}
    failed = list(summary.get("failed_checks", []))
    loose = undecided(summary.get("validation", {}))
    lines = [f"the synthetic batch FAILED validation: no records written (details: {out}/report.md)"]
    lines.append(
        "  failed: " + ", ".join(_described(name, checks.get(name), loose.get(name)) for name in failed)
    )
    epsilon = summary.get("epsilon")
    kind = summary.get("generator", {}).get("kind", "vae")
    if epsilon is None:
        lines.append(
            f"  privacy protection was OFF (no --epsilon): {_without_dp(kind)}; nothing was written, so "
            "nothing left the site"
        )
    else:
        ledger = ledger_words(state_dir) if state_dir else "the site's privacy ledger"
        lines.append(
            f"  privacy protection was ON: {_under_dp(kind)} at epsilon {epsilon:g} (delta "
            f"{summary.get('delta', 0):g}), charged to {ledger} although nothing was written; a retry "
            "spends again"
        )
    lines.append("  try next (most preferred first):")
    site = budget_left(state_dir) if state_dir else bound_budget_left(genotypes, sample_ids)
    tips = suggestions(summary, site, state_dir=state_dir, facts=facts)
    lines += [f"    {i}. {tip}" for i, tip in enumerate(tips, 1)]
    return "\n".join(lines)


def suggestions(
    summary: dict[str, Any],
    site: SiteBudget | None = None,
    *,
    state_dir: str = "",
    facts: PublicFacts | None = None,
) -> list[str]:
    """Concrete next commands' flags from which families of checks failed, most preferred first:
    one line of remedies per failed family, never pulling one knob both ways.

    Args:
        site: what is left of the site's budget (None: not at a site, or not known): no remedy
            suggests more epsilon than that.
        state_dir: the `--state-dir` the run was given, named in the remedies ("" : SITE/state).
        facts: what `synth` judges a DP batch of this cohort on (`synth_feasibility.PublicFacts`):
            no remedy suggests a DP batch it would refuse before the charge (`_judge`).
    """
    judge = _judge(summary, facts)
    close, too_weak = _families(summary)
    too_close = bool(close)
    tips: list[str] = []
    loose = {name: p for name, p in undecided(summary.get("validation", {})).items() if name in close}
    if loose:  # first: it qualifies the rest
        tips.append(_cannot_tell_tip(summary, loose))
    firm = [name for name in close if name not in loose]
    # no new DP batch can help: below MIN_BATCH_EPSILON every measured DP batch failed (synth_feasibility)
    spent = site is not None and not site.can_pay_a_batch()
    if spent:
        tips.append(_spent_tip(site))
    elif too_close and not firm:  # only checks that cannot tell: no new charged run for them
        tips += _undecided_tips(summary, site=site, state_dir=state_dir, judge=judge)
    elif too_close:
        closeness = _closeness_tips(summary, both=too_weak, site=site, state_dir=state_dir, judge=judge)
        if loose:  # say which failures the remedies answer
            closeness = [f"for {', '.join(firm)}: {tip}" for tip in closeness]
        tips += closeness
    if too_weak and not spent:
        tips += _fidelity_tips(
            summary, both=too_close, site=site, undecided_privacy=too_close and not firm, judge=judge
        )
    tips.append(
        "or no synthetic records: genotype augmentation in the hospital's training instead "
        f"(node config {AUGMENT_EXAMPLE}, or `genofed simulate --augment`; docs/augmentation.md)"
    )
    refusals = [i for i, tip in enumerate(tips) if NO_DP_BATCH in tip]
    return [tip for i, tip in enumerate(tips) if i not in refusals[1:]]  # said once, by the first family


def _judge(summary: dict[str, Any], facts: PublicFacts | None) -> PublicFacts | None:
    """What a DP batch of this cohort is judged on: the run's `facts`, else the declared size its
    summary names (under DP) or the patients rounded to 10 (`declared_cohort_size`, what a site
    declaring none makes public), with no panel (a reference batch is then not judged); None when
    the summary does not say the cohort's size."""
    if facts is not None:
        return facts
    validation = summary.get("validation", {})
    patients = int(validation.get("n_train") or 0) + int(validation.get("n_holdout") or 0)
    declared = (summary.get("dp_sampling") or {}).get("declared_size")
    if declared is None and patients <= 0:
        return None
    size = int(declared) if declared is not None else declared_cohort_size(patients)
    return PublicFacts(size, float(summary.get("delta") or DEFAULT_DELTA))


def _refused(judge: PublicFacts | None, generator: str, epsilon: float) -> str | None:
    """Why `synth` would refuse a DP batch of `generator` at `epsilon` before its charge, or None."""
    return None if judge is None else judge.problem(generator, epsilon)


def _no_dp_batch_tip(problem: str) -> str:
    """Under DP, when no DP batch the advice could name would be accepted: what the refusal before a
    charge offers instead (`synth_feasibility.refusal`)."""
    return (
        f"{NO_DP_BATCH} is left to suggest: {problem}, so it refuses such "
        "a run before any charge (--spend-anyway overrides it); instead a batch without DP (no --epsilon), "
        "which stays inside the hospital (a site with a finite budget does not train on it), or "
        "augmentation (below), which costs no privacy"
    )


def _spent_tip(site: SiteBudget) -> str:
    """The one remedy line at a site whose budget cannot pay for another DP batch: a batch made
    without DP is refused for training at a site with a finite budget (`hospital check
    --synthetic`), so another generator or more epochs would only make records it cannot use (an
    audit was offered both, and an unbounded "smaller --epsilon", at a site with 0.003 left)."""
    return (
        f"no new batch here: {site.owner} budget cannot pay for another DP batch worth making "
        f"({site.words()}, {site.state_dir}; every DP batch measured below epsilon {MIN_BATCH_EPSILON:g} "
        "failed validation), and a batch made without DP is refused for training at a site with a "
        "finite budget; a larger budget is the site's own decision (its data-protection officer's), "
        "not this command's"
    )


def _cannot_tell_tip(summary: dict[str, Any], loose: dict[str, dict[str, Any]]) -> str:
    """The failed privacy checks that cannot tell at this size, with their standard errors, and
    what would make them tell."""
    validation = summary.get("validation", {})
    cohort = int(validation.get("n_train") or 0) + int(validation.get("n_holdout") or 0)
    more = patients_needed(loose.values(), cohort)
    larger = f" (about {more:,} or more)" if more else ""
    one = len(loose) == 1
    errors = _listed(f"{p['standard_error']:.2g}" for p in loose.values())
    margins = _listed(f"{p['margin']:g}" for p in loose.values())
    few = min(int(p.get("records") or MIN_RECORDS) for p in loose.values()) < MIN_RECORDS
    return (
        f"read {_listed(loose)} as undecided: at this size {'it' if one else 'they'} cannot tell a batch "
        f"that leaks nothing from one at {'its limit' if one else 'their limits'} (standard "
        f"error{'' if one else 's'} {errors} against the margin{'' if one else 's'} of {margins} between "
        f"the two{f', on fewer than {MIN_RECORDS} records' if few else ''}), so this failure may be chance "
        f"alone and a new run would only redraw it; only more patients{larger} make "
        f"{'the check' if one else 'the checks'} informative"
    )


def _listed(items: Any) -> str:
    """ "a", "a and b", "a, b and c"."""
    words = list(items)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _undecided_tips(
    summary: dict[str, Any],
    *,
    site: SiteBudget | None = None,
    state_dir: str = "",
    judge: PublicFacts | None = None,
) -> list[str]:
    """The remedies when every failed closeness check cannot tell at this size: no smaller epsilon
    (a new run, charged again, for a check that still cannot tell); without DP, DP as the bound
    that holds whatever the check says."""
    _, _, epsilon = _run(summary)
    if epsilon is not None:
        return [
            f"no smaller --epsilon for these checks: a new run would be charged again (this one spent "
            f"{epsilon:g}) and the check could still not tell; epsilon {epsilon:g} already bounds what the "
            "records reveal"
        ]
    return [_dp_on_tip("", site, state_dir, chance=True, summary=summary, judge=judge)]


def _closeness_tips(
    summary: dict[str, Any],
    *,
    both: bool,
    site: SiteBudget | None = None,
    state_dir: str = "",
    judge: PublicFacts | None = None,
) -> list[str]:
    """The remedies for records too close to the training patients; with `both`, said to come first;
    turning DP on at no more epsilon than `site` has left. Under DP a smaller epsilon only where this
    one would pass `synth`'s check (a smaller one adds noise: refused too after a `--spend-anyway`
    batch)."""
    kind, epochs, epsilon = _run(summary)
    first = (
        "first the privacy checks, because a batch too close to the patients must not be used however "
        "faithful it is, and training harder for fidelity would memorise more: "
        if both
        else ""
    )
    if epsilon is None:
        tips = [_dp_on_tip(first, site, state_dir, summary=summary, judge=judge)]
        if epochs > 1 and not both:
            tips.append(
                f"if you stay without DP, less training: --epochs {max(1, epochs // 2)} (this run: "
                f"{epochs}); it memorises less but gives no formal bound"
            )
        return tips
    refused = _refused(judge, kind, epsilon)
    if refused:
        return [f"{first}{_no_dp_batch_tip(refused)}"]
    if kind == "reference":
        what = "more noise in the released frequencies, less of any one patient in them"
    else:
        what = "more noise in the generator's training, less memorised"
    left = f"; {site.words()}" if site is not None and site.left < epsilon else ""
    return [
        f"{first}a smaller --epsilon for the generator than {epsilon:g}: {what} (a new run, charged "
        f"again{left})"
    ]


def _dp_on_tip(
    first: str,
    site: SiteBudget | None,
    state_dir: str,
    *,
    chance: bool = False,
    summary: dict[str, Any] | None = None,
    judge: PublicFacts | None = None,
) -> str:
    """Turn DP on: at `SUGGESTED_EPSILON` or the most the known `site` has left below it; with no
    site known, at an epsilon named only as at most what the site has left (a site's budget may be
    3, and `--epsilon 8` would be refused). Never called at a site that cannot pay for any.
    `chance`: the failed checks cannot tell at this size, so DP is offered for its bound, not to
    pass them. `summary` (the failed run's): where a DP batch of its generator at that epsilon
    cannot pass at its cohort's size (`synth_feasibility.cannot_pass`), `synth` would refuse the
    suggested command before its charge, so the tip says that instead (`_dp_cannot_help`, judged on
    `judge`, `_judge`)."""
    epsilon = SUGGESTED_EPSILON if site is None else site.affordable(SUGGESTED_EPSILON)
    hopeless = (
        _dp_cannot_help(summary, epsilon, judge) if summary is not None and epsilon is not None else None
    )
    if hopeless:
        return f"{first}{hopeless}"
    where = state_dir or "SITE/state"
    bounds = "the one remedy that bounds what the records reveal"
    if chance:
        bounds += ", whatever these checks say (at this size they may fail again by chance)"
    if site is None:
        return (
            f"{first}turn privacy protection on: --epsilon E --state-dir {where}, with E at most what the "
            "site's budget has left (`genofed hospital ledger SITE` shows it; a folder that is no site's "
            f"needs --budget EPSILON too; the cost goes to that ledger): {bounds}"
        )
    if epsilon is None or not site.can_pay_a_batch():  # `suggestions` says so once instead (`_spent_tip`)
        raise ValueError("no DP batch is affordable at this site")
    most = "" if epsilon == SUGGESTED_EPSILON else ", the most it has left: a small epsilon may fail fidelity"
    if not site.outside_site:
        where, ledger = f"--state-dir {site.state_dir}", "the site's ledger"
    else:  # a ledger's folder outside any site is given its --budget on every release
        where, ledger = f"--state-dir {site.state_dir} --budget {site.budget:g}", "that ledger"
    return (
        f"{first}turn privacy protection on: --epsilon {epsilon:g} {where} "
        f"({site.words()}{most}; the cost goes to {ledger}): {bounds}"
    )


def _dp_cannot_help(summary: dict[str, Any], epsilon: float, judge: PublicFacts | None) -> str | None:
    """Why turning DP on at `epsilon` cannot make a passing batch of the failed run's generator
    (`judge.problem`, the rule `synth` refuses by before the charge: the VAE and GAN at hospital
    sizes, a reference release whose planned noise per class frequency is too large), or None.
    Why: a failed batch without DP was told "turn privacy protection on: --epsilon 8 ...", a command
    `synth` then refuses before any charge (an outside walkthrough's 130-patient site)."""
    kind, _, _ = _run(summary)
    reason = _refused(judge, kind, epsilon)
    if reason is None:
        return None
    return (
        f"privacy protection cannot make a passing batch here: {reason}, so `genofed synth` refuses such "
        "a run before any charge (--spend-anyway overrides it); a batch without DP stays inside the "
        "hospital, and augmentation (below) costs no privacy"
    )


def _fidelity_tips(
    summary: dict[str, Any],
    *,
    both: bool,
    site: SiteBudget | None = None,
    undecided_privacy: bool = False,
    judge: PublicFacts | None = None,
) -> list[str]:
    """The remedies for too weak a copy of the cohort, most preferred first; with `both`, only those
    that do not loosen privacy (no more epochs, no larger epsilon), led in as coming after the
    privacy remedies, or with `undecided_privacy` (the privacy failures cannot tell) as what is left
    to change; a larger epsilon only as far as `site` has it left. Under DP, a larger epsilon or
    another generator only where `synth` would accept that batch before its charge (`judge`); when
    none is left, that is said instead (`_no_dp_batch_tip`)."""
    kind, epochs, epsilon = _run(summary)
    then = ""
    if undecided_privacy:
        then = "for fidelity, change the generator, not privacy (its checks failed, if undecided): "
    elif both:
        then = "then, if fidelity still fails, change the generator rather than loosen privacy: "
    tips: list[str] = []
    can_grow = True  # whether a larger --epsilon is open to this site at all
    refusals: list[str] = []  # why the DP batches that would otherwise be suggested are refused
    if not both and epsilon is not None:
        # twice this one, or, where the pre-charge check refuses that, the smallest it accepts (as
        # its refusal names it); None: it accepts none it could name
        wanted: float | None = 2 * epsilon
        if judge is not None and judge.problem(kind, 2 * epsilon) is not None:
            wanted = judge.smallest_accepted(kind, epsilon)
        if wanted is None:  # none accepted: said as the refusal says it
            refusals.append(judge.no_larger_words(kind))
        larger = None if wanted is None else wanted if site is None else site.affordable(wanted)
        can_grow = larger is not None and larger > epsilon
        refused = _refused(judge, kind, larger) if can_grow else None
        if refused:
            can_grow = False
            refusals.append(refused)
        elif can_grow:
            left = "" if site is None else f"; {site.words()}"
            tips.append(
                f"a larger --epsilon for the generator, e.g. {larger:g} (this run: {epsilon:g}): less "
                f"noise, at a higher privacy cost{left}"
            )
        elif wanted is not None and site is not None:
            tips.append(
                f"a larger --epsilon than {epsilon:g} is beyond {site.owner} budget ({site.words()}): "
                "the generator cannot have less noise here"
            )
    if not both and epsilon is None and epochs:
        tips.append(f"more training: --epochs {2 * epochs} (this run: {epochs})")
    others = OTHER_GENERATOR.get(kind, ("vae",))
    if epsilon is not None:  # the other generator at the same --epsilon: as `synth` would judge it
        judged = {other: _refused(judge, other, epsilon) for other in others}
        refusals += [why for why in judged.values() if why]
        others = tuple(other for other, why in judged.items() if why is None)
    if others:
        named = " or ".join(f"--generator {other}" for other in others)
        tips.append(f"{then}the other generator{'s' if len(others) > 1 else ''}: {named} (this run: {kind})")
    if refusals and not others and (both or not can_grow):  # no DP command left to suggest
        tips.append(_no_dp_batch_tip(refusals[0]))
    if kind != "reference" and _failed(summary, LINKAGE_CHECKS):
        judged_later = (
            "; under --epsilon `genofed synth` judges the panel's release before any charge and refuses "
            "one too noisy to pass"
            if epsilon is not None
            else ""
        )
        tips.append(
            "linkage and structure from a public panel instead of the patients: --generator reference "
            "--reference PANEL.vcf.gz (a phased panel of people who are not patients here, e.g. 1000 "
            f"Genomes; docs/synthetic-data.md{judged_later})"
        )
    if not both and epsilon is not None and epochs and can_grow:  # never after "beyond the budget"
        tips.append(
            f"more training (--epochs {2 * epochs}, this run: {epochs}) only together with a larger "
            "--epsilon: at the same --epsilon, more epochs spread the budget over more steps, so each "
            "step gets more noise"
        )
    return tips


def _run(summary: dict[str, Any]) -> tuple[str, int, float | None]:
    """(generator kind, epochs, epsilon or None without DP) of the failed run."""
    generator = summary.get("generator", {})
    epochs = int(generator.get("settings", {}).get("epochs") or 0)
    return generator.get("kind", "vae"), epochs, summary.get("epsilon")


def _failed(summary: dict[str, Any], names: tuple[str, ...]) -> bool:
    """Whether any of the checks `names` failed."""
    return any(name in summary.get("failed_checks", []) for name in names)


def _families(summary: dict[str, Any]) -> tuple[list[str], bool]:
    """(the failed checks that say too close to the training patients, whether any says too weak a
    copy of the cohort); AA_TS counts as the one or the other by which side of its band it fell."""
    checks = {c["name"]: c for c in summary.get("validation", {}).get("checks", [])}
    too_close: list[str] = []
    too_weak = False
    for name in summary.get("failed_checks", []):
        if name in PRIVACY_CHECKS:
            too_close.append(name)
        elif name == "aats_train":
            value = (checks.get(name) or {}).get("value")
            if value is not None and value < 0.5:  # failed below the band, not above it
                too_close.append(name)
            else:
                too_weak = True
        else:
            too_weak = True
    return too_close, too_weak


def _without_dp(kind: str) -> str:
    """What ran without DP: the reference generator trains nothing, it releases frequencies."""
    if kind == "reference":
        return "the reference generator took the patients' class frequencies exactly, without DP"
    return "the generator trained without DP"


def _under_dp(kind: str) -> str:
    """What ran under DP, as `_without_dp`."""
    if kind == "reference":
        return "the reference generator released the patients' class frequencies under DP"
    return "the generator trained under DP"


def _described(name: str, check: dict[str, Any] | None, loose: dict[str, Any] | None = None) -> str:
    """ "ld_correlation 0.41 (needs >= 0.6)", or the bare name when the report lacks it; for a check
    that cannot tell at this size (`loose`), its standard error and so."""
    if not check or check.get("value") is None:
        return name
    noise = ""
    if loose is not None:
        noise = f"; standard error {loose['standard_error']:.2g}: cannot tell at this size"
    return f"{name} {check['value']:.3g} (needs {check['threshold']}{noise})"
