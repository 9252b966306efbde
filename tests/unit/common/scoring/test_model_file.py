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
    with pytest.raises(ModelFileError, match="not a genofed model file: it looks like a text file"):
        load_model_file(tmp_path / "junk.pt")
    torch.save({"state_dict": {}, "model_config": {}}, tmp_path / "old.pt")  # a model.pt of before
    with pytest.raises(ModelFileError, match="not a genofed model file"):
        load_model_file(tmp_path / "old.pt")


# --------------------------------------------------------------------------- what a user passes by mistake


def test_an_expected_hash_that_pins_nothing_is_refused_with_the_reason():
    """An empty value (an unset shell variable) would switch the check off; a short one cannot pin a
    model: both refused as such, not as "not the approved" hash."""
    from genofed.common.errors import ConfigError
    from genofed.common.scoring.model_file import check_expected_hash

    assert check_expected_hash(None) == ""  # the option left out: no check
    assert check_expected_hash("  66DBCE23A616\n") == "66dbce23a616"
    with pytest.raises(ConfigError, match="--expect-hash is empty .*unset shell variable"):
        check_expected_hash("")
    with pytest.raises(ConfigError, match="--expect-hash is empty"):
        check_expected_hash("   ")
    with pytest.raises(ConfigError, match="'6' has 1 hex digit.*at least the first 12"):
        check_expected_hash("6")
    with pytest.raises(ConfigError, match="not a SHA-256 content hash"):
        check_expected_hash("not-a-hash-at-all")


def test_a_short_or_wrong_expected_hash_says_why(tmp_path):
    path = write_model_file(tmp_path / "model.pt")
    digest = load_model_file(path).content_hash
    with pytest.raises(ModelFileError, match="fewer than the 12 needed") as refused:
        load_model_file(path, expected_hash=digest[:1])  # it does start with it: too short is the reason
    assert "refusing to use it" in str(refused.value)
    wrong = ("0" if digest[0] != "0" else "1") + digest[1:16]
    with pytest.raises(ModelFileError, match="is not the approved .*refusing to use it"):
        load_model_file(path, expected_hash=wrong)
    with pytest.raises(ModelFileError, match="refusing to start from it"):  # where a run starts from it
        load_pretrained(path, expected_hash=wrong)


@pytest.mark.parametrize(
    ("content", "looks_like"),
    [
        (b"\x1f\x8b\x08\x04" + bytes(60), "a gzip-compressed file"),
        (b"##fileformat=VCFv4.2\n#CHROM\tPOS\n", "a VCF genotype file"),
        (b"sample_id,label,sex,age\nP1,1,F,40\n", "a text file"),
        (b"\x6c\x1b\x01\x00", "a PLINK .bed genotype file"),
    ],
    ids=["vcf.gz", "vcf", "csv", "bed"],
)
def test_a_file_that_is_no_model_is_named_by_its_kind(tmp_path, content, looks_like):
    path = tmp_path / "not-a-model.pt"
    path.write_bytes(content)
    with pytest.raises(ModelFileError) as refused:
        load_model_file(path)
    message = str(refused.value)
    assert f"not a genofed model file: it looks like {looks_like}" in message
    assert "RUN/model.pt" in message and "weights_only" not in message and "\n" not in message


def test_a_pickle_with_python_objects_is_refused_without_torch_advice(tmp_path):
    path = tmp_path / "objects.pt"
    torch.save({"format": FORMAT, "x": np.random.default_rng(0)}, path)  # needs unpickling code
    with pytest.raises(ModelFileError) as refused:
        load_model_file(path)
    message = str(refused.value)
    assert "cannot read the model file" in message and "could run code" in message
    assert "weights_only" not in message and "\n" not in message


def test_parameters_are_the_trainable_weights_not_the_buffers():
    """A logistic model's per-column scale is a buffer: 30 variants + 2 covariates + 1 intercept."""
    from genofed.common.scoring.model_file import parameter_count

    model = model_file()
    assert parameter_count(model) == 30 + 2 + 1
    assert sum(t.numel() for t in model.state_dict.values()) > parameter_count(model)


def _resaved(tmp_path, edit, name: str = "edited.pt"):
    """A model file edited and saved again through the API: a valid content hash, an edited value
    (the hash detects damage, not edits; docs/predicting.md)."""
    model = model_file()
    operating = json.loads(json.dumps(model.operating))
    state = {k: v.clone() for k, v in model.state_dict.items()}
    edited = replace(model, operating=operating, state_dict=state)
    edit(edited)  # in place
    path = tmp_path / name
    save_pretrained(path, edited)
    return path


