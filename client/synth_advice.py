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
"""

from __future__ import annotations

from typing import Any

from genofed.client.synth import MIN_HOLDOUT

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
    lines += [f"    {i}. {tip}" for i, tip in enumerate(suggestions(summary), 1)]
    return "\n".join(lines)


def suggestions(summary: dict[str, Any]) -> list[str]:
    """Concrete next commands' flags from which families of checks failed, most preferred first:
    one line of remedies per failed family, never pulling one knob both ways."""
    too_close, too_weak = _families(summary)
    tips: list[str] = []
    holdout = summary.get("real_holdout")
    if too_close and holdout is not None and int(holdout) < MIN_HOLDOUT:  # first: it qualifies the rest
        tips.append(
            f"a larger cohort if you can: the privacy checks ran on only {holdout} held-out patients "
            f"(fewer than {MIN_HOLDOUT}), so their failures may be sampling noise as much as memorisation"
        )
    if too_close:
        tips += _closeness_tips(summary, both=too_weak)
    if too_weak:
        tips += _fidelity_tips(summary, both=too_close)
    tips.append(
        "or no synthetic records: genotype augmentation in the hospital's training instead "
        f"(node config {AUGMENT_EXAMPLE}, or `genofed simulate --augment`; docs/augmentation.md)"
    )
    return tips


def _closeness_tips(summary: dict[str, Any], *, both: bool) -> list[str]:
    """The remedies for records too close to the training patients; with `both`, said to come first."""
    kind, epochs, epsilon = _run(summary)
    first = (
        "first the privacy checks, because a batch too close to the patients must not be used however "
        "faithful it is, and training harder for fidelity would memorise more: "
        if both
        else ""
    )
    if epsilon is None:
        tips = [
            f"{first}turn privacy protection on: --epsilon 8 --state-dir SITE/state (the cost goes to the "
            "site's ledger; a folder that is no site's needs --budget EPSILON too): the one remedy that "
            "bounds what the records reveal"
        ]
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


def _fidelity_tips(summary: dict[str, Any], *, both: bool) -> list[str]:
    """The remedies for too weak a copy of the cohort, most preferred first; with `both`, only those
    that do not loosen privacy (no more epochs, no larger epsilon)."""
    kind, epochs, epsilon = _run(summary)
    then = "then, if fidelity still fails, change the generator rather than loosen privacy: " if both else ""
    tips: list[str] = []
    if not both and epsilon is not None:
        tips.append(
            f"a larger --epsilon for the generator, e.g. {2 * epsilon:g} (this run: {epsilon:g}): less "
            "noise, at a higher privacy cost"
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
