"""The report's per-hospital table: does this hospital, in particular, gain from joining the federation?"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from genofed.common.reporting.auc import hanley_mcneil_se, normal_interval
from genofed.common.reporting.formatting import NOT_MEASURED, fmt_auc, fmt_epsilon, fmt_float, fmt_int
from genofed.common.reporting.tables import markdown_table
from genofed.common.scoring.operating import MIN_CLASS
from genofed.server.report.differences import SAME_AUC, from_record
from genofed.server.report.reading import (
    absent_sites,
    any_spent_before,
    dp_on,
    mapping,
    md_text,
    number,
    rounds,
    run_spend,
    site_epsilon,
    site_names,
)


def _participation(results: Mapping[str, Any]) -> tuple[dict[str, int], dict[str, int]]:
    """How many rounds each site trained in and how many it refused (budget exhausted, not connected...)."""
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


def site_auc_cell(record: Mapping[str, Any], released: Mapping[str, Any], *, dp: bool = False) -> str:
    """A hospital's validation AUC with its 95 % interval, marked too few to judge, or marked
    uninformative when the interval spans (nearly) 0 to 1 (`_site_auc`). `dp`: the run trained with
    DP, whose released counts are never exact, even where a reply named no noise."""
    return _site_auc(record, released, dp=dp)[0]


def _class_counts(record: Mapping[str, Any], released: Mapping[str, Any]) -> tuple[float, float, bool] | None:
    """(cases, controls, released?) of a hospital's validation patients: the released counts (noisy
    under DP: its case count, and its patient count less that), or, in a release without a patient
    count, the declared validation size less the released case count (derived, and said so)."""
    cases = number(released.get("cases"))
    if cases is None:
        return None
    total = number(released.get("patients"))
    if total is not None:
        return cases, total - cases, True
    declared = number(record.get("validation"))
    return (cases, declared - cases, False) if declared is not None else None


#: What a validation-AUC cell holds: an interval that says something, a figure that says nothing
#: (too few to judge, or an interval spanning nearly 0-1), or nothing measured.
INTERVAL, SILENT, UNMEASURED = "interval", "silent", "unmeasured"


def _shown(count: float, decimals: int) -> float:
    """A noisy count as the table prints it, rounded to `decimals`, with no negative zero: -0.04
    printed "-0.0 controls; below 0 is the privacy noise", a count below 0 that the table did not show."""
    return round(count, decimals) + 0.0  # -0.0 + 0.0 is 0.0


def _site_auc(record: Mapping[str, Any], released: Mapping[str, Any], *, dp: bool = False) -> tuple[str, str]:
    """(cell, kind): the AUC with its interval (INTERVAL), or why it says nothing (SILENT), or not
    measured (UNMEASURED).

    The >= MIN_CLASS rule and the interval's sampling part (Hanley-McNeil) use the same class
    counts the cell shows (`_class_counts`); the interval adds the spread the DP noise alone causes.
    """
    auc = number(record.get("federated_local_auc"))
    counts = _class_counts(record, released)
    # 0 without DP: exact counts; a DP run whose reply named no noise (`val-noise` absent) is not exact
    exact = number(released.get("noise_per_count")) == 0 and not dp
    if counts is None:
        if auc is None:
            return NOT_MEASURED, UNMEASURED
        declared = fmt_int(record.get("validation"))
        return f"{auc:.2f} (about {declared} patients; no interval: class counts not released)", UNMEASURED
    cases, controls, released_both = counts
    # before the AUC: a class noisily empty or negative has no AUC (None), and is too few too
    if min(cases, controls) < MIN_CLASS:
        if exact:
            return f"too few to judge (counts: {cases:.0f} cases, {controls:.0f} controls)", SILENT
        shown = (_shown(cases, 1), _shown(controls, 1 if released_both else 0))
        # a clinician read "-13.9 cases" as an error (an operator's walkthrough): say it is the noise,
        # where a count is printed below 0
        below_zero = "; below 0 is the privacy noise, larger than the count" if min(shown) < 0 else ""
        if released_both:
            return (
                f"too few to judge (released noisy counts: {shown[0]:.1f} cases, {shown[1]:.1f} controls"
                f"{below_zero})",
                SILENT,
            )
        declared = fmt_int(record.get("validation"))
        return (
            f"too few to judge (released noisy count: {shown[0]:.1f} cases; about {shown[1]:.0f} controls, "
            f"the {declared} declared validation patients less that count{below_zero})",
            SILENT,
        )
    if auc is None:
        return NOT_MEASURED, UNMEASURED
    noise = number(record.get("federated_local_auc_noise_sd")) or 0.0
    sampling = hanley_mcneil_se(auc, cases, controls) or 0.0
    interval = normal_interval(auc, math.hypot(sampling, noise), "Hanley-McNeil + DP noise")
    if interval.uninformative:
        return ("uninformative" if exact else "uninformative at this privacy level"), SILENT
    return f"{auc:.2f} ({interval.low:.2f}-{interval.high:.2f})", INTERVAL


#: The case-count column's header: only a simulation knows its hospitals' case counts (results.json
#: `sites.NAME.cases`, written by the simulator); a hospital never releases an exact count.
SIMULATED_CASES = "Cases (known to the simulator only; never released)"


#: The epsilon columns when some hospital's ledger held spending from before this run.
SPENT_THIS_RUN = "Epsilon spent, this run"
SPENT_LEDGER_TOTAL = "Epsilon spent, ledger total (all runs)"


def epsilon_headers(results: Mapping[str, Any]) -> list[str]:
    """The epsilon column's header, or two (this run; the ledger's total) when some hospital's ledger
    held spending from before this run (`any_spent_before`): a hospital reports its ledger's total,
    and a rerun study's report gave that total as "Epsilon spent" beside this run's cost of its
    releases, with nothing to tell a reader which was which."""
    return [SPENT_THIS_RUN, SPENT_LEDGER_TOTAL] if any_spent_before(results) else ["Epsilon spent"]


def epsilon_cells(results: Mapping[str, Any], site: str) -> list[str]:
    """A hospital's cells under `epsilon_headers`."""
    total = fmt_epsilon(site_epsilon(results, site))
    return [fmt_epsilon(run_spend(results, site)), total] if any_spent_before(results) else [total]


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
    if dp:
        row += [
            _alone_cell(results, site, "local_only", local),
            _alone_cell(results, site, "local_only_nonprivate", nonprivate),
        ]
    elif number(nonprivate) is not None:
        row.append(_alone_cell(results, site, "local_only_nonprivate", nonprivate))
    else:
        row.append(_alone_cell(results, site, "local_only", local))
    if results.get("adapted_auc"):
        row.append(fmt_auc(mapping(results.get("adapted_auc")).get(site)))
    row.append(site_auc_cell(record, _released(results, site), dp=dp))
    if dp:
        epsilon = epsilon_cells(results, site)
        if "coalition_epsilon" in record:  # distributed DP: also against the coordinator + all other sites
            epsilon[-1] += f" (coalition {fmt_epsilon(record.get('coalition_epsilon'))})"
        row += [*epsilon, fmt_float(record.get("noise_multiplier"), 3)]
    row.append(rounds_cell)
    return row


