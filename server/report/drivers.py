"""The section 'Which variants drive the model': the top variants, how they were ranked, and, on
simulated data, how many of the disease's causal variants the list recovers."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from genofed.common.reporting.formatting import fmt_int
from genofed.common.reporting.tables import markdown_table

#: The top-variant table's direction column: which way each further ALT copy moves the risk.
DIRECTION_COLUMN = "More ALT copies (odds per copy)"

if TYPE_CHECKING:  # explain loads the data readers (pandas); the section needs only the type
    from genofed.server.report.explain import Explanation

TITLE = "## Which variants drive the model"


def _causal_where(explanation: Explanation) -> str:
    """'33 of them in the panel', and how many of those the model reads when it reads only some.

    A model narrowed by a prior can rank only what it reads: the chance figure counts those, so
    the reader must see that count, not only the panel's.
    """
    words = f"{fmt_int(explanation.causal_in_panel)} of them in the panel"
    read = explanation.causal_read
    if read is None or read == explanation.causal_in_panel:
        return words
    return f"{words}, {fmt_int(read)} among the variants the model reads"


def _truth_words(explanation: Explanation) -> str:
    """How many of the top variants are causal, against how many a random list would hold."""
    if explanation.recovered is None:
        return ""
    return (
        f"\n\n**Against the simulated truth:** {explanation.recovered} of these {len(explanation.drivers)} "
        f"variants {'is' if explanation.recovered == 1 else 'are'} among the disease's "
        f"{fmt_int(explanation.causal_total)} causal variants "
        f"({_causal_where(explanation)}); a list of the same length drawn "
        f"at random from the {fmt_int(explanation.model_reads)} variants the model reads would hold "
        f"{explanation.chance:.2f} on average."
    )


def _meaning_words(explanation: Explanation) -> str:
    """What the Contribution column's number means, with the top variant's as the example ("" if none).

    A bare 0.0147 says nothing to a clinician; as an odds factor it can be weighed against the
    clinical picture.
    """
    if not explanation.meaning or not explanation.drivers:
        return ""
    top = explanation.drivers[0]
    verb = {1: "multiplies", -1: "divides"}.get(_sign(top.per_copy), "multiplies or divides")
    words = explanation.meaning.format(
        score=f"{top.score:.3g}", factor=odds_factor(top.score), verb=verb, direction=DIRECTION_COLUMN
    )
    how = f" '{DIRECTION_COLUMN}': {explanation.direction}" if explanation.direction else ""
    return f" {words}{how}"


def _sign(per_copy: float | None) -> int | None:
    """+1 when more ALT copies raise the score, -1 when they lower it, 0 for neither, None unknown."""
    if per_copy is None or not math.isfinite(per_copy):
        return None
    return (per_copy > 0) - (per_copy < 0)


def direction_cell(per_copy: float | None) -> str:
    """'raises risk (x1.031)': which way each further ALT copy moves the risk, with the odds factor
    per copy; a clinician must not read a protective variant as a risk variant."""
    sign = _sign(per_copy)
    if sign is None:
        return "not computed"
    if sign == 0:
        return "no change"
    factor = odds_factor(per_copy)
    shown = f"x{factor}" if factor[0].isdigit() else f"odds factor {factor}"  # "overflow" is no factor
    return f"{'raises' if sign > 0 else 'lowers'} risk ({shown})"


#: The largest score whose odds factor is shown as a number (math.exp overflows above ~709.8).
MAX_FACTOR_SCORE = 700.0


def odds_factor(score: float) -> str:
    """exp(score) to three decimals, or "overflow" for a score no float's exp holds (a poisoned or
    diverged model's contribution can reach 1e7) and "n/a" for a non-finite one."""
    if not math.isfinite(score):
        return "n/a"
    if score > MAX_FACTOR_SCORE:
        return "overflow"
    return f"{math.exp(score):.3f}"


