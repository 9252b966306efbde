"""The privacy frontier reuses a finished run only if it was made with the same run settings and
trained with the same rule-filled settings: a piece whose settings id is another settings', or
whose resolved id is not what the rule fills today, is removed with its run and run again, so
neither a changed --prior-variants nor a changed rule hides behind an old cell."""

from __future__ import annotations

import json

import numpy as np

from genofed.common.data.panel import VariantPanel
from genofed.server import training_rule
from genofed.server.settings import RunSettings
from genofed.simulations.experiments.privacy_frontier.run import _drop_if_other_settings, resolved_id


def _piece(tmp_path, settings_id, trained_with=None):
    piece, run_dir = tmp_path / "piece.json", tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "results.json").write_text("{}")
    ids = {"settings_id": settings_id, "resolved_id": trained_with}
    piece.write_text(json.dumps([{"test_auc": 0.7, **{k: v for k, v in ids.items() if v}}]))
    return piece, run_dir


def test_a_piece_of_the_same_settings_is_kept(tmp_path):
    settings = RunSettings(prior="source.pt", prior_variants=0)
    piece, run_dir = _piece(tmp_path, settings.experiment_id(), "resolved")
    _drop_if_other_settings(piece, run_dir, settings, "resolved", lambda _: None)
    assert piece.exists() and run_dir.exists()


def test_a_piece_of_other_settings_is_removed_with_its_run(tmp_path):
    old = RunSettings(prior="source.pt", prior_variants=1000)
    piece, run_dir = _piece(tmp_path, old.experiment_id())
    said = []
    _drop_if_other_settings(piece, run_dir, RunSettings(prior="source.pt", prior_variants=0), "", said.append)
    assert not piece.exists() and not run_dir.exists()
    assert "made with other settings" in said[0]


def test_a_piece_trained_with_another_rule_is_removed_with_its_run(tmp_path):
    settings = RunSettings(prior="source.pt")
    piece, run_dir = _piece(tmp_path, settings.experiment_id(), "the old rule's")
    said = []
    _drop_if_other_settings(piece, run_dir, settings, "today's rule's", said.append)
    assert not piece.exists() and not run_dir.exists()
    assert "trained with other rule-filled settings" in said[0]


def test_a_piece_from_before_settings_ids_is_kept(tmp_path):
    piece, run_dir = _piece(tmp_path, None)
    _drop_if_other_settings(piece, run_dir, RunSettings(prior="source.pt"), "resolved", lambda _: None)
    assert piece.exists() and run_dir.exists()


def test_the_resolved_id_changes_with_the_rule_and_the_settings_id_does_not(monkeypatch):
    """What bit the frontier once: the network's distributed step share changed its lr, the
    design's settings (and so their id) stayed the same, and the old runs were reused."""
    panel = VariantPanel([f"1:{100 + i}:A:G" for i in range(50)], np.full(50, 0.3))
    settings = RunSettings(model="network", epsilon=3.0, secagg=True, privacy="distributed")
    before = resolved_id(settings, panel), settings.experiment_id()
    monkeypatch.setattr(training_rule, "STEP_SHARE_EPSILON", 1.0)
    after = resolved_id(settings, panel), settings.experiment_id()
    assert after[0] != before[0]
    assert after[1] == before[1]


def test_the_resolved_id_changes_with_the_models_input_scale_alone(monkeypatch):
    """A rule change that leaves every setting alone but rescales the logistic model's inputs (here
    the covariates' share, which does not enter the lr) must not reuse the old runs either."""
    from genofed.server.start_model import start_model

    panel = VariantPanel([f"1:{100 + i}:A:G" for i in range(50)], np.full(50, 0.3))
    settings = RunSettings(model="logistic", epsilon=3.0)
    before, begin = resolved_id(settings, panel), start_model(settings, panel)
    assert resolved_id(settings, panel) == before  # deterministic
    monkeypatch.setattr(training_rule, "COVARIATE_EPSILON", 1.0)
    after = start_model(settings, panel)
    assert after.settings == begin.settings  # no setting records the change
    assert not np.array_equal(after.weights["scale"].numpy(), begin.weights["scale"].numpy())
    assert resolved_id(settings, panel) != before
