"""The report's synthetic-data section: which hospitals trained with synthetic records, and which did not."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genofed.common.reporting.formatting import fmt_int
from genofed.common.reporting.tables import markdown_table
from genofed.server.report.reading import mapping


def _site_row(site: str, record: Mapping[str, Any], used: Any) -> list[str]:
    """One hospital's validation verdict, record counts and spurious-association rate.

    `used` is how many synthetic records the hospital actually trained with.
    """
    verdict = (
        "passed"
        if record.get("passed")
        else "failed: " + ", ".join(record.get("failed_checks") or []) + "; not used"
    )
    spurious = record.get("spurious_association_rate")
    return [
        site,
        verdict,
        fmt_int(record.get("records_generated")),
        fmt_int(record.get("records_accepted")),
        fmt_int(used),
        "n/a" if spurious is None else f"{100 * spurious:.0f} %",
    ]


def synthetic_section(results: Mapping[str, Any]) -> str:
    """Which hospitals trained with synthetic records, and why the others did not: a clinician
    must be able to see that failed batches were not used. Empty when the run used none."""
    synthetic = mapping(results.get("synthetic"))
    if not synthetic:
        return ""
    eps = synthetic.get("generator_epsilon")
    cost = (
        f"Under DP each generator spent epsilon {eps:g} of its hospital's budget, charged to the same "
        "privacy ledger, so the epsilon below covers the generator and the training together."
        if eps is not None
        else "Without DP the generators were trained without a privacy guarantee, like the rest of this run."
    )
    sites = mapping(results.get("sites"))
    rows = [
        _site_row(site, mapping(record), mapping(sites.get(site)).get("synthetic"))
        for site, record in sorted(mapping(synthetic.get("sites")).items())
    ]
    table = markdown_table(
        ["Hospital", "Validation", "Generated", "Accepted", "Trained with", "Spurious associations"], rows
    )
    kind = str(synthetic.get("generator", "vae"))
    made = (
        "made reference-based records (a public panel's haplotypes, fitted to its own DP release)"
        if kind == "reference"
        else f"trained a {kind.upper()} on its own patients"
    )
    return (
        f"## Synthetic data\n\nEach hospital {made} and added up to "
        f"{synthetic.get('ratio', 0):g} validated synthetic records per real training patient. "
        "Batches that failed validation were not used; records too close to a real patient were "
        f"dropped. {cost}\n\n" + table
    )
