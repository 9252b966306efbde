"""The report's per-hospital table: does this hospital, in particular, gain from joining the federation?"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from genofed.common.reporting.auc import hanley_mcneil_se, normal_interval
from genofed.common.reporting.formatting import NOT_MEASURED, fmt_auc, fmt_epsilon, fmt_float, fmt_int
from genofed.common.reporting.tables import markdown_table
from genofed.common.scoring.operating import MIN_CLASS
from genofed.server.report.reading import (
    absent_sites,
    dp_on,
    mapping,
    md_text,
    number,
    rounds,
    site_epsilon,
    site_names,
)


def _participation(results: Mapping[str, Any]) -> tuple[dict[str, int], dict[str, int]]:
    """How many rounds each site trained in and how many it refused (budget exhausted, offline...)."""
    trained: dict[str, int] = {}
    refused: dict[str, int] = {}
    for record in rounds(results):
        for site in record.get("participants") or []:
            trained[site] = trained.get(site, 0) + 1
        for site in record.get("refused") or []:
            refused[site] = refused.get(site, 0) + 1
    return trained, refused


def _rounds_cell(site: str, trained: Mapping[str, int], refused: Mapping[str, int], any_rounds: bool) -> str:
    """'3' or '2 (1 refused)'; not measured when the run recorded no rounds at all."""
    if not any_rounds:
        return NOT_MEASURED
    text = str(trained.get(site, 0))
    return text + (f" ({refused[site]} refused)" if refused.get(site) else "")


def site_auc_cell(record: Mapping[str, Any], released: Mapping[str, Any]) -> str:
    """A hospital's validation AUC with its 95 % interval, or marked too few to judge.

    The interval combines the sampling error of an AUC on this many cases and controls
    (Hanley-McNeil: the expected validation size, split by the released noisy case count) with the
    spread the DP noise alone causes.
    """
    auc = number(record.get("federated_local_auc"))
    # the expected validation size (a fifth of the declared cohort size: public, and nearer the
    # true size than the noisy total); the released counts carry DP noise
    declared = number(record.get("validation"))
    patients = declared if declared is not None else number(released.get("patients"))
    cases = number(released.get("cases"))
    if patients is None or cases is None:
        if auc is None:
            return NOT_MEASURED
        declared = fmt_int(record.get("validation"))
        return f"{auc:.2f} (about {declared} patients; no interval: class counts not released)"
    cases = min(max(cases, 0.0), patients)
    controls = patients - cases
    # before the AUC: a class noisily empty or negative has no AUC (None), and is too few too
    if min(cases, controls) < MIN_CLASS:
        kind = "counts" if number(released.get("noise_per_count")) == 0 else "noisy counts"  # 0: no DP
        return f"too few to judge ({kind}: {cases:.0f} cases, {controls:.0f} controls)"
    if auc is None:
        return NOT_MEASURED
    noise = number(record.get("federated_local_auc_noise_sd")) or 0.0
    sampling = hanley_mcneil_se(auc, cases, controls) or 0.0
    interval = normal_interval(auc, math.hypot(sampling, noise), "Hanley-McNeil + DP noise")
    return f"{auc:.2f} ({interval.low:.2f}-{interval.high:.2f})"


#: The case-count column's header: only a simulation knows its hospitals' case counts (results.json
#: `sites.NAME.cases`, written by the simulator); a hospital never releases an exact count.
SIMULATED_CASES = "Cases (known to the simulator only; never released)"


def _site_row(
    results: Mapping[str, Any], site: str, dp: bool, rounds_cell: str, cases_known: bool
) -> list[str]:
    """One hospital's row; with DP on it has both 'alone' AUCs and the epsilon and noise it used."""
    record = mapping(mapping(results.get("sites")).get(site))
    train, validation = record.get("train"), record.get("validation")
    split = (
        f"{fmt_int(train)} / {fmt_int(validation)}"
        if number(train) is not None or number(validation) is not None
        else NOT_MEASURED
    )
    row = [md_text(site), fmt_int(record.get("samples"))]
    row += [fmt_int(record.get("cases")), split] if cases_known else [split]
    local = mapping(results.get("local_only_auc")).get(site)
    nonprivate = mapping(results.get("local_only_nonprivate_auc")).get(site)
    row += (
        [fmt_auc(local), fmt_auc(nonprivate)]
        if dp
        else [fmt_auc(nonprivate if number(nonprivate) is not None else local)]
    )
    if results.get("adapted_auc"):
        row.append(fmt_auc(mapping(results.get("adapted_auc")).get(site)))
    released = mapping(mapping(mapping(results.get("site_evaluation")).get("sites")).get(site))
    row.append(site_auc_cell(record, released))
    if dp:
        epsilon = fmt_epsilon(site_epsilon(results, site))
        if "coalition_epsilon" in record:  # distributed DP: also against the coordinator + all other sites
            epsilon += f" (coalition {fmt_epsilon(record.get('coalition_epsilon'))})"
        row += [epsilon, fmt_float(record.get("noise_multiplier"), 3)]
    row.append(rounds_cell)
    return row


