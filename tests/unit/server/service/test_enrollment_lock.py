"""Every change of hospitals.json holds its lock from read to write (`enrollment.locked_registry`).

An operator audit: six `genofed coordinator enroll` run at once all printed "enrolled", but
hospitals.json lacked one: each read the list, added its hospital and wrote the list back, so a
later write dropped an earlier one. `revoke` and `set-size` rewrote the list the same way.

The races run in threads released together by a barrier, with the list's read slowed down
(`slow_reads`) so that, without the lock, every interleaving that loses a change is taken, not
left to chance. Threads test the same lock as processes would: the lock is a `flock` on a file
each change opens anew, and Linux ties a flock to the open file, so two opens in one process
exclude each other as two processes do. (The test forked processes until stop 48: a fork of the
whole suite's process, torch's threads included, can hang.)
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from genofed.common.deployment.keys import public_key_openssh
from genofed.server.service import enrollment
from genofed.server.service.enrollment import EnrollmentError, enroll, revoke, set_size

#: How long each racing change waits between reading the list and writing it.
READ_TO_WRITE = 0.1
RACERS = 6


def _key(folder: Path, stem: str) -> Path:
    path = folder / f"{stem}.pub"
    path.write_text(public_key_openssh(ec.generate_private_key(ec.SECP384R1()).public_key(), "") + "\n")
    return path


@pytest.fixture(autouse=True)
def slow_reads(monkeypatch) -> None:
    """Every change reads the list as usual, then pauses before it writes its change."""
    load = enrollment.load_registry

    def slow(folder):
        registry = load(folder)
        time.sleep(READ_TO_WRITE)
        return registry

    monkeypatch.setattr(enrollment, "load_registry", slow)


def _run_together(changes: list[tuple[str, object, tuple, dict]]) -> dict[str, str]:
    """Run each (label, function, args, kwargs) in its own thread, all released at once; what
    each ended with ("ok" or its error)."""
    barrier, outcome = threading.Barrier(len(changes)), {}

    def race(label: str, change, args: tuple, kwargs: dict) -> None:
        barrier.wait()
        try:
            change(*args, **kwargs)
        except Exception as exc:  # reported to the test, which fails naming it
            outcome[label] = f"{type(exc).__name__}: {exc}"
        else:
            outcome[label] = "ok"

    threads = [threading.Thread(target=race, args=change, daemon=True) for change in changes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a change still waits after 60 s"
    return outcome


def _registry(fed: Path) -> dict:
    return json.loads((fed / "hospitals.json").read_text())


def _enrolments(fed: Path, tmp_path: Path) -> list[tuple[str, object, tuple, dict]]:
    return [
        (f"h{n}", enroll, (fed, f"h{n}", _key(tmp_path, f"h{n}")), {"declared_size": 100})
        for n in range(RACERS)
    ]


def test_concurrent_enrolments_all_land(fed: Path, tmp_path: Path) -> None:
    outcome = _run_together(_enrolments(fed, tmp_path))
    assert outcome == {f"h{n}": "ok" for n in range(RACERS)}
    enrolled = [entry["name"] for entry in _registry(fed)["hospitals"]]
    assert sorted(enrolled) == sorted(["rostov", *outcome])  # none lost, none twice


def test_a_revocation_and_a_size_change_racing_enrolments_keep_every_change(
    fed: Path, tmp_path: Path
) -> None:
    enroll(fed, "kazan", _key(tmp_path, "kazan"), declared_size=90)
    changes = [
        *_enrolments(fed, tmp_path),
        ("revoke rostov", revoke, (fed, "rostov"), {}),
        ("set-size kazan", set_size, (fed, "kazan", 150), {}),
    ]
    outcome = _run_together(changes)
    assert set(outcome.values()) == {"ok"}, outcome
    registry = _registry(fed)
    enrolled = {entry["name"]: entry for entry in registry["hospitals"]}
    assert sorted(enrolled) == sorted([f"h{n}" for n in range(RACERS)] + ["kazan"])
    assert [entry["name"] for entry in registry["revoked"]] == ["rostov"]
    assert enrolled["kazan"]["declared_size"] == 150
    assert [earlier["declared_size"] for earlier in enrolled["kazan"]["size_history"]] == [90]


def test_a_folder_with_no_list_is_refused_before_any_lock_file_is_made(tmp_path: Path) -> None:
    missing = tmp_path / "typo"
    with pytest.raises(EnrollmentError, match="not a federation folder"):
        enroll(missing, "rostov", _key(tmp_path, "rostov"), declared_size=100)
    assert not missing.exists()  # no folder (nor lock file) made for a mistyped path
