"""A resumed run refuses input files replaced at the same path (`--prior`, `--pretrained`,
`--gene-prior`): the setting (a path) is unchanged, but the rounds already trained came from the
old file, and results.json would record the new one's hash."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.model_files import write_model_file

from genofed.common.errors import GenofedError
from genofed.common.model.network import ModelConfig
from genofed.server.checkpoint import Checkpoint, save_checkpoint
from genofed.server.resume import INPUTS, checkpoint_folder, run_start
from genofed.server.settings import RunSettings

CONFIG = ModelConfig(n_variants=10)
WEIGHTS = {"w": torch.ones(2)}


def _interrupted(settings: RunSettings) -> list[str]:
    """Start `settings` as a new run (recording its inputs), then checkpoint round 2 of it; the lines
    said are returned."""
    said: list[str] = []
    start = run_start(settings, CONFIG, WEIGHTS, said.append)
    assert start.round == 0
    save_checkpoint(
        checkpoint_folder(settings),
        Checkpoint(2, WEIGHTS, CONFIG.to_dict(), start.plan_id, settings=settings.to_config()),
    )
    return said


def _resume(settings: RunSettings, said: list[str] | None = None):
    resumed = RunSettings(**{**settings.__dict__, "resume": True})
    return run_start(resumed, CONFIG, WEIGHTS, (said if said is not None else []).append)


def _gene_list(path: Path, end: int = 2_000) -> Path:
    path.write_text(f"1\t900\t{end}\tGENE1\n")
    return path


@pytest.mark.parametrize("option", ["--prior", "--pretrained"])
def test_a_model_file_replaced_at_the_same_path_is_refused_naming_the_flag(tmp_path, option):
    model = write_model_file(tmp_path / "P.pt", seed=0)
    attribute = option.removeprefix("--")
    extra = {"prior_variants": 5} if attribute == "prior" else {}
    settings = RunSettings(out_dir=str(tmp_path / "run"), rounds=4, **{attribute: str(model)}, **extra)
    _interrupted(settings)
    assert (checkpoint_folder(settings) / INPUTS).is_file()
    assert _resume(settings).round == 2  # the same file: resumed
    write_model_file(model, seed=1)  # another model, same path
    with pytest.raises(GenofedError) as refused:
        _resume(settings)
    message = str(refused.value)
    assert message.startswith(f"{option} {model}: the file changed since the interrupted run")
    assert "restore the file, or start a new run" in message


def test_a_model_file_saved_again_with_the_same_content_still_resumes(tmp_path):
    model = write_model_file(tmp_path / "P.pt", seed=0)
    settings = RunSettings(out_dir=str(tmp_path / "run"), rounds=4, prior=str(model), prior_variants=5)
    _interrupted(settings)
    write_model_file(model, seed=0)  # rewritten, same content hash
    assert _resume(settings).round == 2


def test_a_gene_list_changed_at_the_same_path_is_refused_naming_the_flag(tmp_path):
    genes = _gene_list(tmp_path / "genes.bed")
    settings = RunSettings(out_dir=str(tmp_path / "run"), rounds=4, gene_prior=str(genes))
    _interrupted(settings)
    assert _resume(settings).round == 2
    _gene_list(genes, end=3_000)
    with pytest.raises(
        GenofedError, match=r"^--gene-prior .*genes\.bed: the file changed since the interrupted"
    ):
        _resume(settings)


def test_a_run_without_input_files_records_nothing_and_an_older_checkpoint_resumes_with_a_note(tmp_path):
    plain = RunSettings(out_dir=str(tmp_path / "plain"), rounds=4)
    _interrupted(plain)
    said: list[str] = []
    assert (
        _resume(plain, said).round == 2 and [line for line in said if not line.startswith("resuming")] == []
    )
    assert not (checkpoint_folder(plain) / INPUTS).exists()
    # a checkpoint written before the record existed: resumed, saying the inputs are not checked
    model = write_model_file(tmp_path / "P.pt")
    older = RunSettings(out_dir=str(tmp_path / "older"), rounds=4, prior=str(model), prior_variants=5)
    _interrupted(older)
    (checkpoint_folder(older) / INPUTS).unlink()
    assert _resume(older, said).round == 2
    assert any("not checked that they are unchanged" in line for line in said)
