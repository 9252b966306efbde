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
