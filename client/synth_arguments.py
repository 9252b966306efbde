"""`genofed synth`'s refusals of its arguments alone (ranges, choices, options that need each other),
in a module that loads no torch, so that the CLI says them in a fraction of a second: checked only
inside `SynthOptions`, a bad `--epsilon` took 6-9 s to refuse, the time of importing the generators.
`SynthOptions.__post_init__` runs the same checks, for every other caller.
"""

from __future__ import annotations

import math
from typing import Protocol

from genofed.common.synthetic.generators import GENERATORS
from genofed.common.util.checks import (
    require,
    require_at_least,
    require_choice,
    require_in_range,
    require_positive,
)

#: `--phase` (`SynthOptions.phase`): "phased" the hospital's statement that its VCF is phased.
PHASES = ("auto", "phased", "ignore")


class SynthArguments(Protocol):
    """What these checks read of `genofed.client.synth.SynthOptions` (or the CLI's arguments)."""

    n: int | None
    epsilon: float
    delta: float
    temperature: float
    phase: str
    generator: str
    declared_size: int | None
    spend_anyway: bool
    epochs: int | None
    reference: str
    reference_populations: str
    gene_prior: str
    bound_to_data: bool


def check_arguments(options: SynthArguments) -> None:
    """Refuse (ConfigError) what the arguments alone show to be wrong, before any file is read."""
    if options.n is not None and options.bound_to_data:  # a hospital's own batch
        from genofed.common.synthetic.checks.precision import MIN_RECORDS  # sklearn: only with --n

        require_at_least(
            "--n",
            options.n,
            MIN_RECORDS,
            hint="fewer records are too few for the privacy checks, and a site refuses them for "
            "training; omit --n for as many as the real cohort",
        )
    elif options.n is not None:  # a simulation's: 1 record has no nearest neighbour for the checks
        require_at_least("--n", options.n, 2, hint="the number of synthetic records")
    require_positive("--epsilon", options.epsilon, hint="inf for no DP")
    require_in_range("--delta", options.delta, 0, 1, low_open=True, high_open=True)
    require_positive("--temperature", options.temperature, hint="1 = the generator's own distribution")
    require_choice("--phase", options.phase, PHASES)
    require_choice("--generator", options.generator, GENERATORS)
    if options.declared_size is not None:
        require_at_least(
            "--declared-size",
            options.declared_size,
            2,
            message="--declared-size is the number of patients this hospital declares public; give 2 or more",
        )
        require(
            not math.isinf(options.epsilon),
            "--declared-size applies under DP only (--epsilon): it sets the generator's sampling rate",
        )
    require(
        not options.spend_anyway or not math.isinf(options.epsilon),
        "--spend-anyway applies under DP only (--epsilon): without DP nothing is charged",
    )
    uses_panel = options.generator == "reference"
    if options.epochs is not None and not uses_panel:  # the reference generator's refusal: settings()
        require_at_least(
            "--epochs",
            options.epochs,
            1,
            message=f"--epochs must be at least 1, got {options.epochs}",
            hint="the generator's training passes over the patients",
        )
    require(
        uses_panel == bool(options.reference),
        "--generator reference needs --reference PANEL.vcf.gz (a public phased panel)"
        if uses_panel
        else "--reference, --reference-populations and --gene-prior apply to --generator reference only",
    )
    require(
        not uses_panel or options.temperature == 1.0,
        "--temperature applies to the VAE and GAN only; the reference generator copies haplotypes",
    )
    require(
        uses_panel or not (options.reference_populations or options.gene_prior),
        "--reference-populations and --gene-prior apply to --generator reference only",
    )
