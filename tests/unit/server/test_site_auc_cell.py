"""The Hospitals table's validation-AUC cell (`genofed.server.report.sites.site_auc_cell`)."""

from __future__ import annotations

from genofed.common.reporting.formatting import NOT_MEASURED
from genofed.server.report.sites import site_auc_cell


def test_a_noisily_negative_case_count_is_too_few_to_judge_not_unmeasured() -> None:
    # elista in a default run: 12 validation patients, the released case count came out -2.39,
    # so the released AUC is None (a noisily empty class); the doc promises "too few to judge"
    record = {"validation": 12, "federated_local_auc": None, "federated_local_auc_noise_sd": None}
    released = {"patients": 4.1, "cases": -2.39, "auc": None, "noise_per_count": 2.0}
    # the released counts as released: controls are the released patients less the released cases;
    # a count below 0 is said to be the noise (a clinician read "-13.9 cases" as an error)
    assert site_auc_cell(record, released) == (
        "too few to judge (released noisy counts: -2.4 cases, 6.5 controls; below 0 is the privacy noise, "
        "larger than the count)"
    )


def test_a_noisy_count_that_rounds_to_zero_is_0_and_not_said_to_be_below_it() -> None:
    """A walkthrough's elista: "3.1 cases, -0.0 controls; below 0 is the privacy noise": a count
    printed as 0 is no count below 0, and "-0.0" reads as one."""
    record = {"validation": 12, "federated_local_auc": None, "federated_local_auc_noise_sd": None}
    released = {"patients": 3.07, "cases": 3.1, "auc": None, "noise_per_count": 2.0}
    cell = site_auc_cell(record, released)
    assert cell == "too few to judge (released noisy counts: 3.1 cases, 0.0 controls)"
    cell = site_auc_cell({**record, "validation": 3}, {"cases": 3.4, "noise_per_count": 2.0})
    assert "about 0 controls" in cell and "-0" not in cell and "below 0" not in cell
    # a count printed below 0 is still said to be the noise
    below = site_auc_cell(record, {"patients": 2.9, "cases": 3.1, "noise_per_count": 2.0})
    assert "-0.2 controls; below 0 is the privacy noise" in below


def test_too_few_cases_with_an_auc_is_still_too_few_to_judge() -> None:
    record = {"validation": 40, "federated_local_auc": 0.81, "federated_local_auc_noise_sd": 0.1}
    released = {"patients": 41.0, "cases": 6.2, "noise_per_count": 2.0}
    assert (
        site_auc_cell(record, released)
        == "too few to judge (released noisy counts: 6.2 cases, 34.8 controls)"
    )


def test_the_too_few_rule_reads_the_released_controls_not_the_declared_size() -> None:
    """simferopol in the audited run: 24 declared validation patients, 21.2 noisy cases and 38.1
    noisy patients released. The declared size less the cases (2.8 controls) called it too few; the
    released counts (16.8 controls) do not, and its interval, spanning 0-1, is called uninformative."""
    record = {"validation": 24, "federated_local_auc": 0.72, "federated_local_auc_noise_sd": 0.64}
    released = {"patients": 38.08, "cases": 21.24, "noise_per_count": 2.0}
    assert site_auc_cell(record, released) == "uninformative at this privacy level"
    exact = {"patients": 38.0, "cases": 21.0, "noise_per_count": 0.0}
    assert site_auc_cell({**record, "federated_local_auc_noise_sd": 2.0}, exact) == "uninformative"


def test_a_release_without_a_patient_count_says_its_controls_are_derived() -> None:
    record = {"validation": 30, "federated_local_auc": 0.7, "federated_local_auc_noise_sd": 0.1}
    cell = site_auc_cell(record, {"cases": 9.1, "noise_per_count": 2.0})
    assert cell == (
        "too few to judge (released noisy count: 9.1 cases; about 21 controls, the 30 declared validation "
        "patients less that count)"
    )


def test_no_release_at_all_is_not_measured() -> None:
    assert site_auc_cell({"validation": 12, "federated_local_auc": None}, {}) == NOT_MEASURED


def test_enough_of_both_classes_but_no_auc_is_not_measured() -> None:
    record = {"validation": 60, "federated_local_auc": None}
    assert site_auc_cell(record, {"patients": 60.0, "cases": 30.0, "noise_per_count": 2.0}) == NOT_MEASURED


def test_enough_of_both_classes_gets_an_interval() -> None:
    record = {"validation": 60, "federated_local_auc": 0.7, "federated_local_auc_noise_sd": 0.05}
    cell = site_auc_cell(record, {"patients": 60.0, "cases": 30.0, "noise_per_count": 2.0})
    assert cell.startswith("0.70 (") and cell.endswith(")")


def test_a_dp_runs_reply_that_named_no_noise_is_not_called_exact() -> None:
    """A ClientApp of one's own may leave `val-noise` out, which reads as 0: under DP its counts
    were still released with noise, so the cell does not call them exact counts."""
    record = {"validation": 40, "federated_local_auc": 0.81, "federated_local_auc_noise_sd": None}
    released = {"patients": 41.0, "cases": 6.0, "noise_per_count": 0.0}
    assert site_auc_cell(record, released) == "too few to judge (counts: 6 cases, 35 controls)"
    assert site_auc_cell(record, released, dp=True) == (
        "too few to judge (released noisy counts: 6.0 cases, 35.0 controls)"
    )


def test_the_hospitals_table_passes_the_runs_dp_to_the_cell() -> None:
    """The wiring, not the helper alone (a reviewer removed `dp=dp` and the tests above stayed
    green): a DP run's table does not call a reply's unnamed noise exact counts."""
    from genofed.server.report.sites import hospitals_section

    record = {"train": 160, "validation": 40, "federated_local_auc": 0.81, "epsilon": 3.0}
    released = {"patients": 41.0, "cases": 6.0, "noise_per_count": 0.0}
    results = {
        "epsilon_budget": 3.0,
        "delta": 1e-5,
        "sites": {"rostov": record},
        "site_evaluation": {"sites": {"rostov": released}},
    }
    table = hospitals_section(results)
    assert "too few to judge (released noisy counts: 6.0 cases, 35.0 controls)" in table
    assert "too few to judge (counts: 6 cases" not in table
