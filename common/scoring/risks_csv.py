"""risks.csv: the table `genofed predict` writes, one row per person, and how its cells are shown.

`Predictions` holds what `predict_file` (`genofed.common.scoring.predict`) computed for each person
(risk, percentile, call, call rate, imputed genotypes, label, notes) and turns it into the CSV:
risks rounded to `RISK_DECIMALS` but never across the threshold (`shown_risk`), percentiles as whole
numbers in `PERCENTILE_RANGE`, `NO_CALL` for a person with too few genotypes called, and sample ids
a spreadsheet would run as a formula written as text (`spreadsheet_text`).

Why a module of its own: this is the file a clinician opens, often without the terminal that
printed the run's notes, so what each cell may and may not say is decided here, in one place,
apart from how the people were scored.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field

import numpy as np

from genofed.common.data.panel import Alignment
from genofed.common.model.metrics import binary_metrics
from genofed.common.reporting.ratios import Prevalence

#: The leading columns of risks.csv, in order; then `label` (only when phenotypes with the label
#: column were given), then `NOTES_COLUMN`.
COLUMNS = ("sample_id", "risk", "percentile", "call", "coverage", "imputed")
#: The last column: why a person got no call, and what was assumed about them ("" when nothing).
NOTES_COLUMN = "notes"
#: The call of a person with too few genotypes called (`Predictions.scored`).
NO_CALL = "no call"
#: risks.csv's risks are rounded to this many decimals: the model's score, not a calibrated
#: probability (`risk_note`); more digits would suggest a precision nobody measured.
RISK_DECIMALS = 3
#: Percentiles are whole numbers clipped into this range: the reference distribution comes from a
#: few hundred noisy validation patients, so neither "below everyone" (0) nor "above everyone"
#: (100) is something it can say (docs/predicting.md, "Percentiles").
PERCENTILE_RANGE = (1, 99)


def shown_risk(risk: float, threshold: float | None) -> float:
    """`risk` rounded to `RISK_DECIMALS` decimals, but never across `threshold`: a risk of 0.4996
    under a threshold of 0.5 shows as 0.499 (called low), not as a "0.500" called low."""
    scale = 10**RISK_DECIMALS
    shown = round(risk, RISK_DECIMALS)
    if threshold is not None and risk < threshold <= shown:
        return math.floor(risk * scale) / scale
    if threshold is not None and shown < threshold <= risk:
        return math.ceil(risk * scale) / scale
    return shown


@dataclass
class Predictions:
    """One row per person, in genotype-file order, and what the user must know about them.

    `percentiles` / `calls`: None when the model file has no risk distribution / no threshold was
    given or recorded. `threshold_source`: "model" (the model file's operating threshold) or
    "--threshold" (the user's); `threshold_detail` says it in words. `min_call_rate`: a person
    whose `coverage` is below it gets no risk, percentile or call (`scored`). `labels`: None
    without a label column. `labelled`: who has a label (a new patient's may be empty: no
    diagnosis yet); None means everyone with `labels`. `notes`: what was assumed or is missing,
    said once; `row_notes`: the same per person (the CSV's notes column). `reference`: the
    population the percentiles are relative to, in words (None without a distribution).
    `outside_ages`: how many people's age lies outside the ages the model was validated on.
    `prevalence`: the prevalence the threshold's test-cohort figures were carried to (PPV and
    1 - NPV, in `threshold_detail`), from --prevalence or the model file; None when none applied.
    """

    sample_ids: list[str]
    risks: np.ndarray
    coverage: np.ndarray  # per person: share of panel variants with a call, after alignment
    imputed: np.ndarray  # per person: panel variants absent from the file or with a missing call
    alignment: Alignment
    threshold: float | None = None
    percentiles: np.ndarray | None = None
    labels: np.ndarray | None = None
    labelled: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    threshold_source: str | None = None
    threshold_detail: str = ""
    min_call_rate: float = 0.0
    row_notes: list[list[str]] | None = None
    reference: str | None = None
    outside_ages: int = 0
    prevalence: Prevalence | None = None

    @property
    def scored(self) -> np.ndarray:
        """Who gets a risk, percentile and call: a call rate of at least `min_call_rate` (a person
        below it would be scored mostly on imputed genotypes, the panel's average, which looks
        like an ordinary, reassuring risk)."""
        return np.asarray(self.coverage) >= self.min_call_rate - 1e-12

    @property
    def n_not_called(self) -> int:
        return int(np.sum(~self.scored))

    @property
    def calls(self) -> list[str] | None:
        """ "high" where risk >= threshold, else "low" (the release's bins put the edge in the
        upper bin), `NO_CALL` for a person not scored; None without a threshold."""
        if self.threshold is None:
            return None
        scored = self.scored
        return [
            ("high" if r >= self.threshold else "low") if ok else NO_CALL
            for r, ok in zip(self.risks, scored, strict=True)
        ]

    @property
    def shown_percentiles(self) -> np.ndarray | None:
        """The percentiles as risks.csv shows them: whole numbers in `PERCENTILE_RANGE`."""
        if self.percentiles is None:
            return None
        low, high = PERCENTILE_RANGE
        return np.clip(np.rint(self.percentiles), low, high).astype(int)

    @property
    def n_labelled(self) -> int:
        """How many people have a label (0 without a label column)."""
        if self.labels is None:
            return 0
        return len(self.labels) if self.labelled is None else int(np.sum(self.labelled))

    @property
    def in_auc(self) -> np.ndarray | None:
        """Who the AUC is over: a label and a call rate at the minimum (None without labels)."""
        if self.labels is None:
            return None
        known = np.ones(len(self.labels), dtype=bool) if self.labelled is None else self.labelled
        return known & self.scored

    def auc(self) -> float | None:
        """The AUC against the labels of the people who have one and are scored (None without
        labels or with one class only); the same computation as results.json's `test_auc`. A
        person without a label (a new patient, no diagnosis yet), or with too few genotypes
        called, is not counted here."""
        if self.labels is None:
            return None
        counted = self.in_auc
        return binary_metrics(self.labels[counted], self.risks[counted])["auc"]

    def notes_of(self, i: int) -> str:
        """Person `i`'s notes cell: their notes joined by "; " ("" when none)."""
        return "; ".join(self.row_notes[i]) if self.row_notes else ""

    def to_csv(self) -> str:
        """risks.csv: `COLUMNS`, then `label` when known, then `NOTES_COLUMN`; empty cells where a
        value does not exist (and risk and percentile for a person not scored)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([*COLUMNS, *(["label"] if self.labels is not None else []), NOTES_COLUMN])
        calls, shown, scored = self.calls, self.shown_percentiles, self.scored
        for i, sample in enumerate(self.sample_ids):
            row = [
                spreadsheet_text(sample),
                f"{shown_risk(float(self.risks[i]), self.threshold):.{RISK_DECIMALS}f}" if scored[i] else "",
                "" if shown is None or not scored[i] else int(shown[i]),
                (calls[i] if calls is not None else "") if scored[i] else NO_CALL,
                f"{self.coverage[i]:.4f}",
                int(self.imputed[i]),
            ]
            if self.labels is not None:
                known = self.labelled is None or bool(self.labelled[i])
                row.append(int(self.labels[i]) if known else "")
            row.append(self.notes_of(i))
            writer.writerow(row)
        return buffer.getvalue()


#: What a spreadsheet reads as a formula at the start of a cell (OWASP's CSV injection list).
FORMULA_STARTS = ("=", "+", "@", "\t", "\r")


def spreadsheet_text(cell: str) -> str:
    """A sample id as risks.csv writes it: with a leading apostrophe when a spreadsheet would run it
    as a formula (`=HYPERLINK(...)` in a VCF header was written as it was, and Excel runs it), so
    that it reads as the text it is; a `-` only when what follows is no number (an id `-12` stays).
    Every other id is written exactly."""
    risky = cell.startswith(FORMULA_STARTS) or (cell.startswith("-") and not _is_number(cell))
    return f"'{cell}" if risky else cell


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
