"""What `hospital check --model-config model.json` pins (client/agent/model_pin.py): the digest
recomputed from the file's config, never its own digest field, and a file that does not fit this
hospital's panel refused, naming it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from genofed.client.agent.model_pin import from_model_file, whole_panel
from genofed.client.coordinator_request import architecture_digest
from genofed.common.data.panel import VariantPanel
from genofed.common.errors import DataError
from genofed.common.model.network import ModelConfig
from genofed.common.util.hashing import file_sha256

N = 30
SELECTED = (2, 7, 19)


@pytest.fixture
def panel(tmp_path: Path) -> Path:
    path = tmp_path / "panel.tsv"
    VariantPanel([f"1:{1000 + 10 * i}:A:G" for i in range(N)], np.linspace(0.05, 0.5, N)).save(path)
    return path


def _model_file(tmp_path: Path, panel: Path, changes: dict | None = None) -> Path:
    """A model.json as `coordinator init` writes it for a 3-variant sub-panel, with `changes`."""
    config = ModelConfig(n_variants=N, architecture="logistic", selected=SELECTED).to_dict()
    ids = VariantPanel.load(panel).variant_ids
    document = {
        "digest": architecture_digest(config),
        "panel": {"file": "panel.tsv", "sha256": file_sha256(panel), "variants": N},
        "selected_ids": [ids[i] for i in SELECTED],
        "model_config": config,
    }
    for key, value in (changes or {}).items():
        if key in config:
            document["model_config"] = {**config, key: value}
        else:
            document[key] = value
    path = tmp_path / "model.json"
    path.write_text(json.dumps(document))
    return path


def test_the_digest_is_recomputed_from_the_config_not_taken_from_the_file(tmp_path, panel):
    config = ModelConfig(n_variants=N, architecture="logistic", selected=SELECTED)
    pinned = from_model_file(_model_file(tmp_path, panel, {"digest": "0" * 64}), panel)
    assert pinned.digest == architecture_digest(config.to_dict()) != "0" * 64
    assert (pinned.architecture, pinned.reads, pinned.n_variants) == ("logistic", 3, N)
    assert pinned.digest != whole_panel(panel, "logistic").digest  # a sub-panel is another architecture


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"n_variants": N + 1}, f"for a panel of {N + 1} variants"),
        ({"selected": [2, 7, N]}, "model_config is not a valid model config: .*below 30"),
        ({"selected": [7, 2]}, "ascending"),
        ({"architecture": "forest"}, "model_config is not a valid model config"),
        ({"panel": {"sha256": "ab" * 32}}, "made for a panel with SHA-256 abab"),
        ({"selected_ids": ["1:1020:A:G", "1:1070:A:G", "1:1200:A:G"]}, "selected_ids are not the variants"),
        ({"model_config": "logistic"}, "holds no model_config"),
    ],
)
def test_a_file_that_does_not_fit_this_panel_is_refused_naming_it(tmp_path, panel, changes, problem):
    path = _model_file(tmp_path, panel, changes)
    with pytest.raises(DataError, match=problem) as refused:
        from_model_file(path, panel)
    assert refused.value.file == str(path)


def test_a_missing_or_unreadable_file_is_refused_naming_it(tmp_path, panel):
    with pytest.raises(DataError, match="not found"):
        from_model_file(tmp_path / "model.json", panel)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(DataError, match="cannot be read as JSON"):
        from_model_file(tmp_path / "model.json", panel)
