"""What a `genofed synth` run follows in place of facts about its patients: under DP, the cohort size
and generator training rows the site makes public (`public_counts`: the exact count moves with one
patient), the public facts a DP batch is judged on before its charge (`public_facts`, read by
`synth_feasibility`), and the reference generator's public panel (`public_panel`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genofed.client.declared_size import declared_cohort_size
from genofed.client.local_ledger import LocalLedger
from genofed.client.synth_feasibility import PublicFacts
from genofed.client.synth_options import SynthOptions
from genofed.common.synthetic.pipeline import public_generator_rows
from genofed.common.synthetic.reference_panel import ReferencePanel
from genofed.common.util.checks import require


def check_declared_size(options: SynthOptions, site: LocalLedger) -> None:
    """Refuse a `--declared-size` other than the one the site declared (its hospital.json): the
    size a hospital states public is one number, set by its configuration."""
    declared = site.declared_size
    require(
        options.declared_size is None or declared is None or options.declared_size == declared,
        f"--declared-size {options.declared_size} differs from the cohort size site {site.site} declared "
        f"public ({declared}, in {site.site_file}); leave --declared-size out at a site: its own is used. "
        "Nothing was read or charged.",
    )


def public_counts(options: SynthOptions, site: LocalLedger, patients: int) -> dict[str, Any]:
    """Under DP, the counts the run follows instead of the exact ones (validation.json's
    `dp_sampling`): the cohort size the site declared, else `--declared-size`, else the patients
    rounded to 10 (`declared_size.declared_cohort_size`, what a site declaring none makes public),
    which is also the default number of records; and for the VAE and GAN the generator's training
    rows as far as anyone outside may know, the share of that size the keyed split sends to
    training (their DP-SGD's rate and steps follow it; the reference generator's one release
    samples no patients)."""
    if site.declared_size is not None:
        size, source = site.declared_size, f"the size site {site.site} declared public"
    elif options.declared_size is not None:
        size, source = options.declared_size, "--declared-size"
    else:
        size, source = declared_cohort_size(patients), "the patients rounded to 10 (no declared size)"
    rows = {} if options.generator == "reference" else {"rows": public_generator_rows(size)}
    return {**rows, "declared_size": size, "from": source}


def dp_declared_size(public: dict[str, Any] | None, site: LocalLedger | None, patients: int) -> int:
    """The cohort size a DP batch follows: this DP run's (`public_counts`); without DP, the one a DP
    run would follow (the size the site the run is tied to declared, else the patients rounded to
    10; `--declared-size` applies under DP only)."""
    if public is not None:
        return int(public["declared_size"])
    if site is not None and site.declared_size is not None:
        return int(site.declared_size)
    return declared_cohort_size(patients)


def public_facts(
    options: SynthOptions,
    declared_size: int,
    panel: ReferencePanel | None,
    focus: np.ndarray | None,
) -> PublicFacts:
    """The public facts `synth_feasibility.cannot_pass` reads of this cohort: the declared size, the
    delta and, for the reference generator, the panel's frequencies and the released variants."""
    if panel is None:
        return PublicFacts(declared_size, options.delta)
    released = ~panel.covered | (True if focus is None else np.asarray(focus, dtype=bool))
    return PublicFacts(declared_size, options.delta, panel.alt_frequencies(), released)


def public_panel(
    options: SynthOptions, variant_ids: list[str]
) -> tuple[ReferencePanel | None, np.ndarray | None]:
    """The public panel aligned to the site's variants and the released variants (`focus`, from
    the gene list), or (None, None) for the VAE and GAN."""
    if options.generator != "reference":
        return None, None
    from genofed.common.data.panel import VariantPanel
    from genofed.common.data.regions import load_gene_regions, variants_in_regions
    from genofed.common.synthetic.reference_panel import load_reference_panel

    panel = load_reference_panel(
        options.reference, variant_ids, populations=options.reference_populations or None
    )
    if not options.gene_prior:
        return panel, None
    columns = variants_in_regions(
        VariantPanel(variant_ids, np.zeros(len(variant_ids))), load_gene_regions(options.gene_prior)
    )
    focus = np.zeros(len(variant_ids), dtype=bool)
    focus[columns] = True
    return panel, focus
