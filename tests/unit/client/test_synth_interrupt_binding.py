"""An interrupted DP `genofed synth` leaves no binding behind: the files are bound to the ledger only
with the generator's charge.

A new user's Ctrl-C during training left `data-binding.json` (and the ledger's lock) in a state
folder with no ledger; the patients' next ledger was then refused as one that "would forget the
privacy already spent", though nothing was charged, and `hospital ledger` could not show the folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.site_files import synth_args, write_small_site

import genofed.client.synth as synth_module
from genofed.cli.main import main
from genofed.client.local_ledger import bound_state_dir
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """40 patients' genotypes and phenotypes."""
    return write_small_site(tmp_path / "astrakhan")


def test_an_interrupt_during_training_leaves_no_binding_and_no_folder(files, tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(synth_module, "generate_validated", interrupted)
    state, out = tmp_path / "ctrlc_state", tmp_path / "syn"
    argv = synth_args(
        files, out, "--epsilon", "2", "--state-dir", str(state), "--budget", "3", "--spend-anyway"
    )
    assert main(argv) == 130
    assert f"nothing was charged to the ledger in {state}" in capsys.readouterr().err
    assert not state.exists()  # no data-binding.json, no lock file
    assert bound_state_dir(files[0]) is None
    # so the patients' next ledger, elsewhere, is not refused as forgetting spent privacy
    monkeypatch.undo()
    other = tmp_path / "other_state"
    argv = synth_args(files, tmp_path / "syn2", "--epsilon", "2", "--state-dir", str(other), "--budget", "3")
    main(argv)
    assert "would forget the privacy already spent" not in capsys.readouterr().err
    assert PrivacyLedger(other / LEDGER_FILE).charges
