"""The percentiles in words: why `genofed predict` leaves the percentile column empty although the
model file has a risk distribution (`withheld_percentiles_note`: its DP noise, or too few people
for exact counts, with what would give them), and whom the percentiles it shows are relative to
(`reference_population`).

Why a module of its own: whether percentiles are shown is `operating.percentiles_shown`'s rule;
saying it to a clinician depends on what kind of file it is (a federated run with DP or without, a
`genofed adapt` file) and on `operating.exact_counts`, and both sentences must agree with each other
and with `inspect-model`.
"""

from __future__ import annotations

from typing import Any

from genofed.common.scoring.model_file import ModelFile
from genofed.common.scoring.operating import (
    MAX_PERCENTILE_SD,
    exact_counts,
    minimum_for_percentiles,
    percentiles_shown,
    sampling_percentile_sd,
    total_percentile_sd,
)
from genofed.common.scoring.threshold_words import declared_validation


def withheld_percentiles_note(model: ModelFile, distribution: dict[str, Any]) -> str:
    """Why the percentile column is empty although the model file has a distribution (`distribution`,
    the model's): its noise, or, read off exact counts (`exact_counts`: a `genofed adapt` file, or a
    federated run without DP), too few people (`sampling_percentile_sd`)."""
    patients = float(distribution.get("patients") or 0)
    sampled = sampling_percentile_sd(distribution)
    exact = exact_counts(model.operating, model.provenance)
    if exact and sampled is not None and sampled > MAX_PERCENTILE_SD:
        fewest = minimum_for_percentiles()
        remedy = (
            f"To get them, adapt the shared model again with at least {fewest} validation patients (a "
            "larger --validation-fraction), which leaves fewer patients to fit on"
            if _hospitals_own(model, distribution)
            else f"To get them, the run's hospitals must evaluate the model on at least {fewest} validation "
            "patients together"
        )
        return (
            f"percentiles not shown: the risk distribution was read off {patients:.0f} validation patients "
            f"(exact counts), and from so few people sampling alone moves a percentile by up to "
            f"{sampled:.1f} points (one sd; shown up to {MAX_PERCENTILE_SD:g}, so from "
            f"{fewest} people); the risk column is unaffected. {remedy}"
        )
    noise = float(distribution.get("percentile_sd") or 0)
    moved = (
        f"whose DP noise moves a percentile by up to {noise:.1f} points"
        if noise > 0
        # a DP run whose replies named no noise, or a file from before the noise was recorded
        else "whose DP noise the model file does not record"
    )
    if sampled is not None:
        moved += (
            f" and sampling so few people by up to {sampled:.1f}: "
            f"{total_percentile_sd(distribution):.1f} points together"
        )
    return (
        f"percentiles not shown: the training population's risk distribution rests on about {patients:.0f} "
        f"noisy validation patients, {moved} (one sd; shown up to {MAX_PERCENTILE_SD:g}); the risk column "
        "is unaffected"
    )


def _hospitals_own(model: ModelFile, distribution: dict[str, Any]) -> bool:
    """Whether `distribution` was read off one hospital's own validation patients (a `genofed adapt`
    file's), not the federation's (a federated run's, with DP or without)."""
    return model.provenance.get("kind") == "adapted" or "hospital's own" in str(
        distribution.get("source") or ""
    )


def reference_population(model: ModelFile) -> str | None:
    """Who the percentiles are relative to, in words, from what the model file records: the
    federation's noisy validation patients (a federated run: about how many, and about what share
    cases), or a hospital's own (`genofed adapt`, exact). None without a risk distribution."""
    distribution = model.operating.get("risk_distribution")
    exact = exact_counts(model.operating, model.provenance)
    if not distribution or not percentiles_shown(distribution, exact=exact):
        return None
    point = model.operating.get("threshold") or {}
    about = "" if exact else "about "
    patients = distribution.get("patients")
    cases = point.get("validation_cases")
    if cases is None:
        cases = ((model.provenance.get("metrics") or {}).get("site_evaluation") or {}).get("cases")
    if _hospitals_own(model, distribution):
        who = "the hospital's own validation patients (exact counts)"
    else:
        who = f"the federation's validation patients ({'exact' if exact else 'noisy'} counts)"
    facts = []
    if isinstance(patients, int | float) and patients > 0:
        declared = declared_validation(model, exact)
        facts.append(
            f"{about}{float(patients):.0f} people"
            + (f" (the hospitals declared {declared:,})" if declared else "")
        )
        if isinstance(cases, int | float):
            facts.append(f"{about}{min(max(float(cases) / float(patients), 0.0), 1.0):.0%} cases")
    spread = distribution.get("percentile_sd")
    if isinstance(spread, int | float) and spread > 0:
        facts.append(
            "the DP noise and sampling move a percentile by up to "
            f"{total_percentile_sd(distribution):.0f} points together (one sd)"
        )
    listed = f": {', '.join(facts)}" if facts else ""
    return f"{who}{listed}; clinic patients, not the general population"
