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

With fewer held-out patients than `genofed.client.synth.MIN_HOLDOUT`, a privacy failure may be
the checks' sampling noise: the message says so. Genotype augmentation in training is always the
alternative that makes no generated patient.

Under DP the generator's epsilon is charged to the site's ledger whatever the verdict
(`genofed.client.synth`): the message says so, since a retry spends again.

At a site (`--state-dir SITE/state`), no remedy suggests more epsilon than the site has left of its
declared budget (`SiteBudget`): an audit was told to turn DP on at `--epsilon 8` at a site whose
budget was 3, with 1.38 left, a command the site's own cap would refuse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genofed.client.synth import MIN_HOLDOUT
from genofed.common.errors import GenofedError

#: Checks whose failure means the samples are too close to the training patients.
PRIVACY_CHECKS = ("privacy_loss", "exact_copies", "mia_auc")
#: Checks whose failure means the label's signal was not reproduced.
ASSOCIATION_CHECKS = ("spurious_association_rate", "association_recall", "effect_correlation")
#: The other generator, to try when one fails.
OTHER_GENERATOR = {"vae": "gan", "gan": "vae", "reference": "vae"}
#: Checks a copy of linkage and population structure fails; the reference generator takes both
#: from a public panel.
LINKAGE_CHECKS = ("ld_correlation", "pca_mixing")
#: What the message suggests instead of synthetic records (docs/augmentation.md).
AUGMENT_EXAMPLE = 'augment = "noise=0.01,mutate=0.005"'
#: The generator epsilon suggested for turning DP on, when the site can afford it.
SUGGESTED_EPSILON = 8.0


@dataclass(frozen=True)
class SiteBudget:
    """What is left of a site's declared budget, for the advice (`site_budget`).

    Args:
        state_dir: the site's state folder, as the operator gave it.
        budget: the lifetime epsilon budget its hospital.json declares.
        left: the budget less what its ledger has spent, at the site's delta (after this run's charge).
    """

    state_dir: str
    budget: float
    left: float

    def affordable(self, epsilon: float) -> float | None:
        """`epsilon`, or the most the site has left below it (rounded down to 2 decimals); None when
        nothing is left to spend."""
        if epsilon <= self.left:
            return epsilon
        most = math.floor(self.left * 100) / 100
        return most if most > 0 else None

    def words(self) -> str:
        return f"epsilon {max(self.left, 0.0):.3g} of its budget of {self.budget:g} is left"


def site_budget(state_dir: str | Path) -> SiteBudget | None:
    """What is left at the site whose state folder is `state_dir` (its declared budget less its
    ledger's epsilon at the site's delta); None outside a site's state folder, at a site that
    declared no budget, or when the ledger cannot be read (the advice then names no figure)."""
    if not state_dir:
        return None
    from genofed.client.local_ledger import DEFAULT_DELTA, local_ledger
    from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger

    try:
        local = local_ledger(state_dir, None, spends=False)
        if local.declared_budget is None or math.isinf(local.declared_budget):
            return None
        ledger = PrivacyLedger(local.state_dir / LEDGER_FILE)
        delta = DEFAULT_DELTA if local.delta is None else local.delta  # the site's, read once above
        spent = ledger.epsilon(delta) if ledger.charges else 0.0
    except (GenofedError, OSError, ValueError):
        return None
    return SiteBudget(str(state_dir), local.declared_budget, local.declared_budget - spent)


def failure_message(summary: dict[str, Any], out: str, state_dir: str = "") -> str:
    """The lines `genofed synth` prints for a batch that failed validation.

    Args:
        summary: what `genofed.client.synth.synthesize` returned (validation.json's content).
        out: the output folder (where report.md was written).
        state_dir: the site's state folder (where the ledger was charged, under DP).
    """
    checks = {c["name"]: c for c in summary.get("validation", {}).get("checks", [])}
    failed = list(summary.get("failed_checks", []))
    lines = [f"the synthetic batch FAILED validation: no records written (details: {out}/report.md)"]
    lines.append("  failed: " + ", ".join(_described(name, checks.get(name)) for name in failed))
    epsilon = summary.get("epsilon")
    if epsilon is None:
        lines.append(
            "  privacy protection was OFF (no --epsilon): the generator trained without DP; nothing was "
            "written, so nothing left the site"
        )
    else:
        where = f" in {state_dir}" if state_dir else ""
        lines.append(
            f"  privacy protection was ON: the generator trained under DP at epsilon {epsilon:g} (delta "
            f"{summary.get('delta', 0):g}), charged to the site's privacy ledger{where} although nothing "
            "was written; a retry spends again"
        )
    lines.append("  try next (most preferred first):")
    tips = suggestions(summary, site_budget(state_dir), state_dir=state_dir)
    lines += [f"    {i}. {tip}" for i, tip in enumerate(tips, 1)]
    return "\n".join(lines)


def suggestions(summary: dict[str, Any], site: SiteBudget | None = None, *, state_dir: str = "") -> list[str]:
    """Concrete next commands' flags from which families of checks failed, most preferred first:
    one line of remedies per failed family, never pulling one knob both ways.

    Args:
        site: what is left of the site's budget (None: not at a site, or not known): no remedy
            suggests more epsilon than that.
        state_dir: the `--state-dir` the run was given, named in the remedies ("" : SITE/state).
    """
    too_close, too_weak = _families(summary)
    tips: list[str] = []
    holdout = summary.get("real_holdout")
    if too_close and holdout is not None and int(holdout) < MIN_HOLDOUT:  # first: it qualifies the rest
        tips.append(
            f"a larger cohort if you can: the privacy checks ran on only {holdout} held-out patients "
            f"(fewer than {MIN_HOLDOUT}), so their failures may be sampling noise as much as memorisation"
        )
    if too_close:
        tips += _closeness_tips(summary, both=too_weak, site=site, state_dir=state_dir)
    if too_weak:
        tips += _fidelity_tips(summary, both=too_close, site=site)
    tips.append(
        "or no synthetic records: genotype augmentation in the hospital's training instead "
        f"(node config {AUGMENT_EXAMPLE}, or `genofed simulate --augment`; docs/augmentation.md)"
    )
    return tips


