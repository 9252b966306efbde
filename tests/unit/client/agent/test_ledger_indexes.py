"""Every ledger index a user binds a ledger in is read with the others (`ledger_indexes`).

Why: an outside audit checked a site with `GENOFED_HOME=~/gh` and spent privacy, then checked the
same files in a new site folder from a shell without it, and got a fresh ledger with a fresh
budget. These tests change GENOFED_HOME as that user did; the registry is the test's own
(`tests/conftest.py`), as a user's is theirs whatever GENOFED_HOME says.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from genofed.cli.main import main
from genofed.client.agent import ledger_binding, ledger_indexes
from genofed.client.agent.check import check_site
from genofed.client.agent.keys import init_site
from genofed.client.agent.launch import AgentOptions, prepare_start
from genofed.client.agent.ledger_binding import BINDING_FILE, DataHashes, LedgerRefused, bind_ledger
from genofed.client.agent.ledger_indexes import (
    INDEX_ENV,
    INDEX_FILE,
    REGISTRY_ENV,
    REGISTRY_FILE,
    forget_index,
)
from genofed.client.local_ledger import bound_state_dir
from genofed.common.data.layout import hospital_folders
from genofed.common.privacy.ledger import LEDGER_FILE, Charge, PrivacyLedger
from genofed.server.service.pki import write_pki
from genofed.simulations.local.loopback import GENOFED, free_port


def _site(tmp_path: Path, name: str) -> Path:
    init_site(tmp_path / f"site-{name}", name)
    return tmp_path / f"site-{name}"


def _check(site: Path, cohorts: Path, **overrides: str) -> dict:
    """`hospital check` with the index GENOFED_HOME names, as a user runs it."""
    data = hospital_folders(cohorts)[0]
    return check_site(site, data.genotypes, data.phenotypes, cohorts / "panel.tsv", **overrides)


def _home(monkeypatch: pytest.MonkeyPatch, folder: Path) -> Path:
    """A shell with GENOFED_HOME=`folder`; returns its index."""
    monkeypatch.setenv(INDEX_ENV, str(folder))
    return folder / INDEX_FILE


def _start(site: Path, ca: Path) -> None:
    prepare_start(site, AgentOptions(coordinator="localhost:9", ca=ca, local_port=free_port()))


@pytest.fixture
def ca(tmp_path: Path) -> Path:
    write_pki(tmp_path / "pki", ["localhost"])
    return tmp_path / "pki" / "ca.pem"


def test_the_same_files_under_another_genofed_home_are_refused(
    tmp_path: Path, cohorts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_index = _home(monkeypatch, tmp_path / "gh")
    first = _site(tmp_path, "rostov")
    _check(first, cohorts)
    PrivacyLedger(first / "state" / LEDGER_FILE).charge(Charge("plan", 1, 1.1, 0.2, 10, 0.5))
    _home(monkeypatch, tmp_path / "another-shell")
    second = _site(tmp_path, "rostov-again")
    refused = f"a privacy ledger in {first.resolve()}/state .*recorded in the ledger index {first_index}"
    with pytest.raises(LedgerRefused, match=refused):
        _check(second, cohorts)
    assert not (second / "state" / BINDING_FILE).exists()
    assert not (tmp_path / "another-shell" / INDEX_FILE).exists()  # nothing recorded


def test_the_default_index_is_read_though_no_registry_lists_it(
    tmp_path: Path, cohorts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index beside the registry (the user's default one) is read without being listed: a site
    checked there before the registry existed is seen from another GENOFED_HOME."""
    registry = Path(os.environ[REGISTRY_ENV])
    monkeypatch.delenv(INDEX_ENV)
    monkeypatch.setattr(ledger_indexes, "default_folder", lambda: registry.parent)
    first = _site(tmp_path, "rostov")
    _check(first, cohorts)
    assert (registry.parent / INDEX_FILE).exists() and not registry.exists()  # nothing to list
    _home(monkeypatch, tmp_path / "gh")
    with pytest.raises(LedgerRefused, match=f"already has a privacy ledger in {first.resolve()}/state"):
        _check(_site(tmp_path, "copy"), cohorts)


