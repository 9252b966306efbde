"""`parse_augment(..., inline_only=True)`: a spec someone else sends (a coordinator's train message)
is read as key=value pairs only; nothing on the disk is opened or looked up, and every error is a
function of the string alone."""

from __future__ import annotations

import builtins
import os
import pathlib
from pathlib import Path

import pytest

from genofed.common.augment import AugmentSpec, parse_augment
from genofed.common.augment.transforms import CallNoise, Missingness
from genofed.common.errors import ConfigError


@pytest.fixture
def no_disk(monkeypatch):
    """Any look at the file system during the parse fails the test."""

    def touched(*_args, **_kwargs):
        raise AssertionError("parse_augment(inline_only=True) looked at the disk")

    for name in ("is_file", "exists", "is_dir", "read_text", "read_bytes", "open", "stat"):
        monkeypatch.setattr(pathlib.Path, name, touched)
    monkeypatch.setattr(builtins, "open", touched)
    monkeypatch.setattr(os, "stat", touched)


def _error(text, **kwargs) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_augment(text, **kwargs)
    return str(caught.value)


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    valid = tmp_path / "aug.toml"
    valid.write_text("noise = 0.01\n")
    as_json = tmp_path / "ledger.json"
    as_json.write_text('{"version": 2}')
    plain = tmp_path / "patients.csv"
    plain.write_text("sample_id,label\nP1,1\n")
    return {"toml": valid, "json": as_json, "csv": plain}


def test_inline_specs_parse_as_before(no_disk) -> None:
    for text in ("noise=0.01,missing=0.02", " noise = 0.01 , missing=0.02 "):
        assert parse_augment(text, inline_only=True) == AugmentSpec(
            noise=CallNoise(0.01), missing=Missingness(0.02)
        )
    for empty in (None, "", "none", "  off "):
        assert parse_augment(empty, inline_only=True) == AugmentSpec()


def test_a_path_is_never_read_and_its_error_does_not_depend_on_the_disk(files, tmp_path, monkeypatch) -> None:
    """Existing (even a valid augmentation file) or missing, .toml/.json/.csv: one error, the path's text."""
    by_default = parse_augment(str(files["toml"]))  # the operator's own: read as a file
    assert by_default == AugmentSpec(noise=CallNoise(0.01))
    paths = [*files.values(), tmp_path / "missing.toml", tmp_path / "missing.json", tmp_path / "missing.csv"]
    texts = [str(p) for p in paths] + ["/etc/hostname", "/etc/genofed-does-not-exist"]

    def touched(*_args, **_kwargs):
        raise AssertionError("parse_augment(inline_only=True) looked at the disk")

    for name in ("is_file", "exists", "read_text", "open", "stat"):
        monkeypatch.setattr(pathlib.Path, name, touched)
    monkeypatch.setattr(builtins, "open", touched)
    shapes = set()
    for text in texts:
        message = _error(text, inline_only=True)
        assert message == f"augment {text!r}: {text!r} is not key=value (e.g. noise=0.01)"
        assert "version" not in message and "sample_id" not in message
        shapes.add(message.replace(text, "<PATH>"))
    assert len(shapes) == 1


def test_a_path_object_is_refused_unread(tmp_path, no_disk) -> None:
    assert "not as a file" in _error(tmp_path / "aug.toml", inline_only=True)


def test_inline_errors_name_only_the_string(no_disk) -> None:
    assert "unknown key '/data/p1.json'" in _error("/data/p1.json=1", inline_only=True)
    assert "a rate in [0, 1]" in _error("noise=2", inline_only=True)
    assert "given twice" in _error("noise=0.1,noise=0.2", inline_only=True)
    assert "mixup-alpha is given but mixup is not" in _error("mixup-alpha=1", inline_only=True)
    assert _error("noise", inline_only=True).startswith("augment 'noise': 'noise' is not key=value")


def test_the_site_argument_changes_nothing_inline(no_disk) -> None:
    assert parse_augment("noise=0.01", site="small_clinic", inline_only=True) == AugmentSpec(
        noise=CallNoise(0.01)
    )
