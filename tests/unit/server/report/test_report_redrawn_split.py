"""On hospitals' real exports `genofed simulate` draws each hospital's training and validation
split anew per run (a random secret of the run, docs/simulation.md), so the reference models move
between runs: a walkthrough's two runs that differed only in epsilon read pooled, no privacy 0.714
and 0.686. The report says so where it gives the references; on a federation genofed simulated,
whose splits derive from --seed, it does not."""

from __future__ import annotations

from genofed.server.report.plots import learning_curve_section
from genofed.server.report.summary import headline

REDRAWN = "On hospitals' real exports each run draws its hospitals' training and validation splits anew"


def _results(simulated_patients: bool | None) -> dict:
    results = {
        "test_auc": 0.657,
        "pooled_auc": 0.714,
        "local_only_auc": {"rostov": 0.48, "volgograd": 0.47},
        "epsilon_budget": 8.0,
    }
    if simulated_patients is not None:
        results["simulated_patients"] = simulated_patients
    return results


def test_a_run_on_real_exports_says_its_references_are_on_a_split_drawn_anew():
    text = headline(_results(False))
    assert REDRAWN in text and "compare them across two reports as two draws" in text
    assert "docs/simulation.md" in text
    curve = learning_curve_section(True, _results(False))
    assert "trained on this run's own draw of the hospitals' splits, which the next run draws anew" in curve


def test_a_simulated_federation_or_a_run_without_references_says_nothing_of_it():
    for results in (_results(True), _results(None)):
        assert REDRAWN not in headline(results)
        assert "draws anew" not in learning_curve_section(True, results)
    bare = {"test_auc": 0.657, "simulated_patients": False}  # no reference was trained
    assert REDRAWN not in headline(bare) and "draws anew" not in learning_curve_section(True, bare)
