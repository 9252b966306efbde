"""Calibration-in-the-large by group of the test cohort (`genofed.server.report.subgroups`): a
biostatistician's request. A model can rank well within a group and still give its people risks
systematically too high or too low (older people, say); the group table's last column is the
group's own intercept with the slope fixed at 1 (`recalibration`), marked and blanked as the
table's other figures are."""

from __future__ import annotations

import re

import numpy as np

from genofed.common.reporting.recalibration import logit

_CELL = re.compile(r"^(-?\d+\.\d\d) \((-?\d+\.\d\d) to (-?\d+\.\d\d)\)$")


def _cohort(shift: float, *, small_cases: int = 30):
    """A 'main' group of 4,000 people whose labels are drawn from their risks (well calibrated), a
    'shifted' group of 4,000 whose printed risks are their true risks moved up by `shift` on the
    log-odds scale, a 'small' group of 60 with `small_cases` cases, and a 'healthy' group of 40
    with no case at all."""
    from genofed.server.report.run_files import Predictions
    from genofed.server.report.subgroups import Grouping

    rng = np.random.default_rng(21)
    true = 1.0 / (1.0 + np.exp(-rng.normal(-0.5, 1.2, 8000)))
    labels = (rng.uniform(size=8000) < true).astype(np.int64)
    printed = true.copy()
    printed[4000:] = 1.0 / (1.0 + np.exp(-(logit(true[4000:]) + shift)))
    small_labels = (np.arange(60) < small_cases).astype(np.int64)
    small_risks = np.where(small_labels == 1, rng.uniform(0.3, 0.8, 60), rng.uniform(0.1, 0.6, 60))
    healthy_risks = rng.uniform(0.05, 0.5, 40)
    predictions = Predictions(
        np.concatenate([labels, small_labels, np.zeros(40, dtype=np.int64)]),
        np.concatenate([printed, small_risks, healthy_risks]),
    )
    groups = ("main",) * 4000 + ("shifted",) * 4000 + ("small",) * 60 + ("healthy",) * 40
    return predictions, (Grouping("Population", groups, "test/phenotypes.csv"),)


def _by_group(predictions, groupings) -> dict[str, list[str]]:
    from genofed.server.report.subgroups import _rows

    rows, _ = _rows(predictions, groupings, 0.5)
    return {row[0].split(": ", 1)[1]: row for row in rows}


def _estimate(cell: str) -> tuple[float, float, float]:
    match = _CELL.match(cell)
    assert match, cell
    value, low, high = map(float, match.groups())
    assert low <= value <= high
    return value, low, high


def test_a_group_whose_risks_are_shifted_up_shows_minus_the_shift_within_its_interval():
    predictions, groupings = _cohort(shift=0.8)
    rows = _by_group(predictions, groupings)
    value, low, high = _estimate(rows["shifted"][-1])
    assert abs(value + 0.8) < 0.15
    assert low <= -0.8 <= high
    assert high < 0  # risks too high: below 0, wholly
    value, low, high = _estimate(rows["main"][-1])  # calibrated: consistent with 0
    assert low <= 0.0 <= high
    # shifted down instead: risks too low, the estimate above 0
    value, low, high = _estimate(_by_group(*_cohort(shift=-0.6))["shifted"][-1])
    assert low <= 0.6 <= high and low > 0


def test_the_group_figure_is_recalibration_on_the_groups_own_people():
    from genofed.common.reporting.recalibration import recalibration

    predictions, groupings = _cohort(shift=0.5)
    members = np.asarray(groupings[0].groups) == "shifted"
    fit = recalibration(predictions.labels[members], predictions.risks[members])
    assert fit is not None
    large = fit.intercept
    assert _by_group(predictions, groupings)["shifted"][-1] == (
        f"{large.value:.2f} ({large.low:.2f} to {large.high:.2f})"
    )


def test_a_small_group_is_marked_few_as_its_other_figures_are():
    from genofed.server.report.subgroups import FEW_MARK

    predictions, groupings = _cohort(shift=0.0, small_cases=8)
    rows = _by_group(predictions, groupings)
    small = rows["small"]
    assert small[2].startswith("too few to judge (8 cases, 52 controls)")
    assert small[-1].endswith(f" {FEW_MARK}")
    _estimate(small[-1].removesuffix(f" {FEW_MARK}"))  # still a figure, marked
    assert all(not cell.endswith(FEW_MARK) for cell in rows["main"] + rows["shifted"])


def test_a_group_with_one_class_says_not_measured():
    from genofed.common.reporting.formatting import NOT_MEASURED
    from genofed.server.report.subgroups import FEW_MARK

    predictions, groupings = _cohort(shift=0.0)
    healthy = _by_group(predictions, groupings)["healthy"]
    assert healthy[1] == "40 (0)"
    assert healthy[-1] == f"{NOT_MEASURED} {FEW_MARK}"  # marked as its sensitivity is
    assert healthy[3] == healthy[-1]


def test_the_section_names_the_column_and_says_how_to_read_it():
    from genofed.server.report.subgroups import subgroup_section

    predictions, groupings = _cohort(shift=0.8)
    section = subgroup_section(predictions, groupings, 0.5, "risk >= 0.500")
    header = next(line for line in section.splitlines() if line.startswith("| Group"))
    assert header.rstrip(" |").endswith("Calibration-in-the-large (95 % CI)")
    text = " ".join(section.split())
    assert "0 when its risks are right on average at its own case share" in text
    assert "below 0 the group's risks are too high, above 0 too low" in text
    assert "Compare it with the whole cohort's calibration-in-the-large in the Calibration section" in text
    assert "the test cohort's case share shifts every group's alike" in text


def test_the_column_names_no_group():
    """The naming rules stay as they were: a group's risks being too high is shown, not named."""
    from genofed.server.report.subgroups import concerning_groups

    predictions, groupings = _cohort(shift=1.5)
    assert "Population: shifted" not in concerning_groups(predictions, groupings, 0.5)
