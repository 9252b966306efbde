"""`genofed pretrain` refuses an option of the other model: a logistic fit ignored --epochs and
--lr, yet the model file recorded them as its settings (an outside audit read them there)."""

from __future__ import annotations

import pytest

from genofed.cli.main import main


@pytest.mark.parametrize(
    ("model", "options", "named"),
    [
        ("logistic", ["--epochs", "50", "--lr", "0.5"], "--epochs, --lr apply to --model network only"),
        ("logistic", ["--hidden", "8"], "--hidden applies to --model network only"),
        ("network", ["--l2", "0.1"], "--l2 applies to --model logistic only"),
    ],
)
def test_an_option_of_the_other_model_is_refused_before_anything_is_read(
    tmp_path, capsys, model, options, named
):
    out = tmp_path / "source.pt"
    argv = ["pretrain", "--source", str(tmp_path / "absent"), "--panel", str(tmp_path / "absent.tsv")]
    assert main([*argv, "--out", str(out), "--model", model, *options]) == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err and not out.exists()


def test_force_replaces_an_earlier_pretrained_model_only_never_an_input(tmp_path, capsys):
    """A fuzzing review's `pretrain --force --out` at the source's genotype file, or at the panel,
    wrote the model over it (exit 0); an unwritable --out was found only after the training."""
    from dataclasses import replace

    from helpers.model_files import model_file

    from genofed.common.scoring.model_file import save_model_file

    source = tmp_path / "source"
    source.mkdir()
    genotypes = source / "genotypes.vcf.gz"
    genotypes.write_bytes(b"the hospital's genotypes")
    panel = tmp_path / "panel.tsv"
    panel.write_text("id\tchrom\tpos\tref\talt\talt_freq\n")
    argv = ["pretrain", "--source", str(source), "--panel", str(panel), "--model", "logistic", "--force"]
    for target, said in ((genotypes, "is not"), (panel, "is the file given as --panel")):
        assert main([*argv, "--out", str(target)]) == 2
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err
    assert genotypes.read_bytes() == b"the hospital's genotypes" and panel.read_text().startswith("id\t")
    earlier = tmp_path / "earlier.pt"  # a federated run's model is no pretrain output
    save_model_file(earlier, replace(model_file(), provenance={"kind": "federated", "source": "run"}))
    assert main([*argv, "--out", str(earlier)]) == 2
    assert "a pretrained model file of `genofed pretrain`" in capsys.readouterr().err


def test_an_out_that_cannot_be_written_is_refused_before_the_training(tmp_path, capsys, monkeypatch):
    """The fuzzing review's immutable folder: `pretrain` trained for minutes, then failed naming a
    hidden temporary file. The probe (a file made and removed where --out goes) now runs first; here
    it is refused as a read-only file system refuses it (root passes permission bits)."""
    import errno

    from genofed.common.util import atomic

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    argv = ["pretrain", "--source", str(tmp_path / "absent"), "--panel", str(tmp_path / "absent.tsv")]
    assert main([*argv, "--out", str(tmp_path / "m.pt"), "--model", "logistic"]) == 2
    err = capsys.readouterr().err
    assert f"--out {tmp_path / 'm.pt'}: cannot write in {tmp_path} (Read-only file system)" in err
