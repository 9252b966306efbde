"""`genofed synth` makes its `--out` folder, and a ledger folder it creates, readable by its owner only
(0700; the files in `--out` 0600) and says so, as `genofed simulate` does of its runs: they hold exact
counts and check values computed on the patients (and, for a passing batch without DP, records that
carry them with no bound). A walkthrough found both at the umask's 0755 / 0644."""

from __future__ import annotations

import functools
import stat
from pathlib import Path

from helpers.site_files import synth_args, write_small_site
from helpers.synthetic import PERMISSIVE

import genofed.client.synth as synth_module
from genofed.cli.main import main


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_out_and_a_ledger_folder_it_makes_are_private_and_said_so(tmp_path, capsys):
    files = write_small_site(tmp_path / "krasnodar")
    out, state = tmp_path / "syn", tmp_path / "kstate"
    main(synth_args(files, out, "--epsilon", "2", "--state-dir", str(state), "--budget", "3"))
    said = capsys.readouterr().out
    assert _mode(out) == 0o700 and _mode(state) == 0o700
    assert {_mode(f) for f in out.iterdir()} == {0o600}
    assert f"{out}: readable by you only (mode 0700): it holds figures computed on the patients" in said
    assert f"{state}: readable by you only (mode 0700): it holds the privacy ledger" in said
    # a ledger folder that was there already is the site's own business: not said again
    main(synth_args(files, tmp_path / "syn2", "--epsilon", "0.5", "--state-dir", str(state), "--budget", "3"))
    assert f"{state}: readable" not in capsys.readouterr().out


def test_a_passing_batch_without_dp_is_written_private(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        synth_module, "SynthOptions", functools.partial(synth_module.SynthOptions, thresholds=PERMISSIVE)
    )
    files = write_small_site(tmp_path / "krasnodar")
    out = tmp_path / "syn"
    assert main(synth_args(files, out)) == 0
    assert (out / "genotypes.vcf.gz").is_file() and _mode(out) == 0o700
    assert {_mode(f) for f in out.iterdir()} == {0o600}
    assert "readable by you only (mode 0700)" in capsys.readouterr().out
