"""risks.csv.json: the provenance file `genofed predict` writes next to risks.csv
(`sidecar_path`, format `PROVENANCE_FORMAT`), as `provenance_record` assembles it: the model's
hash and label, the inputs, the threshold and where it came from, the minimums, the reference
population of the percentiles, who the model was validated on and the calibration verdict there,
the run report's fitness verdict (`fitness_provenance`), the genofed version and every note printed.

Why: a CSV of risks says nothing of the model or the settings that made it; this file lets one be
told apart from another once the terminal is closed, and lets `genofed predict` recognise its own
earlier output before replacing it (`cli.predict`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genofed.common.scoring.model_file import ModelFile
from genofed.common.scoring.risks_csv import PERCENTILE_RANGE, RISK_DECIMALS, Predictions
from genofed.common.scoring.validation import (
    calibration_words,
    fitness_of,
    fitness_words,
    population_words,
    validated_age_range,
)
from genofed.common.scoring.verdict_notes import calibration_row_note, fitness_row_note, fitness_warning
from genofed.common.util.version import genofed_version

#: The format of the provenance file next to risks.csv (`provenance_record`).
PROVENANCE_FORMAT = "genofed-predictions/1"


def sidecar_path(path: str | Path) -> Path:
    """Where the provenance of risks.csv goes: the same name with ".json" added (risks.csv.json)."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def provenance_record(
    model: ModelFile,
    predictions: Predictions,
    *,
    model_path: str | Path,
    genotypes: str | Path,
    phenotypes: str | Path | None,
    label_column: str,
    min_coverage: float,
    messages: list[str],
) -> dict[str, Any]:
    """What risks.csv.json records (`write_predictions` adds the CSV's name, hash and the time):
    the model (content hash, kind, label, source), the inputs, the threshold and where it came
    from, the minimums, the reference population of the percentiles, what `risk` is, and every
    line printed on stderr (`messages`), who the model was validated on (`validated_on`: the
    population and the calibration verdict in words, or that the file does not record them; the
    validated ages and how many people lie outside them; the record itself), and the run report's
    fitness verdict (`fitness`, `fitness_provenance`)."""
    point = model.operating.get("threshold") or {}
    span = validated_age_range(model.validated_on)
    calls = predictions.calls
    return {
        "format": PROVENANCE_FORMAT,
        "genofed_version": genofed_version(),
        "model": {
            "path": str(Path(model_path).resolve()),
            "content_hash": model.content_hash,
            "kind": str(model.provenance.get("kind") or "pretrained"),
            "label": model.task.label,
            "source": model.provenance.get("source"),
            "created": model.provenance.get("created"),
        },
        "inputs": {
            "genotypes": str(Path(genotypes).resolve()),
            "phenotypes": None if phenotypes is None else str(Path(phenotypes).resolve()),
            "label_column": label_column if predictions.labels is not None else None,
        },
        "people": len(predictions.sample_ids),
        "not_called": predictions.n_not_called,
        "high": None if calls is None else sum(call == "high" for call in calls),
        "threshold": {
            "value": predictions.threshold,
            "source": predictions.threshold_source,
            "described": predictions.threshold_detail or None,
            "model_threshold": point.get("threshold"),
            "model_rule": point.get("rule"),
        },
        "prevalence": (
            None
            if predictions.prevalence is None
            else {"value": predictions.prevalence.value, "source": predictions.prevalence.source}
        ),
        "min_call_rate": predictions.min_call_rate,
        "min_coverage": min_coverage,
        "percentiles": {
            "reference": predictions.reference,
            "shown": f"whole numbers clipped to {PERCENTILE_RANGE[0]}-{PERCENTILE_RANGE[1]}",
        },
        "risk": f"the model's score rounded to {RISK_DECIMALS} decimals, not a calibrated probability",
        "validated_on": {
            "recorded": bool(model.validated_on),
            "population": population_words(model.validated_on),
            "calibration": calibration_words(model.validated_on),
            "ages": None if span is None else {"min": span[0], "max": span[1]},
            "outside_ages": predictions.outside_ages if span is not None else None,
            "record": model.validated_on or None,
            "row_note": calibration_row_note(model),
        },
        "fitness": fitness_provenance(model),
        "auc": predictions.auc(),
        "notes": list(messages),
    }


def fitness_provenance(model: ModelFile) -> dict[str, Any]:
    """risks.csv.json's `fitness`: the run report's verdict as the model file records it (`verdict`,
    `passed`, `failed`, in words `said`; `recorded` false and "verdict not recorded" for a file
    without it), and whether the rows were marked not for patient care (`row_note`, `warning`)."""
    fitness = fitness_of(model.validated_on)
    return {
        "recorded": fitness is not None,
        "verdict": None if fitness is None else fitness["verdict"],
        "passed": None if fitness is None else fitness.get("passed"),
        "failed": [] if fitness is None else list(fitness.get("failed") or []),
        "said": fitness_words(model.validated_on),
        "row_note": fitness_row_note(model),
        "warning": fitness_warning(model),
    }
