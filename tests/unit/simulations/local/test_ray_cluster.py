"""`genofed simulate`'s Ray cluster is its user's own (`genofed.simulations.local.ray_cluster`): an
audit as an unprivileged user read another user's patients' sample ids in Ray's world-readable
logs under /tmp/ray, the pickled ClientApp through Ray's unauthenticated GCS port, and met a
traceback where another user had started a cluster with `ray start`."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers.mixed_federation import write_mixed_federation

from genofed.cli.main import main
from genofed.common.errors import GenofedError
from genofed.simulations.local import interrupt, ray_cluster

AUTH_SETTINGS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")


@pytest.fixture
def no_ray_auth():
    """An environment without Ray's authentication settings, restored afterwards: what the code
    sets is no monkeypatch's, and a mode left set would reach every later Ray of the test process."""
    before = {name: os.environ.pop(name, None) for name in AUTH_SETTINGS}
    yield
    for name, value in before.items():
        os.environ.pop(name, None)
        if value is not None:
            os.environ[name] = value


def test_start_ray_starts_a_new_cluster_in_a_private_folder_removed_at_shutdown(monkeypatch, no_ray_auth):
    seen: dict = {}
    up = SimpleNamespace(value=False)

    def init(**kwargs):
        seen.update(kwargs)
        folder = Path(kwargs["_temp_dir"])
        folder.mkdir()
        folder.chmod(0o777)  # what Ray does to its temp folder
        (folder / "worker-1.err").write_text("refusing: line 3: sample AST0001 appears twice\n")
        up.value = True

    def shutdown():
        up.value = False

    fake = SimpleNamespace(is_initialized=lambda: up.value, init=init, shutdown=shutdown)
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.delitem(sys.modules, "ray._raylet", raising=False)  # as if never imported here
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))  # start_ray extends it
    interrupt.start_ray({"num_cpus": 1})
    assert seen["address"] == "local" and seen["num_cpus"] == 1
    private = Path(seen["_temp_dir"]).parent
    assert stat.S_IMODE(private.stat().st_mode) == 0o700  # nobody else reaches the logs inside
    assert os.environ["RAY_AUTH_MODE"] == "token" and len(os.environ["RAY_AUTH_TOKEN"]) == 64
    interrupt.shutdown_ray()
    assert not private.exists()


def test_a_users_own_ray_authentication_is_left_as_it_is(monkeypatch, no_ray_auth):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    ray_cluster.use_token_authentication()
    assert os.environ["RAY_AUTH_MODE"] == "disabled" and "RAY_AUTH_TOKEN" not in os.environ


@pytest.mark.parametrize("ray_imported_before", [False, True])
def test_token_authentication_only_where_ray_can_still_take_it(ray_imported_before):
    """Ray reads its authentication mode once per process, when it is imported: imported before
    without it, turning it on would make the new cluster refuse its own driver, so it stays off."""
    code = textwrap.dedent(
        f"""
        import os
        if {ray_imported_before}:
            import ray
        from genofed.simulations.local.ray_cluster import use_token_authentication
        use_token_authentication()
        print(os.environ.get("RAY_AUTH_MODE"), len(os.environ.get("RAY_AUTH_TOKEN", "")))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == (["None", "0"] if ray_imported_before else ["token", "64"])


def test_a_ray_without_token_authentication_is_warned_of_not_configured(monkeypatch, no_ray_auth, caplog):
    monkeypatch.delitem(sys.modules, "ray._raylet", raising=False)
    monkeypatch.setattr(ray_cluster.metadata, "version", lambda name: "2.51.0")
    ray_cluster.use_token_authentication()
    assert "RAY_AUTH_MODE" not in os.environ and "no token authentication" in caplog.text


def _system_temp_refusing(error: OSError):
    """`tempfile.mkdtemp` that fails as a folder the user cannot write makes it fail, for the system
    temporary folder only (the run's own files use mkdtemp with a `dir`): the tests run as root,
    whose writes a chmod cannot block."""
    real = tempfile.mkdtemp

    def mkdtemp(suffix=None, prefix=None, dir=None):
        if dir is None:
            raise error
        return real(suffix, prefix, dir)

    return mkdtemp


@pytest.mark.parametrize(
    "error",
    [
        PermissionError(13, "Permission denied", "/scratch/job-7/genofed-ray-abc"),
        FileNotFoundError(2, "No usable temporary directory found in ['/scratch/job-7', '/tmp']"),
    ],
)
def test_a_temporary_folder_that_cannot_be_made_names_the_folder_and_tmpdir(monkeypatch, error):
    monkeypatch.setenv("TMPDIR", "/scratch/job-7")
    monkeypatch.setattr(tempfile, "mkdtemp", _system_temp_refusing(error))
    with pytest.raises(GenofedError) as refused:
        ray_cluster.private_cluster_args()
    message = str(refused.value)
    assert error.strerror in message and "TMPDIR is /scratch/job-7" in message, message
    assert "set TMPDIR to a folder you can write" in message and "genofed-ray-abc" not in message
    assert "\n" not in message


def test_a_tmpdir_that_cannot_be_written_is_said_when_another_folder_is_taken(tmp_path, monkeypatch, caplog):
    """`tempfile` passes over a TMPDIR it cannot write (here: one that does not exist) for /tmp."""
    monkeypatch.setenv("TMPDIR", str(tmp_path / "missing"))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    folder = ray_cluster._private_folder()
    try:
        assert folder.parent != tmp_path / "missing"
        assert f"TMPDIR ({tmp_path / 'missing'}) cannot be written" in caplog.text
        assert str(folder.parent) in caplog.text
    finally:
        folder.rmdir()


def test_simulate_says_it_in_one_error_line(tmp_path, monkeypatch, capsys, no_ray_auth):
    data = tmp_path / "hospitals"
    write_mixed_federation(data, bcf=False)
    monkeypatch.setenv("TMPDIR", "/scratch/job-7")
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))  # start_ray extends it
    refused = PermissionError(13, "Permission denied", "/scratch/job-7/genofed-ray-abc")
    monkeypatch.setattr(tempfile, "mkdtemp", _system_temp_refusing(refused))
    command = ["simulate", "--data", str(data), "--label-column", "disease", "--out", str(tmp_path / "run")]
    assert main([*command, "--rounds", "1", "--no-references", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot make the simulation's private Ray folder (/scratch/job-7: "), err
    assert "TMPDIR" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run").exists()  # a failed start takes RUN back
