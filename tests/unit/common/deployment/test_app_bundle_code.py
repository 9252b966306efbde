"""The deployed app bundle a hospital approves is tied to the installed code, not only to the
version: an upgrade audit found three releases, all versioned 0.1.0, that built one bundle hash, so
a hospital on an older release (another noise scheme) served an upgraded coordinator."""

from __future__ import annotations

import shutil
from pathlib import Path

from genofed.common.deployment import app_bundle
from genofed.common.deployment.app_bundle import approved_app_hash, build_app_fab, code_digest, folders_digest


def _package(root: Path) -> Path:
    (root / "sub" / "__pycache__").mkdir(parents=True)
    (root / "app.py").write_text("NOISE = 'chacha20'\n")
    (root / "sub" / "rule.py").write_text("LR = 0.39\n")
    (root / "sub" / "app.toml").write_text("x = 1\n")
    (root / "sub" / "__pycache__" / "rule.cpython-311.pyc").write_bytes(b"compiled")
    return root


def test_the_same_code_anywhere_has_one_digest_and_any_change_another(tmp_path):
    first = _package(tmp_path / "a")
    second = shutil.copytree(first, tmp_path / "b")
    assert folders_digest([("genofed.x", first)]) == folders_digest([("genofed.x", second)])
    (second / "sub" / "__pycache__" / "rule.cpython-311.pyc").write_bytes(b"other")  # caches do not count
    (second / "notes.txt").write_text("not code")
    assert folders_digest([("genofed.x", first)]) == folders_digest([("genofed.x", second)])
    (second / "sub" / "rule.py").write_text("LR = 0.13\n")  # an upgrade's new rule
    assert folders_digest([("genofed.x", first)]) != folders_digest([("genofed.x", second)])
    (second / "sub" / "rule.py").write_text("LR = 0.39\n")
    (second / "sub" / "rule.py").rename(second / "rule.py")  # the same bytes elsewhere
    assert folders_digest([("genofed.x", first)]) != folders_digest([("genofed.x", second)])


def test_the_bundle_records_the_installed_code_and_its_hash_follows_it(monkeypatch):
    assert f'code-sha256 = "{code_digest()}"' in app_bundle.app_pyproject()
    hashes = set()
    for code in ("a" * 64, "b" * 64):
        monkeypatch.setattr(app_bundle, "code_digest", lambda code=code: code)
        build_app_fab.cache_clear()
        hashes.add(approved_app_hash("0.1.0"))
    build_app_fab.cache_clear()
    assert len(hashes) == 2  # one version, two codes: two bundles a hospital tells apart
