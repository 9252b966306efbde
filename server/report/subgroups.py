"""The final model by group of the test cohort: does it serve some patients less well?

Under DP the hospitals' own validation AUCs (the Hospitals table) are often too noisy to tell one
hospital from another; the test cohort is scored exactly, so a group of people the model serves
less well shows here. Groups come from the columns the test cohort carries
(`read_groupings`): sex and an age band from its phenotype table, and a population or ancestry
column when that table has one (`POPULATION_COLUMNS`); on simulated data without one, each
person's population from the simulator's `test/true_risk.csv`, named as simulated truth.

Per group (`subgroup_section`): people and cases, the AUC with DeLong's interval (only with at
least `MIN_CLASS` cases and controls, the minimum under which the Hospitals table calls a figure
too few to judge), and sensitivity, specificity and the share flagged at the call's cut-off, each
with Wilson's 95 % interval, LR+ with its log-method interval (`rates`), and the group's
calibration-in-the-large with its Wald interval (`recalibration`: risks too high or too low on
average within the group, which its AUC cannot show; it names no group). A group is named under
the table when its AUC's interval lies wholly below the whole cohort's AUC, or its LR+ interval
reaches 1 and lies wholly below the whole cohort's LR+ (the flag is not shown to inform about it,
and the group is not merely too small to tell it from the whole cohort), or lies below 1 (the flag
works backwards there), or when the call flags none of its cases: a screening flag, not a test
corrected for the number of groups. An LR+ interval merely reaching 1 names no group: with about
100 people per group every group's did while the whole cohort's lay just above 1, and the report
named every group (a new-user walkthrough on 1000 Genomes, read as "serves everyone less well").
Sensitivity and specificity alone do not name a group: a group whose risks sit higher overall
(older people) trades one for the other while the flag still informs, its LR+ well above 1.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genofed.common.reporting.auc import delong_interval
from genofed.common.reporting.calibration import wilson_interval
from genofed.common.reporting.clinical import ThresholdMetrics, threshold_metrics
from genofed.common.reporting.formatting import NOT_MEASURED, fmt_percent
from genofed.common.reporting.ratios import likelihood_ratios
from genofed.common.reporting.recalibration import recalibration
from genofed.common.reporting.tables import markdown_table
from genofed.common.scoring.operating import MIN_CLASS
from genofed.server.report.rates import share_cell
from genofed.server.report.reading import md_text

#: Marks a group's sensitivity, specificity, LR+ and calibration-in-the-large when it has fewer than
#: `MIN_CLASS` people with or without the disease (`_group_row`).
FEW_MARK = "(few)"

if TYPE_CHECKING:
    from genofed.server.report.run_files import Predictions

#: Phenotype-table columns read as a person's population or ancestry (case-insensitive).
POPULATION_COLUMNS = ("population", "ancestry", "ethnicity", "superpopulation")
#: The simulator's per-person truth beside a simulated test cohort's phenotypes (with `population`).
TRUE_RISK = "true_risk.csv"
#: Age bands: (upper bound, exclusive; name).
AGE_BANDS = ((40.0, "under 40"), (60.0, "40-59"), (math.inf, "60 and over"))
#: The group of a person whose value is missing or unreadable.
UNKNOWN = "not recorded"
_SEX_NAMES = {0: "male", 1: "female"}
_WHOLE_DECIMAL = re.compile(r"^([01])\.0+$")


@dataclass(frozen=True)
class Grouping:
    """One way of grouping the test cohort: its title, each person's group (in the predictions'
    order) and where the groups came from."""

    title: str
    groups: tuple[str, ...]
    source: str


def read_groupings(results: Mapping[str, Any], predictions: Predictions | None) -> tuple[Grouping, ...]:
    """Sex, age band and population of every person of the test predictions; () when the test
    cohort's phenotype table cannot be found or read (the report then says so). A grouping with
    fewer than two known groups is left out: it compares nothing."""
    from genofed.server.report.run_files import test_folder

    if predictions is None or len(predictions.sample_ids) != predictions.n:
        return ()
    folder = test_folder(results)
    if folder is None:
        return ()
    ids = list(predictions.sample_ids)
    groupings: list[Grouping] = []
    table = _phenotype_table(folder)
    if table is not None:
        columns = {str(c).strip().lower(): c for c in table.columns}
        source = f"the test cohort's phenotype table ({_name(folder, table.attrs.get('path'))})"
        if "sex" in columns:
            values = _aligned(table, columns["sex"], ids)
            groupings.append(Grouping("Sex", tuple(_sex(v) for v in values), source))
        if "age" in columns:
            values = _aligned(table, columns["age"], ids)
            groupings.append(Grouping("Age", tuple(_age_band(v) for v in values), source))
        # every such column (1000 Genomes gives population and superpopulation: 26 groups of a
        # dozen people each are too few to judge, 5 are not)
        for population in (columns[c] for c in POPULATION_COLUMNS if c in columns):
            values = _aligned(table, population, ids)
            groupings.append(
                Grouping(str(population).strip().capitalize(), tuple(_text(v) for v in values), source)
            )
    if not any(g.title.lower() in POPULATION_COLUMNS for g in groupings):
        simulated = _simulated_populations(folder, ids)
        if simulated is not None:
            groupings.append(simulated)
    return tuple(g for g in groupings if len(set(g.groups) - {UNKNOWN}) >= 2)


def _phenotype_table(folder: Path) -> Any:
    """The test cohort's phenotype table as strings (pandas), or None; found and read as a
    hospital's is, and refused when its sample ids are not unique (a person's group unclear)."""
    from genofed.common.data.layout import site_files
    from genofed.common.data.readers.phenotypes import ID_COLUMN
    from genofed.common.data.readers.phenotypes import _read as phenotype_table  # the reader's table rules
    from genofed.common.errors import GenofedError

    try:
        site = site_files(folder)
        if site is None:
            return None
        table = phenotype_table(Path(site.phenotypes))
    except (GenofedError, OSError, ValueError, UnicodeDecodeError):
        return None
    if ID_COLUMN not in table.columns or not table[ID_COLUMN].str.strip().is_unique:
        return None
    table.attrs["path"] = str(site.phenotypes)
    return table


def _name(folder: Path, path: Any) -> str:
    return f"{folder.name}/{Path(str(path)).name}" if path else folder.name


def _aligned(table: Any, column: Any, ids: list[str]) -> list[Any]:
    """`column`'s value for each of `ids` (None for a person the table does not hold)."""
    values = dict(zip(table["sample_id"].str.strip(), table[column], strict=True))
    return [values.get(sample) for sample in ids]


