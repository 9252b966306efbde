"""`genofed coordinator start` checks what would fail later before it starts anything: the TLS
files (an expired or foreign server certificate, a key of another certificate), a run that already
finished (its model.pt already sent to the hospitals), and every address it will listen on. Each
refusal is one line naming the file or option and what to do; nothing is started or written."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from pathlib import Path

import pytest

from genofed.cli.main import main
from genofed.common.errors import GenofedError
from genofed.server.service import launch, pki
from genofed.server.service.federation_folder import init_federation, read_federation_file
from genofed.server.service.launch import ServiceOptions, require_free_addresses, start_coordinator
from genofed.server.service.pki import PkiError, check_folder_pki, create_ca, load_cert
from genofed.server.service.status import STATUS_FILE


def _options(**changes) -> ServiceOptions:
    """Free loopback ports (the kernel's choice) and an nginx that exists, so only the check at hand fails."""
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    base = {
        "address": f"127.0.0.1:{ports[0]}",
        "internal_address": f"127.0.0.1:{ports[1]}",
        "nginx": "/bin/true",
    }
    return ServiceOptions(**(base | changes))


def _nothing_started(fed: Path) -> bool:
    return not (fed / "superlink.log").exists() and not (fed / STATUS_FILE).exists()


def _expire_server_cert(fed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Re-issue server.pem as it was issued 400 days ago: valid for a year, so expired 35 days ago."""
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=400)
    with monkeypatch.context() as clock:
        clock.setattr(pki, "_now", lambda: past)
        pki.renew_server_cert(fed, ["localhost"])


def test_an_expired_server_certificate_is_refused_at_once_with_the_way_to_renew_it(fed, monkeypatch, capsys):
    _expire_server_cert(fed, monkeypatch)
    expired = load_cert(fed / "server.pem").not_valid_after_utc.strftime("%Y-%m-%d")
    with pytest.raises(PkiError, match=rf"server.pem expired on {expired}.*renew-cert"):
        start_coordinator(fed, _options())
    assert _nothing_started(fed)
    assert main(["coordinator", "start", str(fed), "--nginx", "/bin/true"]) != 0
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "expired on" in err and "Traceback" not in err
    assert f"genofed coordinator renew-cert {fed}" in err


def test_renew_cert_issues_a_new_server_certificate_from_the_same_ca(fed, monkeypatch, capsys):
    _expire_server_cert(fed, monkeypatch)
    ca_before = (fed / "ca.pem").read_bytes()
    assert main(["coordinator", "renew-cert", str(fed)]) == 0
    check_folder_pki(fed)  # valid again, signed by the CA hospitals hold, with its own key
    assert (fed / "ca.pem").read_bytes() == ca_before
    server = load_cert(fed / "server.pem")
    assert read_federation_file(fed)["tls"]["server_valid_until"] == server.not_valid_after_utc.isoformat()
    assert "hospitals keep their ca.pem" in capsys.readouterr().out


def test_a_server_certificate_of_another_ca_is_refused(fed):
    other = create_ca("someone else's CA").cert
    (fed / "ca.pem").write_bytes(other.public_bytes(pki.serialization.Encoding.PEM))
    with pytest.raises(PkiError, match="server.pem is not signed by this CA.*renew-cert"):
        start_coordinator(fed, _options())
    assert _nothing_started(fed)


def test_a_server_key_of_another_certificate_is_refused(fed, tmp_path):
    (tmp_path / "other").mkdir()
    init_federation(tmp_path / "other" / "fed", ["localhost"], panel=tmp_path / "panel.tsv")
    (fed / "server.key").write_bytes((tmp_path / "other" / "fed" / "server.key").read_bytes())
    with pytest.raises(PkiError, match="server.key is not the key of .*server.pem"):
        start_coordinator(fed, _options())


def test_a_server_certificate_not_yet_valid_points_at_the_clock(fed, monkeypatch):
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    with monkeypatch.context() as clock:
        clock.setattr(pki, "_now", lambda: future)
        pki.renew_server_cert(fed, ["localhost"])
    with pytest.raises(PkiError, match="server.pem is valid only from .*check this machine's clock"):
        check_folder_pki(fed)


def test_a_finished_run_is_not_started_again(fed, capsys):
    run = fed / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps({"rounds": [{"round": 2}]}))
    (run / "model.pt").write_bytes(b"the model the hospitals received")
    with pytest.raises(GenofedError, match=r"already finished; outputs in .*run.*new federation folder"):
        start_coordinator(fed, _options())
    assert _nothing_started(fed)
    assert (run / "model.pt").read_bytes() == b"the model the hospitals received"
    assert main(["coordinator", "start", str(fed), "--nginx", "/bin/true"]) != 0
    assert "error: the federation's run already finished" in capsys.readouterr().err


def test_a_run_that_did_not_finish_still_resumes(fed, monkeypatch):
    """Checkpoints but no results.json (a crash): past the finished-run check, up to the start."""
    (fed / "run" / "checkpoints").mkdir(parents=True)
    (fed / "run" / "checkpoints" / "round-0001.pt").write_bytes(b"")
    reached = []

    def stop_here(*_args, **_kwargs):
        reached.append(True)
        raise GenofedError("stopped by the test where the SuperLink would start")

    monkeypatch.setattr(launch, "FlowerControl", stop_here)
    with pytest.raises(GenofedError, match="stopped by the test"):
        start_coordinator(fed, _options())
    assert reached


def _checkpoint_after_every_round(fed: Path, trained_in: set[int]) -> None:
    """The run's last checkpoint, after all its planned rounds; hospitals trained in `trained_in`."""
    import torch

    from genofed.server.checkpoint import Checkpoint, save_checkpoint
    from genofed.server.service.status import planned_rounds

    planned = planned_rounds(read_federation_file(fed)["settings"])
    history = [
        {"round": r, "participants": ["rostov"] if r in trained_in else [], "refused": ["rostov"]}
        for r in range(planned + 1)
    ]
    (fed / "run" / "checkpoints").mkdir(parents=True)
    save_checkpoint(fed / "run" / "checkpoints", Checkpoint(planned, {"w": torch.zeros(1)}, {}, "p", history))


def test_a_run_that_ended_with_no_hospital_trained_is_not_started_again(fed, monkeypatch, capsys):
    """Every round done, none trained (the run failed): a start would wait for the hospitals and
    submit the run only for it to fail again with the old refusals (an operator's walkthrough)."""
    _checkpoint_after_every_round(fed, trained_in=set())
    monkeypatch.setattr(launch, "FlowerControl", lambda *a, **k: pytest.fail("nothing may start"))
    with pytest.raises(GenofedError, match=r"ended after all its \d+ rounds with no hospital trained"):
        start_coordinator(fed, _options())
    assert _nothing_started(fed)
    assert main(["coordinator", "start", str(fed), "--nginx", "/bin/true"]) != 0
    err = capsys.readouterr().err
    assert "new federation folder" in err and "Traceback" not in err


def test_a_run_whose_rounds_trained_resumes_to_write_its_outputs(fed, monkeypatch):
    """Every round done and trained, no results.json (a crash at the run's end): it still starts."""
    _checkpoint_after_every_round(fed, trained_in={1})

    def stop_here(*_args, **_kwargs):
        raise GenofedError("stopped by the test where the SuperLink would start")

    monkeypatch.setattr(launch, "FlowerControl", stop_here)
    with pytest.raises(GenofedError, match="stopped by the test"):
        start_coordinator(fed, _options())


@pytest.mark.parametrize("option", ["--fleet-address", "--internal-address"])
def test_an_address_in_use_is_refused_before_anything_starts(fed, option):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        field = "address" if option == "--fleet-address" else "internal_address"
        with pytest.raises(GenofedError, match=rf"^{option} {address}: port \d+ is already in use"):
            start_coordinator(fed, _options(**{field: address}))
    assert _nothing_started(fed)


def test_an_address_not_of_this_machine_is_refused():
    with pytest.raises(GenofedError, match="--fleet-address 192.0.2.1:9092: not an address of this machine"):
        require_free_addresses(_options(address="192.0.2.1:9092"))


def test_a_port_freed_within_the_grace_passes():
    """After stopping an orphaned SuperLink group, its ports may take a moment to close."""
    taken = socket.create_server(("127.0.0.1", 0))
    options = _options(address=f"127.0.0.1:{taken.getsockname()[1]}")
    threading.Timer(0.5, taken.close).start()
    require_free_addresses(options, grace=10.0)
    with pytest.raises(GenofedError, match="already in use"):
        with socket.create_server(("127.0.0.1", 0)) as held:
            require_free_addresses(_options(address=f"127.0.0.1:{held.getsockname()[1]}"), grace=0.0)
