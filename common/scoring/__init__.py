"""A trained risk model as a file, and the scores it gives patients.

Modules:

- `model_file`: the model file (`genofed pretrain` writes one, and so does every federated run):
  weights, config, panel, task, provenance and what scoring needs (`operating`: the encoding's
  constants, the operating threshold, the risk distribution) under one content hash, checked on
  load and against a federation's panel.
- `model_values`: the numbers of a model file scoring reads (weights, threshold, encoding constants,
  risk distribution, ...), range-checked when the file is loaded.
- `operating`: the operating threshold (Youden's J on the hospitals' released validation
  histograms) and the training population's risk distribution (for percentiles).
- `people`: people read for a model: genotypes aligned to its panel and encoded, covariates,
  labels where known (`model_people`, which `predict` encodes a batch at a time; `encoded_cohort`,
  everyone encoded, for `adapt`).
- `predict`: `genofed predict`: score new people, offline, and write risks.csv with its provenance.
  Beside it: `risks_csv` (the rows and how risks.csv shows them), `risks_provenance` (risks.csv.json),
  `verdict_notes` (the run report's fitness and calibration verdicts, on every row and once),
  `person_notes` (one person's call rate, imputed covariates, age or sex outside the validated
  population), `threshold_words` (the threshold and its validation and test-cohort figures in
  words) and `percentile_words` (why percentiles are withheld, and whom they are relative to).
- `validation`: who a model was validated on (`ModelFile.validated_on`: the tested cohort's ages
  and sex mix, the calibration verdict there) and how `predict` and `inspect-model` say it.
- `adapt`: the shared model adapted to one hospital's patients (`genofed adapt`).

It sits above `common.data` and `common.model` so that both the coordinator (which writes model
files) and a hospital (which scores its own new patients, without any network) can use it.
"""

from __future__ import annotations

from typing import Any

#: Every module here imports torch (the model) or the readers: the names load on first use, so
#: that `genofed predict --help` stays fast.
_MODULES = {
    "model_file": {
        "FORMAT",
        "MIN_HASH_DIGITS",
        "ModelFile",
        "ModelFileError",
        "Task",
        "check_compatible",
        "check_expected_hash",
        "content_hash",
        "describe",
        "disease_start",
        "load_model_file",
        "parameter_count",
        "save_model_file",
    },
    "operating": {"operating_point", "percentiles", "risk_distribution"},
    "predict": {"predict_file", "write_predictions"},
    "risks_csv": {"COLUMNS", "Predictions"},
    "validation": {"population_words", "calibration_words", "validation_record"},
}


def __getattr__(name: str) -> Any:
    """The names of `model_file`, `operating`, `predict`, `risks_csv` and `validation`, imported on
    first use."""
    if name in _MODULES["model_file"]:
        import genofed.common.scoring.model_file as module
    elif name in _MODULES["operating"]:
        import genofed.common.scoring.operating as module
    elif name in _MODULES["predict"]:
        import genofed.common.scoring.predict as module
    elif name in _MODULES["risks_csv"]:
        import genofed.common.scoring.risks_csv as module
    elif name in _MODULES["validation"]:
        import genofed.common.scoring.validation as module
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(module, name)


__all__ = sorted(set().union(*_MODULES.values()))