def test_non_finite_weights_are_refused_on_load_naming_the_file(tmp_path):
    """A NaN weight re-saved under a valid hash scored every patient 'low' with risk nan (and an
    AUC traceback); it is refused when the file is loaded, as a DataError naming the file."""
    from genofed.common.errors import DataError

    for bad in (float("nan"), float("inf")):

        def poison(model, bad=bad):
            model.state_dict["linear.weight"][0, 3] = bad

        path = _resaved(tmp_path, poison)
        with pytest.raises(ModelFileError, match="weights linear.weight hold 1 value") as refused:
            load_model_file(path)
        assert isinstance(refused.value, DataError) and refused.value.file == str(path)
        assert "fresh copy" in str(refused.value)


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("threshold.threshold", 1.5, r"operating.threshold.threshold is 1.5, outside \(0, 1\)"),
        ("threshold.threshold", 0.0, r"operating.threshold.threshold is 0, outside \(0, 1\)"),
        ("threshold.threshold", float("nan"), "operating.threshold.threshold is nan, not a finite number"),
        ("threshold.threshold", "abc", "operating.threshold.threshold is 'abc', not a finite number"),
        ("threshold.sensitivity", 1.2, r"operating.threshold.sensitivity is 1.2, outside \[0, 1\]"),
        ("threshold.validation_patients", "many", "validation_patients is 'many'"),
        ("features.age_scale", 0, r"operating.features.age_scale is 0, outside \(0, inf\)"),
        ("features.age_scale", -15.0, "operating.features.age_scale is -15"),
        ("features.age_center", float("inf"), "operating.features.age_center is inf, not a finite number"),
        ("features.covariates", "sex", "operating.features.covariates is 'sex', not a list"),
        ("risk_distribution", {"cdf": [0.0, 1.0]}, "operating.risk_distribution has no 'edges'"),
        ("risk_distribution.edges", [0.0, 0.5], "has 2 edges and 11 cdf values"),
        ("risk_distribution.edges", [1.0 - k / 10 for k in range(11)], "edges are not increasing"),
        ("risk_distribution.cdf", [1.0 - k / 10 for k in range(11)], "cdf is not a non-decreasing share"),
        ("risk_distribution.cdf", [None] * 11, "cdf holds None, not a finite number"),
        ("risk_distribution.patients", -3.0, "risk_distribution.patients is -3"),
    ],
)
def test_operating_values_out_of_range_are_refused_on_load(tmp_path, field, value, says):
    """Every number of `operating` scoring reads is range-checked when the file is loaded: a
    threshold of 1.5 called nobody high, NaN called everyone low, 'abc' and a distribution without
    edges ended in tracebacks, an age scale of 0 divided by zero. One refusal naming file and field."""
    from genofed.common.errors import DataError

    def edit(model):
        *parents, key = field.split(".")
        target = model.operating
        for part in parents:
            target = target[part]
        target[key] = value

    path = _resaved(tmp_path, edit)
    with pytest.raises(ModelFileError, match=says) as refused:
        load_model_file(path)
    assert isinstance(refused.value, DataError) and str(path) in str(refused.value)


def test_other_numbers_scoring_reads_are_checked_and_real_files_pass(tmp_path):
    """The panel's allele frequencies and the validated ages are numbers scoring reads too; the
    files genofed writes (with and without `operating`) load as before."""
    model = model_file()
    freq = model.panel.alt_freq.copy()
    freq[4] = 1.5
    path = tmp_path / "freq.pt"
    save_pretrained(path, replace(model, panel=replace(model.panel, alt_freq=freq)))
    with pytest.raises(ModelFileError, match=r"panel.alt_freq\[4\] is 1.5, not an allele frequency"):
        load_model_file(path)
    ages = {"cohort": "c", "people": 3, "cases": 1, "age": {"min": 80, "max": 20, "p5": 30, "p95": 70}}
    save_pretrained(path, replace(model, validated_on=ages))
    with pytest.raises(ModelFileError, match="validated_on.age.min is 80, above its max 20"):
        load_model_file(path)
    save_pretrained(path, replace(model, validated_on={**ages, "age": {**ages["age"], "p5": "x"}}))
    with pytest.raises(ModelFileError, match="validated_on.age.p5 is 'x'"):
        load_model_file(path)
    for kwargs in ({}, {"operating": False}):
        assert load_model_file(write_model_file(tmp_path / "ok.pt", **kwargs)).state_dict
    no_threshold = replace(model, operating={**model.operating, "threshold": None, "risk_distribution": None})
    save_pretrained(path, no_threshold)
    assert load_model_file(path).operating["threshold"] is None


