"""Whether a DP synthetic batch can pass validation at all, decided before anything is charged.

An outside walkthrough at a 130-patient hospital spent its whole lifetime budget of 3 on DP VAE,
GAN and reference batches whose fidelity was noise (allele-frequency correlation below 0, PCA
mixing 0); before each charge the tool only said that the privacy checks "cannot tell". This
module refuses such a batch before the charge (`genofed synth --spend-anyway` overrides it), from
PUBLIC facts only: the generator, `--epsilon`, the cohort size the product already treats as
public (`declared_size`, `synth_public.public_counts`), the number of released variants, the public
panel's frequencies and the noise the calibration planned. It never reads the patients' values:
a rule on them would itself be a release (one bit, uncharged).

The rules, each one quantity against one limit, from documented measurements
(docs/synthetic-data.md "Will a DP batch pass?"):

- **Reference generator**: the noise sd of a released per-class allele frequency,
  sigma C / (2 w n_class) (`site_release`'s arithmetic), with n_class half the public training
  patients (the larger of the two classes can be no smaller, so this is the most favourable
  case). Refused above `REFERENCE_NOISE_LIMIT` = 0.1, half the case/control difference (about 0.2)
  of the benchmark's Bonferroni findings: every DP reference batch measured
  (docs/benchmarks.md "Reference-based synthetic data", noise sd 0.12 to 2.8) recalled none of
  them, and association recall >= 0.5 is a hard limit of the validation.
- **VAE and GAN**: the declared cohort size and `--epsilon`. Refused at or below
  `DP_NETWORK_MEASURED_SIZE` people and `DP_NETWORK_MEASURED_EPSILON`: both generators lost the data
  at epsilon 8 on 1,252 people (docs/experiments/synthetic-fidelity.md: allele-frequency
  correlation 0.63-0.75, LD about 0), and no VAE batch passed under DP at 50-200 patients and
  epsilon 3 or 8 (docs/experiments/synthetic-utility.md, 0 of 54); fewer people or a smaller
  epsilon only add noise per step.

`MIN_BATCH_EPSILON` is what a site's budget must have left for another DP batch to be worth
suggesting (`synth_advice`, `hospital check --synthetic`): every DP batch measured below epsilon 1
failed (the reference generator at epsilon 1 failed allele frequencies even on 1,252 people of
1000 Genomes, synthetic-fidelity.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from genofed.common.errors import ConfigError
from genofed.common.synthetic.site_release import GENOTYPE_SHARE, clipping_norm

#: The largest noise sd of a released per-class allele frequency a reference batch may plan.
REFERENCE_NOISE_LIMIT = 0.1
#: The largest measured cohort and epsilon at which DP VAE and GAN batches still lost the data.
DP_NETWORK_MEASURED_SIZE = 1252
DP_NETWORK_MEASURED_EPSILON = 8.0
#: Below this epsilon no DP batch is worth suggesting (every measured one failed).
MIN_BATCH_EPSILON = 1.0
#: The epsilons a refusal may name as the smallest the check accepts (`PublicFacts.smallest_accepted`).
EPSILON_STEPS = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0)
#: What costs no privacy and makes no generated patient (docs/augmentation.md).
AUGMENTATION = (
    "genotype augmentation in the hospital's training, which costs no privacy (node config augment = "
    '"noise=0.01,mutate=0.005", or `genofed simulate --augment`; docs/augmentation.md)'
)


class CannotPass(ConfigError):
    """A DP batch refused before its charge: it cannot pass validation (`cannot_pass`)."""


def class_frequency_noise(
    noise_multiplier: float,
    declared_size: int,
    reference_freq: np.ndarray,
    released: np.ndarray,
) -> float:
    """The planned noise sd of a reference release's per-class allele frequency for a class of half
    the public training patients: sigma C / (2 w n_class)."""
    from genofed.common.synthetic.pipeline import public_generator_rows  # torch: only when a run needs it

    p = np.where(np.isfinite(reference_freq), reference_freq, 0.5)
    n_class = max(public_generator_rows(declared_size) / 2.0, 1.0)
    clip = clipping_norm(p, np.asarray(released, dtype=bool))
    return float(noise_multiplier) * clip / (2.0 * math.sqrt(GENOTYPE_SHARE) * n_class)


def cannot_pass(
    generator: str,
    *,
    epsilon: float,
    declared_size: int,
    noise_multiplier: float | None = None,
    reference_freq: np.ndarray | None = None,
    released: np.ndarray | None = None,
) -> str | None:
    """Why a DP batch of `generator` at `epsilon` cannot pass validation, in words, or None when
    the rules of the module docstring do not rule it out. `noise_multiplier`, `reference_freq` and
    `released`: the reference release's planned sigma, the panel's frequencies and the released
    variants (the reference generator only)."""
    if generator == "reference":
        if noise_multiplier is None or reference_freq is None or released is None:
            return None
        sd = class_frequency_noise(noise_multiplier, declared_size, reference_freq, released)
        if sd <= REFERENCE_NOISE_LIMIT:
            return None
        return (
            f"at epsilon {epsilon:g}, {int(np.sum(released))} released variants and a declared size of "
            f"{declared_size}, the release's noise (multiplier {noise_multiplier:.3g}) gives each class "
            f"allele frequency a noise sd of {sd:.2g}, above {REFERENCE_NOISE_LIMIT:g} (half the ~0.2 "
            "case/control difference of a real association): the site's associations are lost in the "
            "noise and association recall (needs >= 0.5) fails; every DP reference batch measured with "
            "a noise sd of 0.12 or more recalled none (docs/benchmarks.md)"
        )
    if declared_size <= DP_NETWORK_MEASURED_SIZE and epsilon <= DP_NETWORK_MEASURED_EPSILON:
        return (
            f"a DP {generator} generator at epsilon {epsilon:g} on a declared size of {declared_size} "
            f"patients cannot learn the cohort: both network generators lost it at epsilon "
            f"{DP_NETWORK_MEASURED_EPSILON:g} on {DP_NETWORK_MEASURED_SIZE:,} people (allele-frequency "
            "correlation 0.63-0.75, LD about 0), and no VAE batch passed under DP at 50-200 patients "
            "(docs/synthetic-data.md)"
        )
    return None


@dataclass(frozen=True)
class PublicFacts:
    """The public facts of one cohort that `cannot_pass` reads, kept by a hospital's own run so that
    the advice after a failed batch asks the same rule with the same inputs as the refusal before a
    charge: the advice had offered a larger `--epsilon`, another generator or DP on a reference
    batch that `synth` then refused (an outside walkthrough's `--spend-anyway` run).

    Args:
        declared_size: the cohort size a DP run follows (`synth_public.public_counts`).
        delta: the delta a DP run is calibrated at.
        reference_freq, released: the public panel's frequencies and the released variants (a run
            of the reference generator only; None: its rule cannot be judged and says nothing).
    """

    declared_size: int
    delta: float
    reference_freq: np.ndarray | None = None
    released: np.ndarray | None = None

    def problem(self, generator: str, epsilon: float, noise_multiplier: float | None = None) -> str | None:
        """`cannot_pass` for a DP batch of `generator` at `epsilon`; the reference release's noise
        is `noise_multiplier` (a run's, calibrated), else calibrated here the way `synth` does for
        its own release (`noise_for_budget`, no history)."""
        if generator == "reference" and noise_multiplier is None and self.reference_freq is not None:
            from genofed.common.privacy.accountant import BudgetExhausted
            from genofed.common.synthetic.generators import noise_for_budget

            try:
                noise_multiplier = noise_for_budget(
                    "reference", self.declared_size, None, epsilon=epsilon, delta=self.delta
                )
            except BudgetExhausted:
                return f"epsilon {epsilon:g} is too small for any noise to reach"
        return cannot_pass(
            generator,
            epsilon=epsilon,
            declared_size=self.declared_size,
            noise_multiplier=noise_multiplier,
            reference_freq=self.reference_freq if generator == "reference" else None,
            released=self.released if generator == "reference" else None,
        )

    def _network_unmeasured_above(self, generator: str) -> bool:
        """A VAE or GAN at a measured size: its rule refuses up to epsilon 8 from measurements and
        says nothing above, which is no ground to name a larger epsilon."""
        return generator != "reference" and self.declared_size <= DP_NETWORK_MEASURED_SIZE

    def no_larger_words(self, generator: str) -> str:
        """Why no larger --epsilon is named (`smallest_accepted` None), in words."""
        if self._network_unmeasured_above(generator):
            return (
                f"no DP {generator} batch was measured passing at a declared size of {self.declared_size} "
                f"(this check refuses every epsilon up to {DP_NETWORK_MEASURED_EPSILON:g}; none above "
                "was measured)"
            )
        return f"this check refuses every one up to {EPSILON_STEPS[-1]:g}"

    def smallest_accepted(self, generator: str, above: float) -> float | None:
        """The smallest of `EPSILON_STEPS` above `above` at which `problem` raises nothing for
        `generator`, or None when none does, and for the VAE and GAN at a measured size
        (`_network_unmeasured_above`, a reviewer). A larger epsilon only lowers the noise, so the
        steps are bisected (a few calibrations of the reference release's noise)."""
        if self._network_unmeasured_above(generator):
            return None
        steps = [e for e in EPSILON_STEPS if e > above]
        if not steps or self.problem(generator, steps[-1]) is not None:
            return None
        low, high = -1, len(steps) - 1  # steps[high] is accepted; steps[low] (if any) is not
        while high - low > 1:
            middle = (low + high) // 2
            if self.problem(generator, steps[middle]) is None:
                high = middle
            else:
                low = middle
        return steps[high]


def refusal(
    problem: str,
    *,
    ledger: str,
    left: float | None,
    budget: float | None,
    smallest: float | None,
    no_larger: str = "",
) -> str:
    """The refusal of a DP batch that cannot pass, before anything is charged: why, that nothing
    was charged, what to do instead and the override.

    `smallest`: the smallest --epsilon this check accepts (`PublicFacts.smallest_accepted`), None
    when it names none, and `no_larger` why (`PublicFacts.no_larger_words`). Why: the refusal
    offered "a larger --epsilon" at sites where every larger one it could name was refused too."""
    finite = left is not None and budget is not None and not math.isinf(budget)
    remaining = max(left or 0.0, 0.0)
    have = f"epsilon {remaining:.3g} of the budget of {budget:g} is left" if finite else ""
    instead = f"Instead: {AUGMENTATION}; or a batch without DP (no --epsilon), which stays inside the " + (
        "hospital (a site with a finite budget does not train on it)"
    )
    if smallest is None:
        instead += f". No larger --epsilon is known to help: {no_larger or 'this check refuses every one'}"
    elif finite and smallest > remaining:
        instead += (
            f". A larger --epsilon will not do here: the smallest this check accepts, {smallest:g}, is "
            f"more than the {remaining:.3g} left of the site's budget of {budget:g}"
        )
    else:
        instead += (
            f"; or --epsilon {smallest:g} or more, the smallest this check accepts (it refuses only what "
            "measurements show fails: a batch it accepts may still fail validation)"
        ) + (
            f", only if the budget allows it ({have}; the generator's charge is on top of the training's)"
            if finite
            else ""
        )
    return (
        f"this DP batch cannot pass validation: {problem}. Nothing was computed, written or charged "
        f"({ledger} is as it was). {instead}. To spend the epsilon all the same: --spend-anyway"
    )
