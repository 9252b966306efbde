"""Outputs are checked before the work and before any privacy is spent: an --out the system will not
take (read-only, no permission) is refused first; an --out that is one of the command's own inputs
is refused even with --force; a file error that no check foresaw ends in one line, not a
traceback. Also the refusals of files a user gives by mistake: UTF-16 text, a folder or a run's
checkpoint as --model."""

from __future__ import annotations

import errno

import numpy as np
import pytest
import torch
from helpers.cli_refusal import refused
from helpers.model_files import write_model_file, write_people
from helpers.read_only import make_read_only

from genofed.cli.main import main
from genofed.common.data.readers._files import check_container
from genofed.common.data.writers import write_vcf
from genofed.common.errors import DataError
from genofed.common.privacy.ledger import LEDGER_FILE

IDS = ["1:100:A:G", "1:200:C:T"]  # the variants of the hospital variants test's file


def _refused(args: list[str], capsys) -> str:
    return refused(args, capsys, max_lines=2)


@pytest.fixture
def scored(tmp_path):
    model = write_model_file(tmp_path / "model.pt")
    genotypes, phenotypes = write_people(tmp_path / "people")
    return tmp_path, model, genotypes, phenotypes


@pytest.fixture
def read_only(monkeypatch):
    """Call it with a folder to make it take no new file (helpers.read_only)."""
    return lambda folder: make_read_only(monkeypatch, folder)


@pytest.mark.parametrize("given", ["--model", "--phenotypes"])
def test_predict_never_writes_over_its_own_input_even_with_force(scored, capsys, given):
    folder, model, genotypes, phenotypes = scored
    target = {"--model": model, "--phenotypes": phenotypes}[given]
    before = target.read_bytes()
    args = ["predict", "--model", str(model), "--genotypes", str(genotypes), "--phenotypes", str(phenotypes)]
    err = _refused([*args, "--out", str(target), "--force"], capsys)
    assert f"is the file given as {given}" in err and "never an input" in err
    assert target.read_bytes() == before


def test_adapt_never_writes_over_the_shared_model(scored, capsys):
    folder, model, genotypes, phenotypes = scored
    before = model.read_bytes()
    args = ["adapt", "--model", str(model), "--genotypes", str(genotypes), "--phenotypes", str(phenotypes)]
    err = _refused([*args, "--out", str(model), "--force"], capsys)
    assert "is the file given as --model" in err
    assert model.read_bytes() == before


def test_an_unwritable_out_is_refused_before_the_model_is_read(scored, capsys, read_only):
    folder, model, genotypes, _ = scored
    args = ["predict", "--model", str(folder / "missing.pt"), "--genotypes", str(genotypes)]
    read_only(folder)
    err = _refused([*args, "--out", str(folder / "risks.csv")], capsys)
    assert "--out" in err and "cannot write in" in err and "Read-only file system" in err


def test_a_dp_variant_release_to_an_unwritable_out_spends_nothing(tmp_path, capsys, read_only):
    """The release used to be charged, then fail at the write with a traceback: budget lost."""
    (tmp_path / "site").mkdir()
    write_vcf(tmp_path / "site" / "g.vcf", np.ones((30, 2), np.int8), [f"s{i}" for i in range(30)], IDS)
    state = tmp_path / "state"
    args = ["hospital", "variants", "--genotypes", str(tmp_path / "site" / "g.vcf"), "--release", "dp"]
    (tmp_path / "mounted").mkdir()
    read_only(tmp_path / "mounted")  # the ledger's folder stays writable
    err = _refused(
        [*args, "--epsilon", "1", "--state-dir", str(state), "--out", str(tmp_path / "mounted" / "v.tsv")],
        capsys,
    )
    assert "cannot write in" in err
    assert not (state / LEDGER_FILE).exists()


def test_a_file_error_nothing_foresaw_is_one_line(scored, capsys, monkeypatch):
    folder, model, genotypes, _ = scored
    from genofed.common.scoring import predict

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(folder / "risks.csv"))

    monkeypatch.setattr(predict, "write_predictions", disk_full)
    args = [
        "predict",
        "--model",
        str(model),
        "--genotypes",
        str(genotypes),
        "--out",
        str(folder / "risks.csv"),
    ]
    err = _refused(args, capsys)
    assert "risks.csv: No space left on device" in err and "free space" in err