def _retasked(path, *, kind: str = "binary", classes: tuple[str, ...] = (), n_outputs: int = 1):
    """The test model with its task and outputs edited, then saved again (so with a valid hash)."""
    from genofed.common.model.network import ModelConfig, build_model
    from genofed.common.scoring.model_file import Task, save_model_file

    model = model_file()
    config = ModelConfig(**{**model.model_config.to_dict(), "n_outputs": n_outputs})
    edited = replace(
        model,
        model_config=config,
        state_dict=build_model(config, seed=0).state_dict(),
        task=Task(kind, "label", classes),
    )
    save_model_file(path, edited)
    return path


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        ({"kind": "regression"}, "task.kind is 'regression'"),
        ({"n_outputs": 3}, "model_config.n_outputs is 3 under a binary task"),
        ({"classes": ("a", "b")}, "task.classes is ['a', 'b'] under a binary task"),
        (
            {"kind": "multiclass", "classes": ("a", "b", "c"), "n_outputs": 2},
            "model_config.n_outputs is 2 under a multiclass task of 3",
        ),
        (
            {"kind": "multiclass", "classes": ("a",), "n_outputs": 1},
            "task.classes is ['a']: a multiclass task",
        ),
        ({"kind": "multiclass", "classes": ("a", "a"), "n_outputs": 2}, "two or more distinct classes"),
    ],
)
def test_a_file_whose_task_contradicts_its_outputs_is_refused_naming_the_field(tmp_path, edit, field):
    from genofed.common.scoring.model_file import ModelValueError

    path = _retasked(tmp_path / "edited.pt", **edit)
    with pytest.raises(ModelValueError) as refused:
        load_model_file(path)
    message = str(refused.value)
    assert str(path) in message and field in message and "edited and saved again" in message
    with pytest.raises(ModelFileError):  # a run refuses it as a prior or a start alike
        load_pretrained(path)


def test_the_tasks_genofed_writes_still_load(tmp_path):
    binary = load_model_file(_retasked(tmp_path / "binary.pt"))
    assert (binary.task.kind, binary.model_config.n_outputs) == ("binary", 1)
    classes = ("AFR", "EAS", "EUR")
    multi = load_model_file(_retasked(tmp_path / "multi.pt", kind="multiclass", classes=classes, n_outputs=3))
    assert (multi.task.classes, multi.model_config.n_outputs) == (classes, 3)


def test_a_frequency_changed_below_the_hashed_6th_decimal_is_refused(tmp_path):
    """The hash covers frequencies rounded to 6 digits, as they are stored: a change below that is
    refused as damage (the hash definition, and every hash already written, unchanged)."""
    path = write_model_file(tmp_path / "model.pt")
    raw = torch.load(path, weights_only=True)
    raw["panel"]["alt_freq"][3] += 1e-9  # a flipped low bit
    torch.save(raw, tmp_path / "flipped.pt")
    with pytest.raises(ModelFileError, match=r"panel\.alt_freq\[3\] is .*damaged or modified"):
        load_model_file(tmp_path / "flipped.pt")
    assert load_model_file(path).content_hash == content_hash(model_file())


def test_a_storage_that_refuses_the_write_is_one_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    """torch.save into a file past `ulimit -f` raised a RuntimeError (a traceback in `genofed
    adapt`); the file is now serialised first and written as bytes, whose OSError is the one line."""
    import errno
    import pathlib

    from genofed.common.util.atomic import OutputWriteError

    def too_large(self, *args, **kwargs):
        raise OSError(errno.EFBIG, "File too large")

    monkeypatch.setattr(pathlib.Path, "write_bytes", too_large)
    with pytest.raises(
        OutputWriteError, match="could not write .*model.pt: File too large; nothing was written"
    ):
        save_pretrained(tmp_path / "model.pt", model_file())
    assert list(tmp_path.iterdir()) == []