def _closeness_tips(
    summary: dict[str, Any], *, both: bool, site: SiteBudget | None = None, state_dir: str = ""
) -> list[str]:
    """The remedies for records too close to the training patients; with `both`, said to come first;
    turning DP on at no more epsilon than `site` has left."""
    kind, epochs, epsilon = _run(summary)
    first = (
        "first the privacy checks, because a batch too close to the patients must not be used however "
        "faithful it is, and training harder for fidelity would memorise more: "
        if both
        else ""
    )
    if epsilon is None:
        tips = [_dp_on_tip(first, site, state_dir)]
        if epochs > 1 and not both:
            tips.append(
                f"if you stay without DP, less training: --epochs {max(1, epochs // 2)} (this run: "
                f"{epochs}); it memorises less but gives no formal bound"
            )
        return tips
    what = "the released frequencies" if kind == "reference" else "the generator's training"
    return [
        f"{first}a smaller --epsilon for the generator than {epsilon:g}: more noise in {what}, less "
        "memorised (a new run, charged again)"
    ]


def _dp_on_tip(first: str, site: SiteBudget | None, state_dir: str) -> str:
    """Turn DP on: at `SUGGESTED_EPSILON`, or at most what the site has left, or not at all."""
    where = state_dir or "SITE/state"
    bounds = "the one remedy that bounds what the records reveal"
    if site is None:
        return (
            f"{first}turn privacy protection on: --epsilon {SUGGESTED_EPSILON:g} --state-dir {where} (the "
            "cost goes to the site's ledger; a folder that is no site's needs --budget EPSILON too): "
            f"{bounds}"
        )
    epsilon = site.affordable(SUGGESTED_EPSILON)
    if epsilon is None:
        return (
            f"{first}privacy protection (DP) is {bounds}, but this site's budget cannot afford a DP batch: "
            f"{site.words()} ({site.state_dir})"
        )
    most = "" if epsilon == SUGGESTED_EPSILON else ", the most it has left: a small epsilon may fail fidelity"
    return (
        f"{first}turn privacy protection on: --epsilon {epsilon:g} --state-dir {site.state_dir} "
        f"({site.words()}{most}; the cost goes to the site's ledger): {bounds}"
    )


def _fidelity_tips(summary: dict[str, Any], *, both: bool, site: SiteBudget | None = None) -> list[str]:
    """The remedies for too weak a copy of the cohort, most preferred first; with `both`, only those
    that do not loosen privacy (no more epochs, no larger epsilon); a larger epsilon only as far as
    `site` has it left."""
    kind, epochs, epsilon = _run(summary)
    then = "then, if fidelity still fails, change the generator rather than loosen privacy: " if both else ""
    tips: list[str] = []
    if not both and epsilon is not None:
        larger = 2 * epsilon if site is None else site.affordable(2 * epsilon)
        if larger is not None and larger > epsilon:
            left = "" if site is None else f"; {site.words()}"
            tips.append(
                f"a larger --epsilon for the generator, e.g. {larger:g} (this run: {epsilon:g}): less "
                f"noise, at a higher privacy cost{left}"
            )
        else:
            tips.append(
                f"a larger --epsilon than {epsilon:g} is beyond this site's budget ({site.words()}): "
                "the generator cannot have less noise here"
            )
    if not both and epsilon is None and epochs:
        tips.append(f"more training: --epochs {2 * epochs} (this run: {epochs})")
    tips.append(
        f"{then}the other generator: --generator {OTHER_GENERATOR.get(kind, 'vae')} (this run: {kind})"
    )
    if kind != "reference" and _failed(summary, LINKAGE_CHECKS):
        tips.append(
            "linkage and structure from a public panel instead of the patients: --generator reference "
            "--reference PANEL.vcf.gz (a phased panel of people who are not patients here, e.g. 1000 "
            "Genomes; docs/synthetic-data.md)"
        )
    if not both and epsilon is not None and epochs:
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


def _families(summary: dict[str, Any]) -> tuple[bool, bool]:
    """(too close to the training patients, too weak a copy of the cohort) from the failed checks;
    AA_TS counts as the one or the other by which side of its band it fell."""
    checks = {c["name"]: c for c in summary.get("validation", {}).get("checks", [])}
    too_close = too_weak = False
    for name in summary.get("failed_checks", []):
        if name in PRIVACY_CHECKS:
            too_close = True
        elif name == "aats_train":
            value = (checks.get(name) or {}).get("value")
            if value is not None and value < 0.5:  # failed below the band, not above it
                too_close = True
            else:
                too_weak = True
        else:
            too_weak = True
    return too_close, too_weak


def _described(name: str, check: dict[str, Any] | None) -> str:
    """ "ld_correlation 0.41 (needs >= 0.6)", or the bare name when the report lacks it."""
    if not check or check.get("value") is None:
        return name
    return f"{name} {check['value']:.3g} (needs {check['threshold']})"
