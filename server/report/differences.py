"""The headline's differences with their paired 95 % intervals: federated minus pooled, minus the
plain DP logistic regression federation (a private run's), minus the median hospital alone, and
minus each hospital alone (results.json `auc_differences`).

Every model of a simulation is scored on the same test people, so their AUCs err together: a
person the federated model misranks, the pooled one mostly misranks too. Two separate intervals
ignore that and are far too wide for a difference; DeLong's paired interval (DeLong, DeLong &
Clarke-Pearson 1988, `genofed.common.reporting.auc.delong_contrast`) uses the people's structural
components of both AUCs. A biostatistician's review asked for it: "0.031 below pooled" said
nothing about whether the test cohort could tell the two apart.

Read from RUN/test_predictions.csv and RUN/reference_predictions.csv; without the latter, as
results.json `auc_differences` recorded them (a run of real exports keeps no reference predictions:
docs/simulation.md); without either (--no-references, a deployed run, an older run folder) there
is nothing here and the report says nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genofed.common.reporting.auc import AucDifference, delong_contrast, paired_delong_difference, placements
from genofed.server.report.reading import mapping, number
from genofed.server.report.run_files import (
    ALONE_KINDS,
    PLAIN_DP_COLUMN,
    POOLED_COLUMN,
    Predictions,
    ReferencePredictions,
)


@dataclass(frozen=True)
class Contrast:
    """Federated minus one reference (or the median of several): who the reference is, as
    results.json names it (`key`) and in words (the hospital, or the median's hospitals), its AUC,
    and the paired difference."""

    key: str
    words: str
    reference_auc: float
    difference: AucDifference


@dataclass(frozen=True)
class AucDifferences:
    """The headline's contrasts (None where the reference is absent) and each hospital's
    (kind in `ALONE_KINDS` -> hospital -> contrast)."""

    pooled: Contrast | None = None
    median_alone: Contrast | None = None
    alone: dict[str, dict[str, Contrast]] = field(default_factory=dict)
    plain_dp: Contrast | None = None


def auc_differences(
    predictions: Predictions | None, references: ReferencePredictions | None
) -> AucDifferences | None:
    """Federated minus each reference on the test cohort; None without both files' risks."""
    if predictions is None or references is None:
        return None
    labels, fed = predictions.labels, predictions.risks
    pooled = references.columns.get(POOLED_COLUMN)
    plain = references.columns.get(PLAIN_DP_COLUMN)
    alone = {
        kind: {
            site: contrast
            for site, risks in references.alone(kind).items()
            if (contrast := _minus(labels, fed, risks, f"{kind}:{site}", site)) is not None
        }
        for kind in ALONE_KINDS
    }
    return AucDifferences(
        pooled=None if pooled is None else _minus(labels, fed, pooled, POOLED_COLUMN, "pooled"),
        median_alone=_minus_median(labels, fed, references.alone(ALONE_KINDS[0])),
        alone={kind: found for kind, found in alone.items() if found},
        plain_dp=None if plain is None else _minus(labels, fed, plain, PLAIN_DP_COLUMN, PLAIN_DP_WORDS),
    )


#: Who the plain DP reference is, in results.json's `reference` field.
PLAIN_DP_WORDS = "a plain DP logistic regression federation"


def _minus(labels: np.ndarray, fed: np.ndarray, risks: np.ndarray, key: str, words: str) -> Contrast | None:
    """Federated minus one reference's risks (None when the test cohort lacks a class)."""
    difference = paired_delong_difference(labels, fed, risks)
    if difference is None:
        return None
    return Contrast(key, words, difference.aucs[1], difference)


def _minus_median(labels: np.ndarray, fed: np.ndarray, alone: dict[str, np.ndarray]) -> Contrast | None:
    """Federated minus the median hospital alone, as the headline's median is taken: the middle
    hospital by test AUC, or the mean of the two middle ones (weights -1/2 each, so the interval
    is the contrast's, not either hospital's)."""
    aucs = {site: found.auc for site, risks in alone.items() if (found := placements(labels, risks))}
    if not aucs:
        return None
    ranked = sorted(aucs, key=lambda site: aucs[site])
    half = len(ranked) // 2
    middle = ranked[half : half + 1] if len(ranked) % 2 else ranked[half - 1 : half + 1]
    weights = [1.0] + [-1.0 / len(middle)] * len(middle)
    difference = delong_contrast(labels, [fed, *(alone[site] for site in middle)], weights)
    if difference is None:
        return None
    who = middle[0] if len(middle) == 1 else f"the mean of {middle[0]} and {middle[1]}"
    reference = sum(aucs[site] for site in middle) / len(middle)
    return Contrast("local_only_median", who, reference, difference)


def interval_words(difference: AucDifference) -> str:
    """'-0.031 (95 % CI -0.083 to 0.021)': three decimals, as the headline's AUCs and gaps."""
    return (
        f"{difference.difference:+.3f} ({100 * difference.level:.0f} % CI {difference.low:.3f} to "
        f"{difference.high:.3f})"
    )


def _verdict_words(difference: AucDifference) -> str:
    """Whether the test cohort can tell the two apart, in the words a clinician acts on."""
    if difference.includes_zero:
        return "which holds 0: this test cohort cannot tell the two apart"
    side = "better" if difference.difference > 0 else "worse"
    return f"clear of 0: the federated model ranks these people {side}"


@dataclass(frozen=True)
class Stated:
    """The AUCs the headline states from results.json (None where not measured): a paired interval
    is shown only beside the figures it is an interval of."""

    federated: float
    pooled: float | None
    median_alone: float | None
    plain_dp: float | None = None


#: AUCs within this of each other are the same figure at the headline's three decimals.
SAME_AUC = 5e-4


def headline_sentence(differences: AucDifferences | None, stated: Stated, budget: str) -> str:
    """The headline's sentence of paired intervals; "" without any (`auc_differences` None).

    A contrast whose AUCs are not the ones the headline states (a prediction file from another run,
    edited, or results.json written otherwise) is left out rather than shown beside a gap it
    contradicts. `budget`: ' with the same privacy budget' when the run had DP, as the headline
    says it."""
    if differences is None:
        return ""
    parts = []
    if _agrees(differences.pooled, stated.federated, stated.pooled):
        parts.append(f"federated minus pooled {_part(differences.pooled)}")  # type: ignore[arg-type]
    if _agrees(differences.plain_dp, stated.federated, stated.plain_dp):
        parts.append(f"federated minus the plain DP logistic regression {_part(differences.plain_dp)}")  # type: ignore[arg-type]
    median = differences.median_alone
    if median is not None and _agrees(median, stated.federated, stated.median_alone):
        parts.append(f"federated minus the median hospital alone{budget} ({median.words}) {_part(median)}")
    if not parts:
        return ""
    return (
        "As differences in AUC with 95 % intervals paired on the same test people (DeLong; "
        "docs/report.md): " + "; ".join(parts) + "."
    )


def stated_difference(contrast: Contrast | None, federated: float, reference: float) -> float:
    """Federated minus `reference` as the headline states it: the paired contrast's own difference
    where its AUCs are the ones stated (`_agrees`: the headline's sentence of intervals shows it
    then), else the AUCs' difference. Computed apart, a walkthrough's 0.7135 - 0.6660 came to
    0.04750000001 ("0.048 above") and the contrast to 0.04749999 ("+0.047") in one paragraph."""
    if contrast is not None and _agrees(contrast, federated, reference):
        return contrast.difference.difference
    return federated - reference


def _agrees(contrast: Contrast | None, federated: float, reference: float | None) -> bool:
    """Whether `contrast` is federated minus `reference` as the headline states them."""
    if contrast is None or reference is None or not contrast.difference.aucs:
        return False
    return (
        abs(contrast.difference.aucs[0] - federated) < SAME_AUC
        and abs(contrast.reference_auc - reference) < SAME_AUC
    )


def _part(contrast: Contrast) -> str:
    return f"{interval_words(contrast.difference)}, {_verdict_words(contrast.difference)}"


def differences_record(differences: AucDifferences | None) -> dict[str, Any] | None:
    """results.json `auc_differences`: each contrast as {reference, federated_auc, reference_auc,
    difference, low, high, se, method, level} under `pooled`, `plain_dp_logistic` (a private
    run's), `local_only_median` and, per hospital, `local_only` and `local_only_nonprivate`; None
    without reference predictions."""
    if differences is None:
        return None
    return {
        "pooled": _record(differences.pooled),
        PLAIN_DP_COLUMN: _record(differences.plain_dp),
        "local_only_median": _record(differences.median_alone),
        **{
            kind: {site: _record(c) for site, c in found.items()} for kind, found in differences.alone.items()
        },
    }


def _record(contrast: Contrast | None) -> dict[str, Any] | None:
    """One contrast as plain JSON numbers."""
    if contrast is None:
        return None
    d = contrast.difference
    return {
        "reference": contrast.words,
        "federated_auc": d.aucs[0] if d.aucs else None,
        "reference_auc": contrast.reference_auc,
        "difference": d.difference,
        "low": d.low,
        "high": d.high,
        "se": d.se,
        "method": d.method,
        "level": d.level,
    }


def from_record(record: Any) -> AucDifferences | None:
    """results.json `auc_differences` read back (None when absent or damaged): what the report
    shows for a run of real exports, which keeps no reference_predictions.csv (docs/simulation.md),
    and for a report rendered without its run folder."""
    found = mapping(record)
    if not found:
        return None
    alone = {
        kind: {
            site: contrast
            for site, entry in mapping(found.get(kind)).items()
            if (contrast := _contrast(f"{kind}:{site}", entry)) is not None
        }
        for kind in ALONE_KINDS
    }
    differences = AucDifferences(
        pooled=_contrast(POOLED_COLUMN, found.get("pooled")),
        median_alone=_contrast("local_only_median", found.get("local_only_median")),
        alone={kind: contrasts for kind, contrasts in alone.items() if contrasts},
        plain_dp=_contrast(PLAIN_DP_COLUMN, found.get(PLAIN_DP_COLUMN)),
    )
    return None if differences == AucDifferences() else differences


#: The numbers of one recorded contrast: its two AUCs, then `AucDifference`'s in its order.
RECORD_NUMBERS = ("federated_auc", "reference_auc", "difference", "low", "high", "se")


def _contrast(key: str, entry: Any) -> Contrast | None:
    """One recorded contrast, or None when any of its numbers is missing or not a number."""
    entry = mapping(entry)
    values = [number(entry.get(k)) for k in RECORD_NUMBERS]
    words = entry.get("reference")
    if any(v is None for v in values) or not isinstance(words, str):
        return None
    fed, reference, difference, low, high, se = values  # type: ignore[misc]
    level = number(entry.get("level")) or 0.95
    interval = AucDifference(difference, low, high, se, (fed, reference), str(entry.get("method")), level)
    return Contrast(key, words, reference, interval)
