"""`genofed synth`'s options (`SynthOptions`): what a run generates, under which privacy, ledger and
budget, with which generator, from which inputs. A module of its own so that the run's parts
(`synth_public`, `synth_charge`, `synth_output`, `synth_failure`) read the options without importing
the run (`client/synth.py`) that imports them. The refusals of the options that need no torch are
`synth_arguments`, which the CLI runs before importing this.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from genofed.client.synth_arguments import check_arguments
from genofed.common.errors import ConfigError
from genofed.common.synthetic.checks import Thresholds
from genofed.common.synthetic.generators import generator_settings


@dataclass(frozen=True)
class SynthOptions:
    #: records to generate; default: as many as the real cohort (the loader needs 20 patients),
    #: under DP its declared size (`declared_size`: the exact count is not public), for a
    #: hospital's own batch at least USABLE_RECORDS (a site refuses to train on fewer)
    n: int | None = None
    epsilon: float = math.inf  # spent on the generator; inf = no DP (then no ledger charge)
    delta: float = 1e-5
    #: the site's lifetime cap; refused if the ledger would exceed it (with `bound_to_data`, required
    #: under DP unless `state_dir` is a site's state folder with a declared budget)
    budget: float | None = None
    state_dir: str = ""  # where the site's ledger lives (required with a finite epsilon)
    #: Under DP, bind the ledger in `state_dir` to the input files by the hospital agent's rules and
    #: cap it by a site's declared budget (`client.local_ledger`): what a hospital's own `genofed
    #: synth` does. Off for simulations and experiments, whose ledgers are a run's own.
    bound_to_data: bool = False
    #: The binding's overrides: a reason to start a new ledger for data that had one, or to carry a
    #: ledger over to updated files (both written to a site's audit log).
    new_ledger: str = ""
    data_update: str = ""
    #: Raise the lifetime cap recorded beside a ledger outside any site (`ledger-budget.json`) to
    #: `budget`: the site's (its DPO's) decision, never a side effect of a larger `--budget`
    #: (`local_budget_record.check_budget_change`). False: a `--budget` above the recorded cap is refused.
    raise_budget: bool = False
    seed: int = 42
    generator: str = "vae"  # "vae", "gan" or "reference" (genofed.common.synthetic.generators)
    #: "phased": the hospital states its VCF is phased, so the generator models haplotypes (a
    #: heterozygous call that is nevertheless unphased, and a filled missing call, is phased at
    #: random per patient: `phase_for_generator`); refused for a non-VCF input. "auto": without DP,
    #: haplotype-aware when the input is a fully phased VCF with no missing calls (then the output
    #: VCF is phased too); under DP, dosages (whether every call is phased is a fact about the
    #: patients, not a public one). "ignore": always model dosages.
    phase: str = "auto"
    epochs: int | None = None  # generator training epochs; None: the generator's default
    #: Under DP, the cohort size the hospital declares public: the VAE's and GAN's DP-SGD rate and
    #: steps follow its generator share (`pipeline.public_generator_rows`), never the actual count,
    #: which moves with one patient. None: the site's declared size (its hospital.json), else the
    #: patients rounded to 10, the rule a site that declares none follows
    #: (`declared_size.declared_cohort_size`).
    declared_size: int | None = None
    temperature: float = 1.0  # sampling temperature; < 1 sharpens each variant's categorical
    #: The input phenotype file's 0/1 disease column; the synthetic phenotypes.csv always calls it
    #: `label` (the column the training path reads back, `genofed.client.synthetic_use`).
    label_column: str = "label"
    thresholds: Thresholds = Thresholds()
    #: The reference generator's public panel: a phased VCF/BCF (required with --generator
    #: reference), an optional (sample_id, population) table for its people, and an optional
    #: public gene list (BED or gene table) narrowing the variants whose per-class frequencies
    #: the site releases.
    reference: str = ""
    reference_populations: str = ""
    gene_prior: str = ""
    #: Spend on a DP batch the pre-charge check says cannot pass validation (`synth_feasibility`);
    #: False: such a batch is refused before anything is charged (a hospital's own run only).
    spend_anyway: bool = False
    #: Where a warning before the charge goes (the CLI prints "warning: ..."; None: this module's
    #: logger), so an operator reads it while Ctrl-C still charges nothing.
    warn: Callable[[str], None] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        check_arguments(self)

    def settings(self) -> Any:
        try:
            return generator_settings(self.generator, seed=self.seed, epochs=self.epochs)
        except ValueError as exc:  # the generator's own range checks, worded for the option
            raise ConfigError(f"--epochs: {exc}") from None
