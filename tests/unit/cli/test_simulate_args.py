"""`genofed simulate` is safe to repeat: every argument is checked before anything is simulated or
written, and a RUN folder that holds a run is refused unless --resume or --force says what to do."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genofed.cli.main import main
from genofed.cli.run_folder import Cohorts, prepare_run_folder
from genofed.common.errors import ConfigError


def _previous_run(run: Path, *, preset: str = "small", seed: int = 42) -> None:
    """A run folder as `genofed simulate` leaves it (contents faked: only the names matter)."""
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "round-0001.pt").write_text("x")
    (run / "privacy-ledgers").mkdir()
    (run / "privacy-ledgers" / "rostov.json").write_text("{}")
    (run / "results.json").write_text("{}")
    (run / "report.md").write_text("# old\n")
    (run / "cohorts").mkdir()
    (run / "cohorts" / "truth.json").write_text(json.dumps({"preset": preset, "seed": seed}))


def test_a_bad_epsilon_fails_fast_and_writes_nothing(tmp_path):
    out = tmp_path / "X"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "genofed.cli.main", "simulate", "--epsilon", "-1", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    assert "--epsilon must be > 0, got -1" in done.stderr and "Traceback" not in done.stderr
    assert elapsed < 5, f"took {elapsed:.1f}s: cohorts were simulated before the check"
    assert not out.exists()


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (["--delta", "2"], "error: --delta must be in (0, 1), got 2"),
        (["--seed", "-3"], "error: --seed must be >= 0"),
        (["--pretrained", "missing.pt"], "error: --pretrained: no such file 'missing.pt'"),
        (["--gene-prior", "genes.bed"], "error: --gene-prior: no such file 'genes.bed'"),
        (["--data", "nowhere"], "error: --data: no such folder 'nowhere'"),
        (["--batch-size", "-3"], "error: --batch-size must be >= 0, got -3"),
        (["--secagg", "--min-nodes", "1"], "error: --secagg needs --min-nodes >= 2"),
    ],
)
def test_every_argument_is_checked_before_anything_is_written(
    tmp_path, monkeypatch, capsys, option, expected
):
    monkeypatch.chdir(tmp_path)
    assert main(["simulate", "--out", "run", *option]) == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_an_existing_run_is_refused_naming_what_is_there_and_the_two_flags(tmp_path, capsys):
    run = tmp_path / "run"
    _previous_run(run)
    data = tmp_path / "fed"
    data.mkdir()
    assert main(["simulate", "--data", str(data), "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and "results.json" in err and "privacy-ledgers" in err
    assert "--resume" in err and "--force" in err and "fresh ledgers" in err
    assert (run / "results.json").exists() and (run / "privacy-ledgers" / "rostov.json").exists()


def test_resume_without_a_run_to_continue_is_refused(tmp_path):
    """A typo in --out would otherwise start a fresh run where the user meant to continue one."""
    with pytest.raises(ConfigError, match="does not exist, so there is no run to continue"):
        prepare_run_folder(tmp_path / "runs" / "eps3", data=tmp_path / "fed", force=False, resume=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"holds no checkpoint .*drop --resume"):
        prepare_run_folder(tmp_path / "empty", data=tmp_path / "fed", force=False, resume=True)


def test_resume_of_a_finished_run_is_refused_and_so_is_the_serverapps_rewrite(tmp_path):
    """A finished run has nothing to continue; its model.pt is the file hospitals received, so even
    a run submitted another way (`flwr run`, a SuperLink's CLI) into its folder is refused before a
    grid is touched or a file written."""
    from flwr.app import Context, RecordDict

    from genofed.common.errors import GenofedError
    from genofed.server.app import run_server

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "round-3.pt").write_bytes(b"")
    (run / "results.json").write_text("{}")
    with pytest.raises(ConfigError, match="holds a finished run .*nothing to continue"):
        prepare_run_folder(run, data=tmp_path / "fed", force=False, resume=True)
    before = sorted(p.name for p in run.rglob("*"))
    context = Context(
        run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config={"out-dir": str(run)}
    )
    for resume in (False, True):
        context.run_config["resume"] = resume
        with pytest.raises(GenofedError, match="holds a finished run"):
            run_server(None, context, {}, None)  # no grid: refused before any message
    assert sorted(p.name for p in run.rglob("*")) == before and (run / "results.json").read_text() == "{}"


def test_min_nodes_above_the_hospitals_in_data_is_refused_before_flower(tmp_path, capsys, simulated_cohorts):
    data = simulated_cohorts(42)
    assert main(["simulate", "--data", str(data), "--out", str(tmp_path / "run"), "--min-nodes", "20"]) == 2
    assert "error: --min-nodes 20, but" in capsys.readouterr().err and not (tmp_path / "run").exists()


@pytest.mark.parametrize("bad", ["truncated prior", "swapped gene region", "gene list of nothing"])
def test_force_keeps_the_previous_run_when_the_start_is_refused(tmp_path, capsys, simulated_cohorts, bad):
    """--force deletes a run's outputs and ledgers: a prior, K or gene list the run would refuse
    is refused first, and the previous run is left as it was."""
    data = simulated_cohorts(42)
    run = tmp_path / "run"
    _previous_run(run)
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    (tmp_path / "cut.pt").write_bytes(b"PK\x03\x04 truncated")
    (tmp_path / "none.bed").write_text("22\t1\t2\tNOWHERE\n")
    (tmp_path / "swapped.bed").write_text("1\t900\t100\tBACKWARDS\n")
    options = {
        "truncated prior": ["--prior", str(tmp_path / "cut.pt")],
        "swapped gene region": ["--gene-prior", str(tmp_path / "swapped.bed")],
        "gene list of nothing": ["--gene-prior", str(tmp_path / "none.bed")],
    }[bad]
    code = main(["simulate", "--data", str(data), "--out", str(run), "--force", *options])
    assert code == 2 and "deleted" not in capsys.readouterr().err
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before


def test_force_and_resume_together_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="contradict"):
        prepare_run_folder(tmp_path, data=tmp_path / "fed", force=True, resume=True)


def test_force_deletes_the_previous_outputs_and_ledgers_but_keeps_the_same_cohorts(tmp_path):
    run = tmp_path / "run"
    _previous_run(run, preset="small", seed=42)
    deleted = prepare_run_folder(
        run, data=run / "cohorts", force=True, resume=False, simulated=Cohorts("small", 42)
    )
    assert sorted(deleted) == ["checkpoints", "privacy-ledgers", "report.md", "results.json"]
    assert sorted(p.name for p in run.iterdir()) == ["cohorts"]


def test_force_regenerates_cohorts_of_another_preset_or_seed(tmp_path):
    run = tmp_path / "run"
    _previous_run(run, preset="small", seed=42)
    prepare_run_folder(run, data=run / "cohorts", force=True, resume=False, simulated=Cohorts("small", 7))
    assert list(run.iterdir()) == []


def test_force_never_deletes_the_data_folder_inside_run(tmp_path):
    run = tmp_path / "run"
    _previous_run(run)
    (run / "mydata" / "rostov").mkdir(parents=True)
    prepare_run_folder(run, data=run / "mydata", force=True, resume=False)
    assert sorted(p.name for p in run.iterdir()) == ["mydata"]
    assert (run / "mydata" / "rostov").is_dir()
    with pytest.raises(ConfigError, match="is the --data folder"):
        prepare_run_folder(run / "mydata", data=run / "mydata", force=True, resume=False)


def test_force_refuses_a_run_folder_that_also_holds_the_users_files_and_deletes_nothing(tmp_path):
    """An audit lost a clinician's notes and a folder of its own to --force in a run folder."""
    run = tmp_path / "run"
    _previous_run(run)
    for name in ("report.html", "calibration.png", "test_predictions.csv", ".report.md.x1.tmp"):
        (run / name).write_text("a run's")
    (run / "clinician_notes.txt").write_text("precious")
    (run / "mydir").mkdir()
    before = sorted(p.name for p in run.iterdir())
    with pytest.raises(ConfigError, match=r"also clinician_notes\.txt, mydir, which no run writes"):
        prepare_run_folder(run, data=tmp_path / "fed", force=True, resume=False)
    assert sorted(p.name for p in run.iterdir()) == before  # nothing deleted
    (run / "clinician_notes.txt").unlink()
    (run / "mydir").rmdir()
    (run / "report.md.earlier").write_text("an older genofed's report, with a note")
    with pytest.raises(ConfigError, match=r"report\.md\.earlier: an older report `genofed report` kept"):
        prepare_run_folder(run, data=tmp_path / "fed", force=True, resume=False)
    (run / "report.md.earlier").unlink()
    prepare_run_folder(run, data=tmp_path / "fed", force=True, resume=False)
    assert list(run.iterdir()) == []  # a run's outputs only: all of them go


def test_force_refuses_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.tex").write_text("precious")
    with pytest.raises(ConfigError, match="not a genofed run"):
        prepare_run_folder(tmp_path / "home", data=tmp_path / "fed", force=True, resume=False)
    assert (tmp_path / "home" / "thesis.tex").exists()
    # without --force it is not called a run, nor told --resume or --force, which both fail there
    with pytest.raises(ConfigError) as refused:
        prepare_run_folder(tmp_path / "home", data=tmp_path / "fed", force=False, resume=False)
    assert str(refused.value) == (
        f"--out {tmp_path / 'home'} holds files that are not a genofed run (thesis.tex): choose another "
        "--out (a new or empty folder)"
    )


def test_resume_and_a_folder_with_only_this_runs_cohorts_go_ahead(tmp_path):
    run = tmp_path / "run"
    _previous_run(run)
    (run / "results.json").unlink()  # an interrupted run: checkpoints, no results
    assert prepare_run_folder(run, data=tmp_path / "fed", force=False, resume=True) == []
    only = tmp_path / "only"
    (only / "cohorts").mkdir(parents=True)
    (only / "cohorts" / "truth.json").write_text(json.dumps({"preset": "small", "seed": 1}))
    assert (
        prepare_run_folder(
            only, data=only / "cohorts", force=False, resume=False, simulated=Cohorts("small", 1)
        )
        == []
    )
    with pytest.raises(ConfigError, match="already holds a run"):
        prepare_run_folder(
            only, data=only / "cohorts", force=False, resume=False, simulated=Cohorts("small", 2)
        )


def test_a_run_that_failed_before_training_does_not_block_a_rerun_or_force(tmp_path, monkeypatch, capsys):
    """The audit's case: no panel.tsv in --data, too few hospitals can take part. The failed run
    used to leave RUN/panel.tsv, and then both a rerun and --force refused RUN."""
    from helpers.mixed_federation import write_mixed_federation

    from genofed.common.errors import GenofedError
    from genofed.simulations.local import simulate as simulate_module

    data = tmp_path / "hospitals"
    write_mixed_federation(data, bcf=False)
    (data / "panel.tsv").unlink()

    def too_few(settings, *_args, **_kwargs):  # Flower's part: round 0 checkpointed, then the refusal
        (Path(settings.out_dir) / "checkpoints").mkdir(parents=True, exist_ok=True)
        (Path(settings.out_dir) / "checkpoints" / "round-0000.pt").write_bytes(b"x")
        raise GenofedError("only 1 hospital(s) can take part, 2 needed")

    monkeypatch.setattr(simulate_module, "_run_flower", too_few)
    run = tmp_path / "run"
    command = ["simulate", "--data", str(data), "--label-column", "disease", "--out", str(run), "--quiet"]
    for extra in ([], [], ["--force"]):
        assert main([*command, "--rounds", "2", "--no-references", *extra]) == 2
        err = capsys.readouterr().err
        assert "only 1 hospital(s) can take part" in err, err
        assert "already holds a run" not in err and "not a genofed run" not in err
        assert not run.exists()


def test_a_lone_panel_left_by_an_older_version_is_explained_never_deleted(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "panel.tsv").write_text("id\tchrom\tpos\tref\talt\talt_freq\n")
    data = tmp_path / "fed"
    data.mkdir()
    for extra in ([], ["--force"]):
        assert main(["simulate", "--data", str(data), "--out", str(run), *extra]) == 2
        err = capsys.readouterr().err
        assert "older versions left it behind" in err and "delete it" in err, err
    assert (run / "panel.tsv").exists()


def test_an_empty_out_is_refused_not_read_as_the_current_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["simulate", "--out", ""]) == 2
    assert "--out is empty" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_run_folder_that_takes_no_file_is_refused_before_the_run(
    tmp_path, monkeypatch, capsys, simulated_cohorts
):
    """A read-only RUN (here: a folder where creating a file fails) is found with the other checks."""
    import tempfile

    data = simulated_cohorts(42)
    run = tmp_path / "run"
    run.mkdir()
    real = tempfile.mkstemp

    def read_only(*args, **kwargs):
        if Path(kwargs.get("dir", "")) == run:
            raise PermissionError(13, "Read-only file system")
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    assert main(["simulate", "--data", str(data), "--out", str(run)]) == 2
    assert "cannot write in" in capsys.readouterr().err and not any(run.iterdir())