def absent_line(results: Mapping[str, Any]) -> str:
    """The hospitals that were asked but did not take part, one line each with its reason; "" when
    every hospital asked took part."""
    absent = absent_sites(results)
    if not absent:
        return ""
    return "**Did not take part** (refused every round it was asked):\n" + "\n".join(
        f"- {md_text(name)}: {md_text(reason)}" for name, reason in absent.items()
    )


def _validation_source(dp: bool) -> str:
    """Where the validation AUC comes from: a noisy, charged histogram under DP; exact counts without."""
    if dp:
        return (
            "Under differential privacy that validation AUC is read from the hospital's noisy histogram of "
            "its validation patients (a release charged to its budget). Its 95 % interval adds the sampling "
            "error of an AUC on that many patients (Hanley-McNeil) to the spread the noise causes."
        )
    return (
        "This run had no differential privacy, so that validation AUC is read from the hospital's "
        "histogram of its validation patients with exact counts (no noise, nothing charged to a budget). "
        "Its 95 % interval is the sampling error of an AUC on that many patients (Hanley-McNeil)."
    )


def hospitals_section(results: Mapping[str, Any]) -> str:
    """One row per hospital: does this hospital, in particular, gain from joining the federation?
    Then the hospitals that were asked but did not take part, and why (`absent_line`)."""
    names = site_names(results)
    absent = absent_line(results)
    if not names:
        return "## Hospitals\n\nNo per-hospital results were recorded." + (f"\n\n{absent}" if absent else "")
    dp = dp_on(results)
    cases_known = any("cases" in mapping(mapping(results.get("sites")).get(s)) for s in names)
    header = ["Hospital", "Patients (declared)"]
    header += [SIMULATED_CASES] if cases_known else []
    header.append("Train / validation (declared)")
    header += (
        ["Alone, same privacy (test AUC)", "Alone, no privacy (test AUC)"] if dp else ["Alone (test AUC)"]
    )
    adapted = bool(results.get("adapted_auc"))
    if adapted:
        header.append("Federated model adapted at the hospital (test AUC)")
    header.append("Federated model on own validation split (AUC, 95 % CI)")
    if dp:
        header += ["Epsilon spent", "Noise multiplier"]
    header.append("Rounds trained")
    trained, refused = _participation(results)
    any_rounds = bool(rounds(results))
    rows = [
        _site_row(results, s, dp, _rounds_cell(s, trained, refused, any_rounds), cases_known) for s in names
    ]
    intro = (
        "## Hospitals\n\n"
        f"The federated model is one shared model, so its AUC on the common test cohort is the same "
        f"for every hospital: **{fmt_auc(results.get('test_auc'))}**. The table compares it with what "
        "each hospital would get by training on its own data alone (evaluated on the same test cohort"
        + (", once with the same privacy budget and once without privacy" if dp else "")
        + "), and shows how the shared model does on each hospital's own validation split, which can "
        "reveal a hospital whose patients the shared model serves less well. Sorted by size. "
        + _validation_source(dp)
        + f" With fewer than {MIN_CLASS} validation cases or controls the figure is marked too few to judge."
        + (
            ' "Adapted at the hospital" is the shared model fitted to each hospital\'s own training '
            "patients at home without privacy (`genofed adapt`; the result never leaves the hospital), "
            "on the same test cohort: what a hospital gets when it uses both the federation and its own "
            "data."
            if adapted
            else ""
        )
    )
    return intro + "\n\n" + markdown_table(header, rows) + (f"\n\n{absent}" if absent else "")