def _alone_cell(results: Mapping[str, Any], site: str, kind: str, auc: Any) -> str:
    """A hospital-alone AUC and, where the run recorded it (results.json `auc_differences`, from
    the reference models' test risks), federated minus it with its paired 95 % interval: '0.598
    (federated +0.136, 0.051 to 0.221)'. Why: a hospital asks whether joining beats working alone,
    and two AUCs of 600 people differ by a few hundredths by chance; the same test people make the
    paired interval far narrower than the two AUCs' own (`genofed.server.report.differences`)."""
    cell = fmt_auc(auc)
    recorded = from_record(results.get("auc_differences"))
    contrast = recorded.alone.get(kind, {}).get(site) if recorded is not None else None
    if contrast is None or number(auc) is None or abs(contrast.reference_auc - float(auc)) >= SAME_AUC:
        return cell  # no record, or one of another AUC than the cell's: nothing beside it
    found = contrast.difference
    return f"{cell} (federated {found.difference:+.3f}, {found.low:.3f} to {found.high:.3f})"


def _released(results: Mapping[str, Any], site: str) -> Mapping[str, Any]:
    """What the hospital released on the final model (results.json `site_evaluation.sites.NAME`)."""
    return mapping(mapping(mapping(results.get("site_evaluation")).get("sites")).get(site))


