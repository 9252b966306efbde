"""The federation's CA, TLS server certificate, hospital keys and enrolment (the
groundwork of the deployed services)."""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import json
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from genofed.cli.main import main
from genofed.client.agent.keys import init_site
from genofed.common.deployment.keys import (
    KeyFileError,
    fingerprint,
    load_public_key,
    load_supernode_private_key,
)
from genofed.common.errors import GenofedError
from genofed.server.service.enrollment import EnrollmentError, enroll, hospitals, load_registry, revoke
from genofed.server.service.federation_folder import init_federation, read_federation_file
from genofed.server.service.pki import PkiError, check_server_cert, load_cert

HOSTS = ["localhost", "127.0.0.1", "coordinator.example.org", "::1"]
PANEL_TEXT = (
    "id\tchrom\tpos\tref\talt\talt_freq\n1:100:A:G\t1\t100\tA\tG\t0.1\n1:200:C:T\t1\t200\tC\tT\t0.3\n"
)


def _panel(folder: Path) -> Path:
    path = folder / "panel.tsv"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(PANEL_TEXT)
    return path


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("feds")
    folder = root / "fed"
    init_federation(folder, HOSTS, panel=_panel(root), settings={"rounds": 3, "epsilon": 4.0, "min_nodes": 3})
    return folder


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ca_and_server_certificate_verify(fed: Path) -> None:
    ca, server = load_cert(fed / "ca.pem"), load_cert(fed / "server.pem")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    ca.verify_directly_issued_by(ca)  # self-signed
    assert server.issuer == ca.subject
    check_server_cert(server, ca)
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "coordinator.example.org"}
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    now = dt.datetime.now(dt.timezone.utc)
    assert server.not_valid_before_utc <= now <= server.not_valid_after_utc <= ca.not_valid_after_utc
    assert server.not_valid_after_utc - now > dt.timedelta(days=300)
    with pytest.raises(PkiError, match="expired on"):
        check_server_cert(server, ca, at=now + dt.timedelta(days=400))


def test_key_files_are_owner_only_and_config_recorded(fed: Path) -> None:
    assert _mode(fed / "ca.key") == 0o600 and _mode(fed / "server.key") == 0o600
    assert _mode(fed) == 0o700
    assert not [p for p in fed.iterdir() if p.name.startswith(".")]  # no staging debris
    config = read_federation_file(fed)
    assert (
        config["settings"]["rounds"] == 3
        and config["settings"]["epsilon"] == 4.0
        and config["settings"]["min-nodes"] == 3
    )
    assert config["tls"]["hosts"] == HOSTS
    assert load_registry(fed) == {"format": "genofed-hospitals/1", "hospitals": [], "revoked": []}