def test_a_real_fault_keeps_its_traceback(scored, monkeypatch):
    """An OSError about no path the user gave is a bug or an outage, not a user mistake."""
    folder, model, genotypes, _ = scored
    from genofed.common.scoring import predict

    def fault(*args, **kwargs):
        raise OSError("the device is gone")

    monkeypatch.setattr(predict, "write_predictions", fault)
    with pytest.raises(OSError, match="device is gone"):
        main(
            ["predict", "--model", str(model), "--genotypes", str(genotypes), "--out", str(folder / "r.csv")]
        )


@pytest.mark.parametrize("bom", [True, False])
def test_utf16_text_is_named_with_how_to_convert_it(tmp_path, bom):
    path = tmp_path / "phenotypes.csv"
    text = "sample_id,sex,age,disease\nP1,0,40,1\n"
    path.write_bytes(text.encode("utf-16") if bom else text.encode("utf-16-le"))
    with pytest.raises(DataError, match="UTF-16") as refused:
        check_container(path)
    assert "iconv -f UTF-16 -t UTF-8" in str(refused.value)
    (tmp_path / "plain.csv").write_text(text)
    check_container(tmp_path / "plain.csv")  # UTF-8 passes


def test_a_folder_or_a_checkpoint_as_model_says_what_it_is(scored, capsys):
    folder, _, genotypes, _ = scored
    args = ["predict", "--genotypes", str(genotypes), "--out", str(folder / "r.csv"), "--model"]
    err = _refused([*args, str(folder / "people")], capsys)
    assert "is a folder, not a model file" in err and "RUN/model.pt" in err
    checkpoint = folder / "round-0002.pt"
    torch.save({"round": 2, "state_dict": {}, "plan_id": "p", "model_config": {}}, checkpoint)
    err = _refused([*args, str(checkpoint)], capsys)
    assert "checkpoint" in err and "RUN/model.pt" in err


def test_a_misnamed_covariate_column_is_named_with_the_fix(scored, capsys):
    folder, model, genotypes, phenotypes = scored
    renamed = folder / "renamed.csv"
    renamed.write_text(phenotypes.read_text().replace(",age", ",age_years", 1))
    args = ["predict", "--model", str(model), "--genotypes", str(genotypes), "--phenotypes", str(renamed)]
    assert main([*args, "--out", str(folder / "r.csv")]) == 0
    assert "has age_years: if that is it, rename it to 'age'" in " ".join(capsys.readouterr().err.split())
    gendered = folder / "gendered.csv"
    gendered.write_text(phenotypes.read_text().replace("sex,", "gender,", 1))
    # a column the model does not read is ignored, and named with the rename that would use it
    assert main([*args[:-1], str(gendered), "--out", str(folder / "g.csv")]) == 0
    assert "has gender: if that is it, rename it to 'sex'" in " ".join(capsys.readouterr().err.split())


def test_a_provenance_that_cannot_be_written_leaves_no_risks_csv(scored, capsys, monkeypatch):
    """An audit on a full disk: the provenance failed after risks.csv was written, the CSV stayed
    (patients' risks looking complete, "nothing was written" said), and the rerun refused it as no
    `genofed predict` output."""
    folder, model, genotypes, _ = scored
    from genofed.common.scoring import predict

    real_write = predict.write_text_atomic

    def full_for_the_provenance(path, text, *args, **kwargs):
        if str(path).endswith(".json"):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_write(path, text, *args, **kwargs)

    monkeypatch.setattr(predict, "write_text_atomic", full_for_the_provenance)
    args = ["predict", "--model", str(model), "--genotypes", str(genotypes), "--out", str(folder / "r.csv")]
    err = _refused(args, capsys)
    assert "No space left on device" in err and not (folder / "r.csv").exists()
    monkeypatch.setattr(predict, "write_text_atomic", real_write)
    assert main(args) == 0 and (folder / "r.csv").is_file() and (folder / "r.csv.json").is_file()


def test_a_dangling_link_where_the_provenance_goes_is_refused(scored, capsys):
    folder, model, genotypes, _ = scored
    (folder / "r.csv.json").symlink_to(folder / "elsewhere.json")
    args = ["predict", "--model", str(model), "--genotypes", str(genotypes), "--out", str(folder / "r.csv")]
    err = _refused([*args, "--force"], capsys)
    assert "is not a genofed predictions provenance file" in err
    assert not (folder / "r.csv").exists() and not (folder / "elsewhere.json").exists()
