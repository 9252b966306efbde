"""The files beside results.json that the clinician's sections read, each read defensively.

RUN/test_predictions.csv (`sample_id,label,risk`: the final model's risk for every person of the
coordinator's test cohort), the test cohort's folder (its phenotype table, read by `subgroups`),
the federation folder's truth.json (simulated data only) and the disease's real prevalence. Every
reader returns None for a file that is missing or malformed: an old run, or a federation without
a test cohort, still gets its report, which then says what it could not measure.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genofed.common.reporting.ratios import Prevalence
from genofed.server.report.reading import config_value, number

PREDICTIONS = "test_predictions.csv"
PREDICTION_COLUMNS = ("sample_id", "label", "risk")


@dataclass(frozen=True)
class Predictions:
    """The final model's risks on the test cohort: one label (0/1) and one risk per person, and
    each person's sample id (in the same order; empty when not known) for the subgroup table."""

    labels: np.ndarray
    risks: np.ndarray
    sample_ids: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def cases(self) -> int:
        return int(self.labels.sum())


def read_predictions(run_dir: Path) -> Predictions | None:
    """RUN/test_predictions.csv as arrays; None when absent, malformed or holding no one."""
    path = Path(run_dir) / PREDICTIONS
    if not path.is_file():
        return None
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not set(PREDICTION_COLUMNS) <= set(reader.fieldnames or ()):
                return None
            rows = [
                (float(row["label"]), float(row["risk"]), str(row["sample_id"]).strip()) for row in reader
            ]
    except (OSError, ValueError, UnicodeDecodeError, csv.Error):
        return None
    if not rows or any(label not in (0.0, 1.0) or not 0.0 <= risk <= 1.0 for label, risk, _ in rows):
        return None
    labels, risks, ids = zip(*rows, strict=True)
    return Predictions(np.asarray(labels, dtype=np.int64), np.asarray(risks, dtype=np.float64), tuple(ids))


def data_dir(results: Mapping[str, Any]) -> Path | None:
    """The federation folder the run trained on (its config's `data-dir`), if it still exists."""
    value = config_value(results, ("data-dir", "data_dir"))
    return Path(str(value)) if value and Path(str(value)).is_dir() else None


def test_folder(results: Mapping[str, Any]) -> Path | None:
    """The run's test cohort folder, as the run found it: its `test-dir` setting, else the
    federation folder's `test/`; None when neither exists (any more)."""
    from genofed.common.data.layout import TEST  # lazily: common.data loads pandas

    value = config_value(results, ("test-dir", "test_dir"))
    if value and Path(str(value)).is_dir():
        return Path(str(value))
    folder = data_dir(results)
    return folder / TEST if folder is not None and (folder / TEST).is_dir() else None


def read_truth(results: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The federation's truth.json (simulated data: the disease model, its causal variants)."""
    from genofed.common.data.layout import TRUTH  # lazily: common.data loads pandas

    folder = data_dir(results)
    if folder is None or not (folder / TRUTH).is_file():
        return None
    try:
        truth = json.loads((folder / TRUTH).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return truth if isinstance(truth, Mapping) else None


def real_prevalence(results: Mapping[str, Any], truth: Mapping[str, Any] | None) -> Prevalence | None:
    """The run's `prevalence` setting when set (> 0), else a simulated disease's target prevalence.

    None when neither is known: PPV and NPV can then be given only at the test cohort's case share.
    """
    configured = number(config_value(results, ("prevalence",)))
    if configured is not None and 0.0 < configured < 1.0:
        return Prevalence(configured, "the run's --prevalence setting")
    for key, words in (
        ("prevalence_target", "the simulated disease's population prevalence (truth.json)"),
        ("prevalence_realised", "the simulated disease's realised prevalence (truth.json)"),
    ):
        value = number((truth or {}).get(key))
        if value is not None and 0.0 < value < 1.0 and not math.isnan(value):
            return Prevalence(value, words)
    return None