def _handshake(fed: Path, cafile: Path, server_hostname: str) -> None:
    """One TLS handshake on loopback: the server presents fed's certificate, the client trusts `cafile`."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(fed / "server.pem", fed / "server.key")
    client_ctx = ssl.create_default_context(cafile=str(cafile))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    errors: list[BaseException] = []

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(tls.recv(5))
        except (ssl.SSLError, OSError) as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with client_ctx.wrap_socket(raw, server_hostname=server_hostname) as tls:
                tls.sendall(b"hello")
                assert tls.recv(5) == b"hello"
    finally:
        thread.join(5)
        listener.close()


def test_tls_handshake_trusts_only_the_federation_ca(fed: Path, tmp_path: Path) -> None:
    _handshake(fed, fed / "ca.pem", "localhost")
    _handshake(fed, fed / "ca.pem", "127.0.0.1")
    other = tmp_path / "other"
    init_federation(other, ["localhost"], panel=_panel(tmp_path))
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        _handshake(fed, other / "ca.pem", "localhost")
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch|doesn't match"):
        _handshake(fed, fed / "ca.pem", "impostor.example.org")


def test_grpc_tls_with_the_certificates_as_flower_superlink_loads_them(fed: Path, tmp_path: Path) -> None:
    """flower-superlink reads --ssl-ca-certfile/--ssl-certfile/--ssl-keyfile as bytes into
    grpc.ssl_server_credentials (flwr.supercore.grpc); a flower-supernode with --root-certificates
    ca.pem must then complete the TLS handshake."""
    from concurrent import futures

    import grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    creds = grpc.ssl_server_credentials(
        (((fed / "server.key").read_bytes(), (fed / "server.pem").read_bytes()),),
        root_certificates=(fed / "ca.pem").read_bytes(),
        require_client_auth=False,
    )
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    other = tmp_path / "other"
    init_federation(other, ["localhost"], panel=_panel(tmp_path))
    try:
        for ca, ready in ((fed / "ca.pem", True), (other / "ca.pem", False)):
            channel = grpc.secure_channel(
                f"localhost:{port}", grpc.ssl_channel_credentials((ca).read_bytes())
            )
            try:
                grpc.channel_ready_future(channel).result(timeout=5 if ready else 2)
                connected = True
            except grpc.FutureTimeoutError:
                connected = False
            finally:
                channel.close()
            assert connected is ready, ca
    finally:
        server.stop(0)


def test_init_refuses_existing_folder_and_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    panel = str(_panel(tmp_path / "shared"))
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("x")
    assert main(["coordinator", "init", str(full), "--host", "localhost", "--panel", panel]) == 2
    assert "not empty" in capsys.readouterr().err
    assert sorted(p.name for p in full.iterdir()) == ["keep.txt"]
    for argv, message in (
        (["--host", "bad host", "--panel", panel], "neither an IP address"),
        (["--host", "a", "--rounds", "-1", "--panel", panel], "rounds must be"),
        (["--host", "a", "--panel", str(tmp_path / "none.tsv")], "panel file not found"),
        (["--host", "a", "--panel", panel, "--test-dir", str(tmp_path / "none")], "not a folder"),
    ):
        assert main(["coordinator", "init", str(tmp_path / "new"), *argv]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "new").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (
        main(
            [
                "coordinator",
                "init",
                str(empty),
                "--host",
                "localhost",
                "--strategy",
                "fedprox",
                "--panel",
                panel,
            ]
        )
        == 0
    )
    assert read_federation_file(empty)["settings"]["strategy"] == "fedprox"


def test_init_records_panel_hash(tmp_path: Path) -> None:
    panel = tmp_path / "panel.tsv"
    panel.write_text(
        "id\tchrom\tpos\tref\talt\talt_freq\n1:100:A:G\t1\t100\tA\tG\t0.1\n1:200:C:T\t1\t200\tC\tT\t0.3\n"
    )
    config = init_federation(tmp_path / "fed", ["localhost"], panel=panel)
    assert config["panel"]["variants"] == 2 and len(config["panel"]["sha256"]) == 64
    assert (tmp_path / "fed" / "panel.tsv").read_bytes() == panel.read_bytes()


def test_hospital_key_loads_like_flower_supernode_and_enrolls(
    fed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from flwr.supernode.cli.flower_supernode import _try_setup_client_authentication

    site = tmp_path / "rostov"
    assert main(["hospital", "init", str(site), "--name", "rostov"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == (site / "supernode.pub").read_text().strip() and printed.startswith(
        "ecdsa-sha2-nistp384 "
    )
    assert _mode(site / "supernode.key") == 0o600 and _mode(site) == 0o700
    # exactly flower-supernode's own loader (exits on a key it cannot use)
    loaded = _try_setup_client_authentication(
        argparse.Namespace(
            auth_supernode_private_key=str(site / "supernode.key"), auth_supernode_public_key=None
        )
    )
    assert loaded is not None and isinstance(loaded[0], ec.EllipticCurvePrivateKey)
    assert fingerprint(loaded[1]) == fingerprint(load_public_key(site / "supernode.pub"))
    assert isinstance(load_supernode_private_key(site / "supernode.key"), ec.EllipticCurvePrivateKey)
    assert main(["hospital", "init", str(site), "--name", "rostov"]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    with pytest.raises(GenofedError, match="hospital name"):
        init_site(tmp_path / "other-site", "Rostov Hospital")
    assert not (tmp_path / "other-site").exists()

    folder = tmp_path / "fed"
    init_federation(folder, ["localhost"], panel=_panel(tmp_path))
    entry = enroll(folder, "rostov", site / "supernode.pub", declared_size=100)
    assert entry["fingerprint"] == json.loads((site / "hospital.json").read_text())["fingerprint"]


def _pub(tmp_path: Path, name: str, key) -> Path:  # noqa: ANN001
    path = tmp_path / f"{name}.pub"
    path.write_bytes(key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH))
    return path


def test_enroll_revoke_round_trip_and_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "fed"
    init_federation(folder, ["localhost"], panel=_panel(tmp_path))
    a = _pub(tmp_path, "a", ec.generate_private_key(ec.SECP384R1()))
    b = _pub(tmp_path, "b", ec.generate_private_key(ec.SECP256R1()))
    enrol_a = ["coordinator", "enroll", str(folder), "--name", "rostov", "--public-key", str(a)]
    assert main([*enrol_a, "--declared-size", "100"]) == 0
    enroll(folder, "kazan", b, declared_size=100)
    assert [h["name"] for h in hospitals(folder)] == ["rostov", "kazan"]
    assert all(h["fingerprint"].startswith("SHA256:") and h["enrolled_at"] for h in hospitals(folder))
    capsys.readouterr()
    assert main(["coordinator", "hospitals", str(folder)]) == 0
    assert "rostov" in capsys.readouterr().out

    with pytest.raises(EnrollmentError, match="'rostov' is already enrolled"):
        enroll(
            folder, "rostov", _pub(tmp_path, "c", ec.generate_private_key(ec.SECP384R1())), declared_size=90
        )
    with pytest.raises(EnrollmentError, match="already enrolled as hospital 'rostov'"):
        enroll(folder, "omsk", a, declared_size=100)
    with pytest.raises(EnrollmentError, match="hospital name"):
        enroll(folder, "Bad Name", a, declared_size=100)

    # malformed keys: each names the file and what is wrong
    bad = tmp_path / "bad"
    bad.mkdir()
    cases = {
        "empty.pub": (b"", "empty"),
        "garbage.pub": (b"ecdsa-sha2-nistp384 not-base64!!\n", "not a valid OpenSSH public key"),
        "rsa.pub": (
            _pub(bad, "r", rsa.generate_private_key(public_exponent=65537, key_size=2048)).read_bytes(),
            "needs an EC",
        ),
        "ed.pub": (_pub(bad, "e", ed25519.Ed25519PrivateKey.generate()).read_bytes(), "needs an EC"),
        "private.pub": (
            b"-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n",
            "PRIVATE key",
        ),
    }
    for name, (data, message) in cases.items():
        (bad / name).write_bytes(data)
        with pytest.raises(KeyFileError, match=message) as info:
            enroll(folder, "omsk", bad / name, declared_size=100)
        assert str(bad / name) in str(info.value)
        if name == "private.pub":  # the key has left the hospital: say so, not only "ask for the .pub"
            assert "has left it and should be replaced" in str(info.value)
    with pytest.raises(KeyFileError, match="cannot read"):
        enroll(folder, "omsk", bad / "missing.pub", declared_size=100)
    assert (
        main(
            ["coordinator", "enroll", str(folder), "--name", "omsk", "--public-key", str(bad / "rsa.pub")]
            + ["--declared-size", "100"]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad / 'rsa.pub'}:") and "EC" in err
    assert [h["name"] for h in hospitals(folder)] == ["rostov", "kazan"]

    assert main(["coordinator", "revoke", str(folder), "--name", "rostov"]) == 0
    assert [h["name"] for h in hospitals(folder)] == ["kazan"]
    revoked = load_registry(folder)["revoked"]
    assert [r["name"] for r in revoked] == ["rostov"] and revoked[0]["revoked_at"]
    with pytest.raises(EnrollmentError, match="hospital 'rostov' was revoked on .* and is not enrolled"):
        revoke(folder, "rostov")
    with pytest.raises(EnrollmentError, match="no enrolled hospital named 'elista'"):
        revoke(folder, "elista")
    with pytest.raises(EnrollmentError, match="was revoked"):
        enroll(folder, "rostov", a, declared_size=100)  # a revoked key stays revoked
    enroll(
        folder, "rostov", _pub(tmp_path, "new", ec.generate_private_key(ec.SECP384R1())), declared_size=None
    )  # a new key is fine (and a size is the operator's choice: None, explicitly, enrols without one)
    assert sorted(h["name"] for h in hospitals(folder)) == ["kazan", "rostov"]
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_enroll_in_a_non_federation_folder(tmp_path: Path) -> None:
    with pytest.raises(GenofedError, match="not a federation folder"):
        enroll(tmp_path, "rostov", tmp_path / "x.pub", declared_size=100)
