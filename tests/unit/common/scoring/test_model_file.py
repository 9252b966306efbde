"""The model file with what scoring needs (`operating`): round trip, content hash (refusal after
tampering; unchanged for a file without `operating`), the recorded encoding."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers.model_files import model_file, write_model_file

from genofed.common.data.features import FREQ_CLIP, FeatureSpec
from genofed.common.scoring.model_file import (
    FORMAT,
    ModelFileError,
    _panel_to_dict,
    content_hash,
    load_model_file,
    load_pretrained,
    save_pretrained,
)


def test_round_trip_keeps_operating_point_distribution_and_encoding(tmp_path):
    path = write_model_file(tmp_path / "model.pt")
    written = model_file()
    loaded = load_model_file(path)
    assert loaded.operating == written.operating
    assert loaded.operating["threshold"]["threshold"] == pytest.approx(0.5)
    assert loaded.operating["risk_distribution"]["cdf"][-1] == 1.0
    assert loaded.content_hash == content_hash(written)
    assert loaded.task.label == "label" and loaded.panel.variant_ids == written.panel.variant_ids
    for name, tensor in written.state_dict.items():
        assert torch.equal(loaded.state_dict[name], tensor)
    spec = loaded.feature_spec()
    assert (spec.age_center, spec.age_scale, spec.covariates) == (50.0, 15.0, ("sex", "age"))
    # the old readers of RUN/model.pt keep working: the weights and config under the same keys
    raw = torch.load(path, weights_only=True)
    assert (
        set(raw["state_dict"]) == set(written.state_dict)
        and raw["model_config"]["architecture"] == "logistic"
    )


def test_tampered_operating_point_is_refused(tmp_path):
    path = write_model_file(tmp_path / "model.pt")
    raw = torch.load(path, weights_only=True)
    raw["operating"]["threshold"]["threshold"] = 0.1  # someone lowers the threshold by hand
    torch.save(raw, tmp_path / "edited.pt")
    with pytest.raises(ModelFileError, match="content hash mismatch"):
        load_model_file(tmp_path / "edited.pt")
    # and the hash changes with the operating point: it is covered, not decoration
    other = model_file()
    moved = replace(
        other, operating={**other.operating, "threshold": {**other.operating["threshold"], "threshold": 0.1}}
    )
    assert content_hash(moved) != content_hash(other)


def test_a_file_without_operating_keeps_the_hash_it_was_written_with(tmp_path):
    """Pretrained files written before `operating` existed must still load: their hash is the old one."""
    model = model_file(operating=False)
    digest = hashlib.sha256(FORMAT.encode())
    meta = {
        "model_config": model.model_config.to_dict(),
        "panel": _panel_to_dict(model.panel),
        "task": model.task.to_dict(),
        "provenance": model.provenance,
    }
    digest.update(json.dumps(meta, sort_keys=True, default=str).encode())
    for name in sorted(model.state_dict):
        tensor = model.state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.numpy().tobytes())
    assert content_hash(model) == digest.hexdigest()
    save_pretrained(tmp_path / "pre.pt", model)  # the historical names still work
    assert "operating" not in torch.load(tmp_path / "pre.pt", weights_only=True)
    loaded = load_pretrained(tmp_path / "pre.pt")
    assert loaded.operating == {} and loaded.content_hash == digest.hexdigest()
    spec, defaults = loaded.feature_spec(), FeatureSpec(alt_freq=())  # today's defaults
    assert (spec.age_center, spec.age_scale, spec.covariates) == (
        defaults.age_center,
        defaults.age_scale,
        defaults.covariates,
    )


def test_recorded_encoding_is_used_and_a_foreign_clip_refused():
    model = model_file()
    features = {**model.operating["features"], "age_center": 60.0, "age_scale": 10.0}
    spec = replace(model, operating={**model.operating, "features": features}).feature_spec()
    assert (spec.age_center, spec.age_scale) == (60.0, 10.0)
    np.testing.assert_allclose(np.asarray(spec.alt_freq), model.panel.alt_freq)
    clipped = {**model.operating["features"], "freq_clip": FREQ_CLIP * 10}
    with pytest.raises(ModelFileError, match="clips allele frequencies"):
        replace(model, operating={**model.operating, "features": clipped}).feature_spec()


def test_errors_name_a_model_file_not_a_pretrained_one(tmp_path):
    with pytest.raises(ModelFileError, match="model file not found.*RUN/model.pt"):
        load_model_file(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="cannot read the model file"):
        load_model_file(tmp_path / "junk.pt")
    torch.save({"state_dict": {}, "model_config": {}}, tmp_path / "old.pt")  # a model.pt of before
    with pytest.raises(ModelFileError, match="not a genofed model file"):
        load_model_file(tmp_path / "old.pt")