def rests_on_covariates(parts: Mapping[str, Any] | None) -> bool:
    """Whether sex and age alone rank the test cohort better than chance (DeLong's lower bound above
    0.5) and at least as well as the genotypes alone (results.json `score_parts`, as
    `assessment.score_parts` reads it): then the verdict says so, since the report calls it genetic
    risk. Not when every part sits at chance, nor for a record without the lower bound."""
    if not parts or parts.get("covariates_only_low") is None:
        return False
    return parts["covariates_only_low"] > 0.5 and parts["covariates_only_auc"] >= parts["genotypes_only_auc"]


def covariate_words(parts: Mapping[str, Any]) -> str:
    """The covariates a `score_parts` record names, in words: "sex and age"."""
    return " and ".join(parts["covariates"])


def score_parts_words(parts: Mapping[str, Any] | None) -> str:
    """'What the score rests on': the test cohort's AUC with everything the model reads, with the
    genotypes alone and with the covariates alone (`TestCohort.score_parts`); "" without them."""
    if not parts:
        return ""
    covariates = covariate_words(parts)
    words = (
        f"\n\n**What the score rests on** (the test cohort): the final model ranks its people with AUC "
        f"{parts['auc']:.3f} reading everything; {parts['genotypes_only_auc']:.3f} from the genotypes "
        f"alone ({covariates} read as unknown); {parts['covariates_only_auc']:.3f} from {covariates} alone "
        "(every genotype at the panel's average)."
    )
    if rests_on_covariates(parts):
        words += (
            f" {covariates.capitalize()} alone rank these people at least as well as the genotypes: much of "
            f"what the risk says is the person's {covariates}, and a risk scored without them (`genofed "
            "predict` without --phenotypes) loses it."
        )
    return words


def drivers_section(explanation: Explanation | str, parts: Mapping[str, Any] | None = None) -> str:
    """The top-variant table, or the one sentence `explain_run` gave for why there is none; then
    what the score rests on (`score_parts_words`, results.json `score_parts`)."""
    if isinstance(explanation, str):
        return f"{TITLE}\n\nNot computed. {explanation}{score_parts_words(parts)}"
    if not explanation.drivers:
        return (
            f"{TITLE}\n\nEvery variant's contribution is zero: the model has not learnt from genotypes."
            f"{score_parts_words(parts)}"
        )
    simulated = explanation.recovered is not None
    named = any(d.rsid for d in explanation.drivers)
    header = [
        "Rank",
        *(["rsID"] if named else []),
        "Variant (chrom:pos:ref:alt)",
        "Position",
        "Gene",
        "Alt frequency",
        "Contribution",
        DIRECTION_COLUMN,
    ]
    header += ["Causal (simulated truth)"] if simulated else []
    rows = []
    for d in explanation.drivers:
        row = [
            str(d.rank),
            *([d.rsid or "-"] if named else []),
            d.variant_id,
            f"chr{d.chrom}:{d.pos:,}",
            d.gene or "-",
            f"{d.alt_freq:.3f}",
            f"{d.score:.3g}",
            direction_cell(d.per_copy),
        ]
        rows.append(row + (["yes" if d.causal else "no"] if simulated else []))
    genes = (
        f"Genes from {explanation.gene_source}; '-' means the variant lies in no listed gene."
        if explanation.gene_source
        else "No gene annotation was available (no `gene` column in the panel, no gene list)."
    ) + (
        " rsIDs (dbSNP) as the hospitals' genotype files name the variants (the panel's `rsid` column); "
        "'-': no hospital's file names it."
        if named
        else ""
    )
    return (
        f"{TITLE}\n\nThe {len(explanation.drivers)} variants with the largest contribution to the final "
        f"model's risk score, of the {fmt_int(explanation.model_reads)} it reads, ranked by "
        f"{explanation.method}. A large contribution says the model relies on the variant, not that the "
        f"variant causes the disease: a variant near a causal one can stand in for it."
        f"{_meaning_words(explanation)} {genes}\n\n"
        + markdown_table(header, rows)
        + _truth_words(explanation)
        + score_parts_words(parts)
    )
