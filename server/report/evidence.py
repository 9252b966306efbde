"""Everything the clinician's sections need beyond results.json, gathered once per report.

`gather` reads the run folder (test predictions, the reference models' predictions, final model),
the federation folder (truth, panel, gene list) and the test cohort's phenotype table (its
groups); `from_results` is the same from results.json alone, for a report rendered without its
run folder (its clinical figures then read "not measured").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genofed.server.report.assessment import Assessment, assess
from genofed.server.report.differences import AucDifferences, auc_differences, from_record
from genofed.server.report.explain import Explanation, explain_run
from genofed.server.report.run_files import (
    read_predictions,
    read_reference_predictions,
    read_truth,
    real_prevalence,
)
from genofed.server.report.subgroups import read_groupings


@dataclass(frozen=True)
class Evidence:
    """The final model's clinical numbers and its top variants (or why they are missing), and the
    headline's paired differences to the reference models (None without their predictions)."""

    assessment: Assessment
    explanation: Explanation | str
    differences: AucDifferences | None = None


def gather(run_dir: Path, results: Mapping[str, Any]) -> Evidence:
    """Read the run folder and the federation folder; never raises for a missing file."""
    truth = read_truth(results)
    predictions = read_predictions(run_dir)
    assessment = assess(
        results, predictions, real_prevalence(results, truth), read_groupings(results, predictions)
    )
    # from the people's risks when the run folder keeps them, else as results.json recorded them
    # (a run of real exports keeps no reference predictions: docs/simulation.md)
    differences = auc_differences(predictions, read_reference_predictions(run_dir, predictions))
    if differences is None:
        differences = from_record(results.get("auc_differences"))
    return Evidence(assessment, explain_run(run_dir, results, truth), differences)


def from_results(results: Mapping[str, Any]) -> Evidence:
    """What results.json alone supports: no predictions, no model, no explanation."""
    assessment = assess(results, None, real_prevalence(results, read_truth(results)))
    differences = from_record(results.get("auc_differences"))
    return Evidence(assessment, "The report was rendered without its run folder.", differences)
