"""A simulation that fails before its first round leaves RUN as it found it: no panel.tsv, round-0
checkpoint or empty folder that would make the next `genofed simulate` (or `--force`) refuse RUN.

Flower itself is replaced by a stand-in that writes what the real ServerApp writes before round 1
and then fails as the real one does when too few hospitals can take part; everything before it
(the checks, the panel built from the hospitals' variant summaries) is the real simulation.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.mixed_federation import write_mixed_federation

from genofed.common.errors import GenofedError
from genofed.server.settings import RunSettings
from genofed.simulations.local import simulate as simulate_module
from genofed.simulations.local.failed_start import discarded_unless_trained, trained_rounds
from genofed.simulations.local.simulate import simulate

TOO_FEW = "only 1 hospital(s) can take part, 2 needed"


@pytest.fixture(scope="module")
def federation(tmp_path_factory) -> Path:
    """Hospitals without a panel.tsv: the simulation builds one into RUN (label column `disease`)."""
    root = tmp_path_factory.mktemp("failed-start") / "hospitals"
    write_mixed_federation(root, bcf=False)
    (root / "panel.tsv").unlink()
    return root


def _flower_failing(after_round: int = 0, error: BaseException | None = None):
    """A stand-in for `_run_flower`: checkpoints rounds 0..after_round and the ledgers' folder as
    the ServerApp and ClientApps do, then fails."""

    def run(settings: RunSettings, *_args, **_kwargs) -> None:
        checkpoints = Path(settings.out_dir) / "checkpoints"
        checkpoints.mkdir(parents=True, exist_ok=True)
        for round_ in range(after_round + 1):
            (checkpoints / f"round-{round_:04d}.pt").write_bytes(b"checkpoint")
        Path(settings.ledger_dir, "kazan").mkdir(parents=True, exist_ok=True)
        raise error or GenofedError(TOO_FEW)

    return run


def _settings(federation: Path, out: Path) -> RunSettings:
    return RunSettings(data_dir=str(federation), out_dir=str(out), label_column="disease", rounds=2)


def test_a_run_failing_before_its_first_round_leaves_no_run_folder(federation, tmp_path, monkeypatch):
    monkeypatch.setattr(simulate_module, "_run_flower", _flower_failing())
    out = tmp_path / "new" / "run"
    for _attempt in range(2):  # the rerun fails the same way, not with "already holds a run"
        with pytest.raises(GenofedError, match="only 1 hospital"):
            simulate(_settings(federation, out))
        assert not (tmp_path / "new").exists(), "the failed run left its folder (and panel.tsv) behind"


def test_what_the_run_folder_held_before_is_kept(federation, tmp_path, monkeypatch):
    monkeypatch.setattr(simulate_module, "_run_flower", _flower_failing(error=KeyboardInterrupt()))
    out = tmp_path / "run"
    (out / "cohorts").mkdir(parents=True)
    (out / "cohorts" / "truth.json").write_text("{}")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(KeyboardInterrupt):
        simulate(_settings(federation, out))
    assert sorted(p.name for p in out.iterdir()) == ["cohorts", "notes.txt"]
    assert (out / "notes.txt").read_text() == "mine" and (out / "cohorts" / "truth.json").exists()


def test_a_run_that_trained_a_round_is_kept_for_resume_or_force(federation, tmp_path, monkeypatch):
    monkeypatch.setattr(simulate_module, "_run_flower", _flower_failing(after_round=1))
    out = tmp_path / "run"
    with pytest.raises(GenofedError):
        simulate(_settings(federation, out))
    assert {"panel.tsv", "checkpoints", "privacy-ledgers"} <= {p.name for p in out.iterdir()}
    assert trained_rounds(out) == 1


def test_a_resumed_run_keeps_its_files_when_it_fails_again_before_a_new_round(tmp_path):
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "round-0002.pt").write_bytes(b"old")
    (out / "panel.tsv").write_text("id\n")
    with pytest.raises(GenofedError), discarded_unless_trained(out):
        (out / "stray.tmp").write_text("new")
        raise GenofedError(TOO_FEW)
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "panel.tsv"]
    assert (out / "checkpoints" / "round-0002.pt").read_bytes() == b"old"


def test_a_run_that_succeeds_is_untouched(tmp_path):
    out = tmp_path / "run"
    with discarded_unless_trained(out):
        out.mkdir()
        (out / "panel.tsv").write_text("id\n")
    assert (out / "panel.tsv").exists()