def _sex(value: Any) -> str:
    from genofed.common.data.readers.phenotypes import SEXES

    text = str(value).strip().lower() if value is not None else ""
    whole = _WHOLE_DECIMAL.match(text)
    code = SEXES.get(whole.group(1) if whole else text)
    return _SEX_NAMES.get(code, UNKNOWN) if code is not None else UNKNOWN


def _age_band(value: Any) -> str:
    try:
        age = float(str(value).strip())
    except (TypeError, ValueError):
        return UNKNOWN
    if not math.isfinite(age) or age < 0:
        return UNKNOWN
    return next(name for upper, name in AGE_BANDS if age < upper)


def _text(value: Any) -> str:
    text = " ".join(str(value).split()) if value is not None else ""
    return text if text and text.lower() not in ("na", "nan", "n/a", "null", "none", ".") else UNKNOWN


def _simulated_populations(folder: Path, ids: list[str]) -> Grouping | None:
    """Each person's population from a simulated test cohort's true_risk.csv, or None."""
    import csv

    path = folder / TRUE_RISK
    if not path.is_file():
        return None
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not {"sample_id", "population"} <= set(reader.fieldnames or ()):
                return None
            values = {row["sample_id"].strip(): row["population"] for row in reader}
    except (OSError, ValueError, UnicodeDecodeError, csv.Error):
        return None
    return Grouping(
        "Population",
        tuple(_text(values.get(sample)) for sample in ids),
        f"the simulator's {folder.name}/{TRUE_RISK} (simulated truth: a real test cohort needs a "
        "population or ancestry column in its phenotype table)",
    )


@dataclass(frozen=True)
class _Row:
    cells: list[str]
    concerns: list[str]  # why this group may be served less well ([] when nothing shows it)


@dataclass(frozen=True)
class _Whole:
    """What a group is compared with: the whole test cohort's AUC, sensitivity and LR+ (None where
    unbounded or undefined) at the call, and whether the call is shown to inform there (`_informs`)."""

    auc: float | None
    sensitivity: float
    informs: bool
    lr_plus: float | None = None

    @classmethod
    def of(cls, labels: np.ndarray, risks: np.ndarray, cutoff: float) -> _Whole:
        interval = delong_interval(labels, risks)
        metrics = threshold_metrics(labels, risks, cutoff)
        return cls(
            auc=interval.auc if interval is not None else None,
            sensitivity=metrics.sensitivity or 0.0,
            informs=_informs(metrics),
            lr_plus=likelihood_ratios(metrics)[0].value,
        )


