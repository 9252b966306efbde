"""`genofed pretrain`: a source model trained centrally before any federation, and its file.

Modules:

- `settings`: `PretrainSettings`, the hyper-parameters (no torch: the CLI builds its options from
  their defaults).
- `train`: reading a source cohort on the federation's panel and training on it (`pretrain`).
- `model_file`: the pretrained-model file: weights, config, panel, task and provenance under one
  content hash, checked on load and against the federation's panel.

`settings` is light and imported here; the names of `train` and `model_file` (torch) load on
first use.
"""

from __future__ import annotations

from typing import Any

from genofed.server.pretraining.settings import TASKS, PretrainSettings

_TRAIN = {"SourceData", "load_source", "pretrain"}
_MODEL_FILE = {
    "FORMAT",
    "PretrainedModel",
    "PretrainedModelError",
    "Task",
    "check_compatible",
    "content_hash",
    "describe",
    "disease_start",
    "load_pretrained",
    "save_pretrained",
}


def __getattr__(name: str) -> Any:
    """The names of `train` and `model_file` (torch), imported on first use."""
    if name in _TRAIN:
        import genofed.server.pretraining.train as train

        return getattr(train, name)
    if name in _MODEL_FILE:
        import genofed.common.scoring.model_file as model_file

        return getattr(model_file, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "TASKS",
    "PretrainSettings",
]
#: and every name `__getattr__` loads on first use
__all__ += sorted(_TRAIN | _MODEL_FILE)