def _cell_kinds(results: Mapping[str, Any], names: list[str]) -> list[str]:
    """Each hospital's validation-AUC cell kind (`_site_auc`): INTERVAL, SILENT or UNMEASURED."""
    sites = mapping(results.get("sites"))
    dp = dp_on(results)
    return [_site_auc(mapping(sites.get(s)), _released(results, s), dp=dp)[1] for s in names]


def absent_line(results: Mapping[str, Any]) -> str:
    """The hospitals that were asked but did not take part, one line each with its reason; "" when
    every hospital asked took part."""
    absent = absent_sites(results)
    if not absent:
        return ""
    return "**Did not take part** (trained in no round):\n" + "\n".join(
        f"- {md_text(name)}: {md_text(reason)}" for name, reason in absent.items()
    )


def _validation_source(dp: bool) -> str:
    """Where the validation AUC comes from: a noisy, charged histogram under DP; exact counts without;
    and which counts its interval and the too-few rule read."""
    if dp:
        return (
            "Under differential privacy that validation AUC is read from the hospital's noisy histogram of "
            "its validation patients (a release charged to its budget). Its 95 % interval adds the sampling "
            "error of an AUC on that many patients (Hanley-McNeil) to the spread the noise causes; an "
            "interval spanning nearly 0 to 1 is shown as uninformative at this privacy level. The interval "
            "and the too-few rule read the hospital's released noisy counts (its case count, and its "
            "patient count less that for the controls; noise can make them fractional or negative): with "
            f"fewer than {MIN_CLASS} released cases or controls the figure is marked too few to judge."
        )
    return (
        "This run had no differential privacy, so that validation AUC is read from the hospital's "
        "histogram of its validation patients with exact counts (no noise, nothing charged to a budget). "
        "Its 95 % interval is the sampling error of an AUC on that many patients (Hanley-McNeil). With "
        f"fewer than {MIN_CLASS} validation cases or controls the figure is marked too few to judge."
    )


def _validation_purpose(results: Mapping[str, Any], names: list[str], dp: bool) -> str:
    """What the validation column can show: a hospital the shared model serves less well, unless no
    hospital's figure says anything (all too few or uninformative), which is then said instead."""
    kinds = _cell_kinds(results, names)
    if INTERVAL in kinds or SILENT not in kinds:
        return (
            "which can reveal a hospital whose patients the shared model serves less well (where its "
            "interval is narrow enough to tell)"
        )
    why = "at this privacy level " if dp else ""
    each = (
        "too few to judge, uninformative (its 95 % interval spans nearly 0 to 1) or not measured"
        if UNMEASURED in kinds
        else "too few to judge or uninformative (its 95 % interval spans nearly 0 to 1)"
    )
    return (
        f"although {why}no hospital's figure there says anything: each is {each}, so this column cannot "
        "reveal a hospital whose patients the shared model serves less well (the test cohort's groups, "
        "under At the bedside, can show such patients)"
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
        header += [*epsilon_headers(results), "Noise multiplier"]
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
        + "), and shows how the shared model does on each hospital's own validation split, "
        + _validation_purpose(results, names, dp)
        + ". Sorted by size. "
        + (
            "Beside each AUC of a hospital alone: federated minus it, with its 95 % interval paired on "
            "the same test people (DeLong; docs/report.md); an interval clear of 0 says this test cohort "
            "tells the two apart. "
            if results.get("auc_differences")
            else ""
        )
        + _validation_source(dp)
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
