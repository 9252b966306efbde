"""The report's synthetic-data section: which hospitals trained with synthetic records, and which did not."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genofed.common.reporting.formatting import fmt_int
from genofed.common.reporting.tables import markdown_table
from genofed.server.report.reading import mapping, number


def _site_row(site: str, record: Mapping[str, Any], used: Any) -> list[str]:
    """One hospital's validation verdict, record counts and spurious-association rate.

    `used` is how many synthetic records the hospital actually trained with.
    """
    failed = record.get("failed_checks")
    verdict = (
        "passed"
        if record.get("passed")
        # under DP which checks failed stays at the hospital (its batch's validation.json)
        else ("failed: " + ", ".join(failed) if failed else "failed validation") + "; not used"
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


def synthetic_use(results: Mapping[str, Any]) -> tuple[int, int] | None:
    """(hospitals that trained with synthetic records, hospitals that made some); None when the run
    requested none.

    A hospital trained with them when its `sites.NAME.synthetic` count is above 0. Failed batches
    are not used, yet their generators' epsilon is spent: the reader must see how many were used.
    """
    synthetic = mapping(results.get("synthetic"))
    if not synthetic:
        return None
    made = mapping(synthetic.get("sites"))
    sites = mapping(results.get("sites"))
    used = sum(1 for site in made if (number(mapping(sites.get(site)).get("synthetic")) or 0) > 0)
    return used, len(made)


def _use_words(used: int, made: int, private: bool) -> str:
    """How many hospitals trained with synthetic records and, under DP, that the generators whose
    records went unused spent their epsilon all the same: the cost is paid before validation."""
    if made and used == made:
        return f"all {made} hospitals trained with synthetic records"
    words = f"{used} of the {made} hospital{'s' if made != 1 else ''} trained with synthetic records"
    if used == 0:
        words += ": none was used"
        return words + (", yet each generator's epsilon was spent all the same" if private else "")
    if not private:
        return words
    unused = made - used
    return words + (
        "; the other's generator spent its epsilon all the same"
        if unused == 1
        else f"; the other {unused} hospitals' generators spent their epsilon all the same"
    )


def _cost_words(eps: Any) -> str:
    """What each generator cost, and where it is accounted."""
    if eps is None:
        return (
            "Without DP the generators were trained without a privacy guarantee, like the rest of this run."
        )
    return (
        f"Under DP each generator spent epsilon {eps:g} of its hospital's budget, charged to the same "
        "privacy ledger, so the epsilon below covers the generator and the training together."
    )


def _filter_words(private: bool) -> str:
    """What happened to records close to a real patient: without DP they were dropped; under DP
    none is (`pipeline.filter_and_validate`: which records a filter keeps would depend on each
    patient, outside the DP release), so the report said something untrue of a DP run."""
    if private:
        return (
            "under DP no record was dropped as too close to a real patient: every record is the DP "
            "release's own (exact copies fail a batch)."
        )
    return "records too close to a real patient were dropped."


def synthetic_section(results: Mapping[str, Any]) -> str:
    """Which hospitals trained with synthetic records, and why the others did not: a clinician
    must be able to see that failed batches were not used. Empty when the run used none."""
    synthetic = mapping(results.get("synthetic"))
    if not synthetic:
        return ""
    used, made_by = synthetic_use(results) or (0, 0)
    eps = synthetic.get("generator_epsilon")
    cost = _cost_words(eps)
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
        f"## Synthetic data\n\nEach hospital {made}, to add up to "
        f"{synthetic.get('ratio', 0):g} validated synthetic records per real training patient; "
        f"{_use_words(used, made_by, eps is not None)}. Batches that failed validation were not used; "
        f"{_filter_words(eps is not None)} {cost}\n\n" + table
    )
