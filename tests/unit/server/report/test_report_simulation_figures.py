"""What a simulation computes on every hospital's patients outside the federation (reference AUCs,
adapted AUCs, case counts) is named as such in the report, and a run of hospitals' real exports
says at the top that the report is as confidential as the records.

A red-team audit (stop 54) ran `genofed simulate --data` on exports without truth.json, flipped one
patient's label and read it off the report's case count (40 -> 41) and the references without
privacy, while the privacy section said every number computed on a hospital's patients was charged
to its ledger.
"""

from __future__ import annotations

from typing import Any

import pytest

from genofed.server.report.privacy import confidential_notice, privacy_section
from genofed.server.report.writer import render_markdown

CONFIDENTIAL = "**Confidential: as the patients' records.**"


def _results(**extra: Any) -> dict[str, Any]:
    return {
        "epsilon": 3.0,
        "epsilon_budget": 3.0,
        "delta": 1e-5,
        "sites": {"rostov": {"epsilon": 2.9, "noise_multiplier": 1.2, "train": 80, "cases": 40}},
        "config": {"clip": 1.0},
        "pooled_auc": 0.79,
        "local_only_nonprivate_auc": {"rostov": 0.78},
        **extra,
    }


def test_real_exports_make_the_report_confidential_and_name_the_figures() -> None:
    results = _results(simulated_patients=False)
    section = privacy_section(results, plot_written=False)
    assert "every number computed on a hospital's patients is charged" not in section  # it was false
    assert "every number a hospital sends is charged to its ledger" in section
    assert (
        "**Computed by this simulation, outside the federation:** the pooled model without privacy, "
        "each hospital alone without privacy and the hospitals' case counts." in section
    )
    assert "exact facts about real patients" in section
    assert CONFIDENTIAL in render_markdown(results, {})


@pytest.mark.parametrize("simulated", [True, None])  # simulated patients; an older results.json
def test_simulated_patients_name_the_figures_without_the_confidential_line(simulated) -> None:
    results = _results(**({} if simulated is None else {"simulated_patients": simulated}))
    assert "**Computed by this simulation, outside the federation:**" in privacy_section(results, False)
    assert "exact facts about real patients" not in privacy_section(results, False)
    assert confidential_notice(results) == ""


def test_a_run_without_such_figures_says_nothing_of_them() -> None:
    """`flwr run` and a deployed run: no references, no case counts."""
    results = _results(simulated_patients=False, pooled_auc=None, local_only_nonprivate_auc=None)
    del results["sites"]["rostov"]["cases"]
    assert "Computed by this simulation" not in privacy_section(results, False)
    assert confidential_notice(results) == ""