def _group_row(name: str, labels: np.ndarray, risks: np.ndarray, cutoff: float, whole: _Whole) -> _Row:
    """One group's cells and why it may be served less well: an AUC interval wholly below the whole
    cohort's; a call that flags none of its people while it holds enough cases that the whole
    cohort's sensitivity should have found some (Wilson's interval of 0 of them lies below it); an
    LR+ interval below 1; an LR+ interval reaching 1 and wholly below the whole cohort's LR+ in a
    group large enough to judge (`MIN_CLASS` cases and controls); both LR+ criteria said only
    when the whole cohort's interval does not reach 1 (`whole.informs`), since otherwise every group
    shares the verdict's own caveat and naming some would single them out for the cohort's fault.
    An interval that merely reaches 1 is no criterion: a group of about 100 people has one that
    does while the whole cohort's lies just above 1, and every group was named."""
    metrics = threshold_metrics(labels, risks, cutoff)
    cases = metrics.true_positives + metrics.false_negatives
    controls = metrics.true_negatives + metrics.false_positives
    concerns = []
    # too few to judge: an LR+ interval of a dozen people reaches 1 for want of people, not for the
    # model (an outside walkthrough: most of 1000 Genomes' 26 populations were named "served less well")
    judged = min(cases, controls) >= MIN_CLASS
    if judged:
        auc = delong_interval(labels, risks)
        auc_cell = f"{auc.auc:.3f} ({auc.low:.3f}-{auc.high:.3f})" if auc is not None else "not measured"
        if auc is not None and whole.auc is not None and auc.high < whole.auc:
            concerns.append(
                f"AUC {auc.auc:.3f}, its interval wholly below the whole cohort's {whole.auc:.3f}"
            )
    else:
        auc_cell = f"too few to judge ({cases} cases, {controls} controls)"
    positive, _ = likelihood_ratios(metrics)
    if metrics.flagged == 0 and cases > 0 and wilson_interval(0, cases)[1] < whole.sensitivity:
        concerns.append(
            f"no one of its {metrics.n:,} people is flagged: the call finds none of its {cases:,} cases, "
            f"where it finds {fmt_percent(whole.sensitivity)} of the whole cohort's"
        )
    elif whole.informs and positive.against_one() == "below":
        concerns.append(
            f"LR+ {positive.cell()}, its interval below 1: here a flagged person is LESS likely to be ill"
        )
    elif (
        judged
        and whole.informs
        and positive.against_one() == "reaches"
        and whole.lr_plus is not None
        and positive.high is not None
        and positive.high < whole.lr_plus
    ):
        concerns.append(
            f"LR+ {positive.cell()}, its interval reaching 1 and wholly below the whole cohort's "
            f"{whole.lr_plus:.2f}: the flag is not shown to inform here"
        )
    # a group too small to judge: every figure marked, not the AUC alone (a biostatistician's review:
    # 8 cases showed the table's highest LR+, read as the group the model serves best)
    few = "" if judged else f" {FEW_MARK}"
    cells = [
        name,
        f"{metrics.n:,} ({cases:,})",
        auc_cell,
        share_cell(metrics.true_positives, cases) + few,
        share_cell(metrics.true_negatives, controls) + few,
        positive.cell() + few,
        share_cell(metrics.flagged, metrics.n),
        calibration_in_the_large_cell(labels, risks) + few,
    ]
    return _Row(cells, concerns)


def calibration_in_the_large_cell(labels: np.ndarray, risks: np.ndarray) -> str:
    """'-0.42 (-0.81 to -0.03)': a group's calibration-in-the-large (the intercept of its labels on the
    log-odds of its risks with the slope fixed at 1, `recalibration`) and its 95 % interval; "to", not
    a dash, since either end may be negative. Not measured where it cannot be fitted (one class only,
    fewer than 3 people, equal risks, or a fit that does not converge)."""
    fit = recalibration(labels, risks)
    if fit is None:
        return NOT_MEASURED
    large = fit.intercept
    return f"{large.value:.2f} ({large.low:.2f} to {large.high:.2f})"


def _rows(
    predictions: Predictions, groupings: tuple[Grouping, ...], cutoff: float, whole: _Whole | None = None
) -> tuple[list[list[str]], list[tuple[str, list[str]]]]:
    """The table's rows, group by group, and (group, why) for each group the model may serve less
    well. `whole`: the whole cohort's comparison (`_Whole.of`) when the caller has it already."""
    labels, risks = predictions.labels, predictions.risks
    whole = whole or _Whole.of(labels, risks, cutoff)
    rows, concerns = [], []
    for grouping in groupings:
        groups = np.asarray(grouping.groups, dtype=object)
        names = sorted(set(grouping.groups) - {UNKNOWN})
        if grouping.title == "Age":
            names = [name for _, name in AGE_BANDS if name in names]
        names += [UNKNOWN] if UNKNOWN in grouping.groups else []
        for name in names:
            members = groups == name
            label = f"{md_text(grouping.title)}: {md_text(name)}"
            row = _group_row(label, labels[members], risks[members], cutoff, whole)
            rows.append(row.cells)
            if row.concerns:
                concerns.append((label, row.concerns))
    return rows, concerns