def test_a_new_ledger_under_another_home_is_the_one_every_index_then_sees(
    tmp_path: Path, cohorts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_index = _home(monkeypatch, tmp_path / "gh")
    first = _site(tmp_path, "rostov")
    _check(first, cohorts)
    written = first_index.read_bytes()
    second_index = _home(monkeypatch, tmp_path / "gh2")
    second = _site(tmp_path, "rostov-again")
    assert _check(second, cohorts, new_ledger="server moved")["ledger"] == "new-ledger"
    assert first_index.read_bytes() == written  # another index is read, never written
    moved = json.loads(second_index.read_text())["files"]
    assert all(e["replaced"][0]["index"] == str(first_index) for e in moved.values())
    _home(monkeypatch, tmp_path / "gh")  # back in the first shell: the first folder is superseded
    with pytest.raises(LedgerRefused, match=f"already has a privacy ledger in {second.resolve()}/state"):
        _check(first, cohorts)


def test_a_ledger_below_the_mark_another_index_recorded_is_refused(
    tmp_path: Path, cohorts: Path, monkeypatch: pytest.MonkeyPatch, ca: Path
) -> None:
    """An older copy of the whole state folder (its binding too) put back, then started with
    another GENOFED_HOME: the first index's mark still tells."""
    _home(monkeypatch, tmp_path / "gh")
    site = _site(tmp_path, "rostov")
    _check(site, cohorts)
    ledger = PrivacyLedger(site / "state" / LEDGER_FILE)
    ledger.charge(Charge("plan", 1, 1.1, 0.2, 10, 0.5))
    _start(site, ca)
    shutil.copytree(site / "state", tmp_path / "backup")
    ledger.charge(Charge("plan", 2, 1.1, 0.2, 10, 0.0))
    _start(site, ca)  # records the mark: 2 charges
    shutil.rmtree(site / "state")
    shutil.copytree(tmp_path / "backup", site / "state")
    _home(monkeypatch, tmp_path / "gh2")
    older = r"had spent epsilon [\d.]+ in 2 charges .* now holds [\d.]+ in 1 charge"
    with pytest.raises(LedgerRefused, match=older):
        _start(site, ca)


def test_a_local_release_finds_the_ledger_another_index_binds(
    tmp_path: Path, cohorts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _home(monkeypatch, tmp_path / "gh")
    site = _site(tmp_path, "rostov")
    _check(site, cohorts)
    _home(monkeypatch, tmp_path / "gh2")
    assert bound_state_dir(hospital_folders(cohorts)[0].genotypes) == (site / "state").resolve()


def test_an_index_that_is_gone_is_refused_until_put_back_or_forgotten_with_a_reason(
    tmp_path: Path, cohorts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A red-team audit renamed a GENOFED_HOME folder (`mv /opt /srv`) and the same patients got a
    fresh ledger, as if the index had never been."""
    registry = Path(os.environ[REGISTRY_ENV])
    first_index = _home(monkeypatch, tmp_path / "opt" / "gh")
    site = _site(tmp_path, "rostov")
    _check(site, cohorts)
    _check(site, cohorts)
    assert json.loads(registry.read_text())["indexes"] == [str(first_index)]  # listed once
    (tmp_path / "opt").rename(tmp_path / "srv")
    _home(monkeypatch, tmp_path / "gh2")
    copy = _site(tmp_path, "copy")
    with pytest.raises(LedgerRefused, match=f"{first_index}: a ledger index on this user's list .* is gone"):
        _check(copy, cohorts)
    assert not (copy / "state" / BINDING_FILE).exists()
    assert main(["hospital", "indexes"]) == 0
    with pytest.raises(LedgerRefused, match="--reason needs a text"):
        forget_index(first_index, " ")
    assert main(["hospital", "indexes", "--forget", str(first_index), "--reason", "a try-out, deleted"]) == 0
    forgotten = json.loads(registry.read_text())["forgotten"]
    assert [(f["index"], f["reason"]) for f in forgotten] == [(str(first_index), "a try-out, deleted")]
    assert _check(copy, cohorts)["ledger"] == "bind"  # forgotten on purpose


def test_two_bindings_under_two_homes_take_turns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A red-team audit started two bindings of the same data at the same instant under two
    GENOFED_HOMEs: both bound, two ledgers for good. The registry's lock makes them take turns."""
    import threading

    registry = Path(os.environ[REGISTRY_ENV])
    inside = threading.Event()
    real = ledger_indexes.with_other_indexes

    def slow_view(*args, **kwargs):
        inside.set()
        time.sleep(0.5)  # the first binding reads every index; the second must wait for its record
        return real(*args, **kwargs)

    monkeypatch.setattr(ledger_binding, "with_other_indexes", slow_view)
    data = DataHashes("g" * 64, phenotypes="p" * 64)
    outcome = {}

    def bind(name: str) -> None:
        try:
            outcome[name] = bind_ledger(
                tmp_path / name / "state",
                data,
                site=name,
                command="check",
                index_file=tmp_path / f"home-{name}" / INDEX_FILE,
                registry_file=registry,
            ).action
        except LedgerRefused as exc:
            outcome[name] = str(exc)

    first = threading.Thread(target=bind, args=("a",))
    first.start()
    inside.wait(5)
    bind("b")
    first.join()
    assert outcome["a"] == "bind" and "already has a privacy ledger" in outcome["b"]


def test_an_unreadable_registry_is_refused_in_one_line(
    tmp_path: Path, cohorts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = Path(os.environ[REGISTRY_ENV])
    registry.write_text("{not json")
    site = _site(tmp_path, "rostov")
    with pytest.raises(LedgerRefused, match="list of ledger indexes is unreadable .*restore it"):
        _check(site, cohorts)
    assert not (site / "state" / BINDING_FILE).exists()


def test_a_registry_that_cannot_be_written_refuses_before_anything_is_bound(
    tmp_path: Path, cohorts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests run as root, whom no file mode stops: the write fails by monkeypatch."""
    _home(monkeypatch, tmp_path / "gh")

    def full(path: Path, *args, **kwargs) -> None:
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(ledger_indexes, "write_text_atomic", full)
    site = _site(tmp_path, "rostov")
    with pytest.raises(LedgerRefused, match=f"set {REGISTRY_ENV} to a file .*Nothing was bound"):
        _check(site, cohorts)
    assert not (site / "state" / BINDING_FILE).exists() and not (tmp_path / "gh" / INDEX_FILE).exists()


def test_the_cli_refuses_the_same_files_under_another_home_in_one_line(tmp_path: Path, cohorts: Path) -> None:
    data = hospital_folders(cohorts)[0]
    files = ["--genotypes", str(data.genotypes), "--phenotypes", str(data.phenotypes)]
    args = [*files, "--panel", str(cohorts / "panel.tsv"), "--epsilon-budget", "8"]
    registry = {REGISTRY_ENV: str(tmp_path / "registry" / REGISTRY_FILE)}
    for name, home in (("rostov", "gh"), ("copy", "gh2")):
        _site(tmp_path, name)
        checked = subprocess.run(
            [GENOFED, "hospital", "check", str(tmp_path / f"site-{name}"), *args],
            capture_output=True,
            text=True,
            env=dict(os.environ, **registry, **{INDEX_ENV: str(tmp_path / home)}),
        )
    assert checked.returncode == 2 and "Traceback" not in checked.stderr
    assert "already has a privacy ledger" in checked.stderr and str(tmp_path / "gh") in checked.stderr


def test_an_unreadable_index_of_the_list_is_refused_with_where_it_is_listed(
    tmp_path: Path, cohorts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_index = _home(monkeypatch, tmp_path / "gh")
    _check(_site(tmp_path, "rostov"), cohorts)
    first_index.write_text("{damaged")
    _home(monkeypatch, tmp_path / "gh2")
    listed = f"{first_index}: the ledger index is unreadable .*an index listed in {os.environ[REGISTRY_ENV]}"
    with pytest.raises(LedgerRefused, match=listed):
        _check(_site(tmp_path, "krasnodar"), cohorts)


def test_a_user_the_password_database_does_not_know_has_homes_registry_or_is_told_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container's `--user 4242`: pwd.getpwuid raised KeyError, a traceback."""

    def unknown(uid: int) -> None:
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.setattr(ledger_indexes.pwd, "getpwuid", unknown)
    monkeypatch.delenv(REGISTRY_ENV)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert ledger_indexes.registry_path() == tmp_path / ".local" / "state" / "genofed" / REGISTRY_FILE
    assert f"user id {os.geteuid()} may not read it" in ledger_indexes.not_this_users(tmp_path)
    monkeypatch.delenv("HOME")
    with pytest.raises(LedgerRefused, match=f"has no entry in the password database .*and {REGISTRY_ENV} to"):
        ledger_indexes.registry_path()
