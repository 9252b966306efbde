"""The privacy frontier reuses a finished run only if it was made with the same run settings: a
piece whose settings id is another settings' is removed with its run and run again, so a changed
--prior-variants never hides behind an old cell."""

from __future__ import annotations

import json

from genofed.server.settings import RunSettings
from genofed.simulations.experiments.privacy_frontier.run import _drop_if_other_settings


def _piece(tmp_path, settings_id):
    piece, run_dir = tmp_path / "piece.json", tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "results.json").write_text("{}")
    piece.write_text(json.dumps([{"test_auc": 0.7, **({"settings_id": settings_id} if settings_id else {})}]))
    return piece, run_dir


def test_a_piece_of_the_same_settings_is_kept(tmp_path):
    settings = RunSettings(prior="source.pt", prior_variants=0)
    piece, run_dir = _piece(tmp_path, settings.experiment_id())
    _drop_if_other_settings(piece, run_dir, settings, lambda _: None)
    assert piece.exists() and run_dir.exists()


def test_a_piece_of_other_settings_is_removed_with_its_run(tmp_path):
    old = RunSettings(prior="source.pt", prior_variants=1000)
    piece, run_dir = _piece(tmp_path, old.experiment_id())
    said = []
    _drop_if_other_settings(piece, run_dir, RunSettings(prior="source.pt", prior_variants=0), said.append)
    assert not piece.exists() and not run_dir.exists()
    assert "made with other settings" in said[0]


def test_a_piece_from_before_settings_ids_is_kept(tmp_path):
    piece, run_dir = _piece(tmp_path, None)
    _drop_if_other_settings(piece, run_dir, RunSettings(prior="source.pt"), lambda _: None)
    assert piece.exists() and run_dir.exists()