def _informs(metrics: ThresholdMetrics) -> bool:
    """Whether the call is shown to inform on these people: its LR+ interval lies above 1, or it is
    unbounded (flagged cases, no false alarm)."""
    positive, _ = likelihood_ratios(metrics)
    if positive.value is None:
        return metrics.true_positives > 0
    return positive.against_one() == "above"


def concerning_groups(
    predictions: Predictions | None, groupings: tuple[Grouping, ...], cutoff: float
) -> list[str]:
    """'Population: kalmyk' for each group the model may serve less well at `cutoff` (the
    section's screening flag); [] without predictions or groups."""
    if predictions is None or not groupings:
        return []
    return [label for label, _ in _rows(predictions, groupings, cutoff)[1]]


def subgroup_section(
    predictions: Predictions | None, groupings: tuple[Grouping, ...], cutoff: float | None, cutoff_words: str
) -> str:
    """The 'By group' part of At the bedside: the table, what it reads from, and the groups the
    model may serve less well; a sentence saying why when there are no groups."""
    head = "**By group of the test cohort.** "
    if predictions is None or cutoff is None:
        return ""
    if not groupings:
        return (
            head + "Not shown: the test cohort's phenotype table (with its sex, age and any population or "
            "ancestry column) was not found beside the run, or its sample ids do not match "
            "test_predictions.csv, so the model cannot be checked for groups of patients it serves less well."
        )
    whole = _Whole.of(predictions.labels, predictions.risks, cutoff)
    rows, concerns = _rows(predictions, groupings, cutoff, whole)
    table = markdown_table(
        [
            "Group",
            "People (with the disease)",
            "AUC (95 % CI)",
            "Sensitivity (95 % CI)",
            "Specificity (95 % CI)",
            "LR+ (95 % CI)",
            "Share flagged (95 % CI)",
            "Calibration-in-the-large (95 % CI)",
        ],
        rows,
    )
    by_source: dict[str, list[str]] = {}
    for grouping in groupings:
        by_source.setdefault(grouping.source, []).append(grouping.title.lower())
    sources = "; ".join(f"{' and '.join(titles)} from {source}" for source, titles in by_source.items())
    missing = (
        ""
        if any(g.title.lower() in POPULATION_COLUMNS for g in groupings)
        else " The test cohort carries no population or ancestry column, so how the model does by ancestry "
        "is not shown; add one to its phenotype table to see it."
    )
    served = (
        "**May be served less well:** "
        + "; ".join(f"{label} ({'; '.join(why)})" for label, why in concerns)
        + ". A screening flag, not a test corrected for the number of groups; validate the model on such "
        "patients before using it for them."
        if concerns
        else "No group has an AUC interval wholly below the whole test cohort's"
        + (
            ", a call that flags none of its cases, or an LR+ interval below 1, or reaching 1 and wholly "
            "below the whole cohort's LR+"
            if whole.informs
            else " or a call that flags none of its cases"
        )
        + "; small groups have wide intervals, so this does not show that the model serves every group "
        "equally."
    )
    if not whole.informs:
        served += (
            " The whole test cohort's LR+ interval is not above 1 (the verdict says so), so no group is "
            "named for its own."
        )
    return (
        f"{head}The same call ({cutoff_words}) within groups of the test cohort, to find patients the "
        f"model serves less well ({sources}). Share flagged is within the group, at its own case share; "
        f"the AUC is shown for groups with at least {MIN_CLASS} people with and {MIN_CLASS} without the "
        f"disease, and in a smaller group the other figures are marked {FEW_MARK}: too few people to "
        "compare with other groups (a high LR+ there is no sign that the model serves it best). Where a "
        "group's risks sit higher or lower overall (older people score higher, for example) its "
        "sensitivity and specificity move in opposite directions: more or fewer of it are flagged, and "
        "the flag informs less there once its LR+ falls below the whole cohort's. A group is named below "
        "when its AUC's "
        "95 % interval lies wholly below the whole cohort's AUC, when the call flags none of its people "
        "though some have the disease, or, while the whole cohort's LR+ interval lies above 1, when its "
        "LR+ interval lies wholly below 1 or (in a group with at least "
        f"{MIN_CLASS} people with and {MIN_CLASS} without the disease) wholly below the whole cohort's "
        "LR+; an interval that merely reaches 1, as a small group's does, names no group. "
        "Calibration-in-the-large is the group's own: the intercept of its outcomes regressed on "
        "the log-odds of its risks with the slope fixed at 1, 0 when its risks are right on average at "
        "its own case share; below 0 the group's risks are too high, above 0 too low. Compare it with "
        "the whole cohort's calibration-in-the-large in the Calibration section: the test cohort's case "
        "share shifts every group's alike, so a group whose figure sits apart from the whole cohort's has "
        "risks too high or too low for it in particular."
        f"{missing}\n\n{table}\n\n{served}"
    )
