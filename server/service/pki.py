"""The federation's certificate authority and the coordinator's TLS server certificate.

Why (what the data-protection officer asks): "is the traffic between our hospital and the
coordinator encrypted, and how do we know we are talking to the real coordinator and not to
someone in the middle?" Every connection to the SuperLink is TLS. The federation runs its own
small CA, created here once, in the coordinator's folder: hospitals receive only the CA
certificate (`ca.pem`, public) and trust no other issuer, so a certificate bought or forged
elsewhere does not work. The server certificate names exactly the host names / IP addresses the
coordinator is reached at (SubjectAlternativeName), so a hospital's TLS check fails for any other
address. Private keys (`ca.key`, `server.key`) are written 0600 and atomically; `ca.key` is needed
only to issue a new server certificate and can be moved offline after `coordinator init`.
Validity is bounded (CA 5 years, server 1 year, by default) so a lost key does not stay usable
forever.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from genofed.common.deployment.keys import write_private_atomic
from genofed.common.errors import GenofedError
from genofed.common.util.atomic import write_text_atomic

CA_DAYS = 5 * 365
SERVER_DAYS = 365
CA_KEY, CA_CERT, SERVER_KEY, SERVER_CERT = "ca.key", "ca.pem", "server.key", "server.pem"


class PkiError(GenofedError):
    """A bad host name or certificate request."""


@dataclass(frozen=True)
class Issued:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def subject_alt_names(hosts: list[str]) -> list[x509.GeneralName]:
    """DNS entries for names, IP entries for addresses (a TLS client checks an IP against IP entries only)."""
    if not hosts:
        raise PkiError("give at least one --host: the name or IP address hospitals connect to")
    names: list[x509.GeneralName] = []
    for host in hosts:
        host = host.strip()
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
            continue
        except ValueError:
            pass
        _check_dns_name(host)
        names.append(x509.DNSName(host.lower()))
    if len(set(names)) != len(names):
        raise PkiError(f"--host lists a name twice: {', '.join(hosts)}")
    return names


def _check_dns_name(host: str) -> None:
    """A host that is no IP address must be a DNS name; what operators type instead (a URL, a
    port, an IPv6 address in brackets, a dotted quad out of range) is told what to give."""
    label_ok = all(
        part and len(part) <= 63 and part.replace("-", "").isalnum() and not part.startswith("-")
        for part in host.removeprefix("*.").split(".")
    )
    if host and len(host) <= 253 and host.isascii() and label_ok and not host.rsplit(".", 1)[-1].isdigit():
        return
    refused = f"--host {host!r} is neither an IP address nor a valid DNS name"
    if "://" in host:
        hint = "give the host name only: drop the scheme (https://)"
    elif host.startswith("[") and host.endswith("]"):
        hint = f"give an IPv6 address without brackets: --host {host[1:-1]}"
    elif re.fullmatch(r"[^:/]+:\d+|\[.*\]:\d+", host):
        hint = (
            "give the host name only: the port goes in `coordinator start --fleet-address` (and in the "
            "hospitals' `hospital start --coordinator HOST:PORT`)"
        )
    elif "/" in host:
        hint = "give the host name only: drop the path"
    elif re.fullmatch(r"[\d.]+", host):
        hint = (
            "an IPv4 address is four numbers 0-255 (e.g. 192.0.2.10); a DNS name's last label is not a number"
        )
    else:
        hint = "a DNS name is labels of letters, digits and '-' separated by dots (e.g. fl.example.org)"
    raise PkiError(f"{refused}: {hint}")


def create_ca(name: str = "genofed federation CA", *, days: int = CA_DAYS) -> Issued:
    key = ec.generate_private_key(ec.SECP384R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "genofed"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA384())
    )
    return Issued(key, cert)


def create_server_cert(ca: Issued, hosts: list[str], *, days: int = SERVER_DAYS) -> Issued:
    """A TLS server certificate for `hosts`, signed by the federation CA."""
    sans = subject_alt_names(hosts)
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    not_after = min(now + dt.timedelta(days=days), ca.cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "genofed"),
                    x509.NameAttribute(NameOID.COMMON_NAME, hosts[0].strip()[:64]),
                ]
            )
        )
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
        .sign(ca.key, hashes.SHA384())
    )
    return Issued(key, cert)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_pki(
    folder: str | Path, hosts: list[str], *, ca: Issued | None = None, write_ca_key: bool = True
) -> dict[str, str]:
    """Create CA + server certificate in `folder`; returns what federation config records about them.

    ca: an existing CA (`load_ca`) to sign with instead of a new one: a second study on the same
    federation keeps the CA every hospital trusts (server/service/same_federation.py).
    write_ca_key: False leaves ca.key out of `folder` (a CA key the operator keeps offline)."""
    folder = Path(folder)
    ca = ca or create_ca()
    server = create_server_cert(ca, hosts)
    if write_ca_key:
        write_private_atomic(folder / CA_KEY, _key_pem(ca.key))
    write_private_atomic(folder / SERVER_KEY, _key_pem(server.key))
    write_text_atomic(folder / CA_CERT, ca.cert.public_bytes(serialization.Encoding.PEM).decode())
    write_text_atomic(folder / SERVER_CERT, server.cert.public_bytes(serialization.Encoding.PEM).decode())
    return tls_record(ca.cert, server.cert, hosts)


def tls_record(ca_cert: x509.Certificate, server_cert: x509.Certificate, hosts: list[str]) -> dict[str, str]:
    """What federation.json records about the folder's certificates (its `tls` entry): at init, and
    after `renew-cert`, which so also restores an entry lost from a hand-edited file."""
    return {
        "ca_certificate": CA_CERT,
        "ca_sha256": ca_cert.fingerprint(hashes.SHA256()).hex(),
        "server_certificate": SERVER_CERT,
        "server_key": SERVER_KEY,
        "server_valid_until": server_cert.not_valid_after_utc.isoformat(),
        "hosts": [h.strip() for h in hosts],
    }


def load_cert(path: str | Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def check_server_cert(
    cert: x509.Certificate, ca_cert: x509.Certificate, *, at: dt.datetime | None = None
) -> None:
    """Raise PkiError unless `cert` is signed by `ca_cert` and valid at `at` (default: now); the
    message says which of the two failed and, for the dates, the date that matters."""
    at = at or _now()
    try:
        cert.verify_directly_issued_by(ca_cert)
    except Exception as exc:  # ValueError (issuer mismatch) or InvalidSignature
        raise PkiError(
            f"the server certificate is not signed by this CA ({type(exc).__name__}: {exc})"
        ) from None
    if at > cert.not_valid_after_utc:
        raise PkiError(f"the server certificate expired on {_day(cert.not_valid_after_utc)}")
    if at < cert.not_valid_before_utc:
        raise PkiError(f"the server certificate is valid only from {_day(cert.not_valid_before_utc)}")


def _day(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def check_folder_pki(folder: str | Path, *, at: dt.datetime | None = None) -> None:
    """Refuse, before `coordinator start` runs anything, a federation folder whose TLS files would
    make the SuperLink or nginx fail: otherwise the SuperLink only "does not answer" and its log
    says nothing about the certificate. Checks the CA's validity, that server.pem is signed by
    ca.pem and valid now, and that server.key is server.pem's key; each message names the file
    and what to do."""
    folder = Path(folder)
    at = at or _now()
    ca, server = _load_folder_cert(folder, CA_CERT), _load_folder_cert(folder, SERVER_CERT)
    if not ca.not_valid_before_utc <= at <= ca.not_valid_after_utc:
        raise PkiError(
            f"{folder / CA_CERT} (the federation's CA) is valid {_day(ca.not_valid_before_utc)} to "
            f"{_day(ca.not_valid_after_utc)}, not now: if this machine's clock is right, make a new "
            "federation (genofed coordinator init) and send its ca.pem to every hospital"
        )
    renew = f"re-issue it with `genofed coordinator renew-cert {folder}`"
    try:
        check_server_cert(server, ca, at=at)
    except PkiError as problem:
        what = str(problem).replace("the server certificate", str(folder / SERVER_CERT), 1)
        hint = "check this machine's clock" if "valid only from" in what else renew
        raise PkiError(f"{what}; {hint}") from None
    if _public_der(_load_folder_key(folder).public_key()) != _public_der(server.public_key()):
        raise PkiError(f"{folder / SERVER_KEY} is not the key of {folder / SERVER_CERT}: {renew}")


def _load_folder_cert(folder: Path, name: str) -> x509.Certificate:
    try:
        return load_cert(folder / name)
    except (OSError, ValueError) as exc:
        raise PkiError(f"{folder / name}: cannot read the certificate ({exc})") from None


def _load_folder_key(folder: Path, path: Path | None = None) -> ec.EllipticCurvePrivateKey:
    path = path or folder / SERVER_KEY
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise PkiError(f"{path}: cannot read the private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{path}: not an EC private key (genofed's keys are EC)")
    return key


def _public_der(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def renew_server_cert(
    folder: str | Path, hosts: list[str], *, ca_key: str | Path | None = None, days: int = SERVER_DAYS
) -> x509.Certificate:
    """A new server.key/server.pem for `hosts`, signed by the federation's CA: an expired or
    lost server certificate must not cost a new federation (a new CA for every hospital, a new
    privacy plan). ca.key may live offline (`ca_key`); it must be ca.pem's key."""
    folder = Path(folder)
    ca = load_ca(folder, ca_key)
    server = create_server_cert(ca, hosts, days=days)
    write_private_atomic(folder / SERVER_KEY, _key_pem(server.key))
    write_text_atomic(folder / SERVER_CERT, server.cert.public_bytes(serialization.Encoding.PEM).decode())
    return server.cert


def load_ca(folder: str | Path, ca_key: str | Path | None = None) -> Issued:
    """The federation's CA from `folder` (ca.pem, and ca.key or `ca_key` where the operator keeps
    it offline), to sign a new server certificate with: refused, naming the file and what to do,
    when the key is missing or not ca.pem's key, or the CA has expired (a server certificate from an
    expired CA verifies nowhere: only a new federation, with a new ca.pem at every hospital, helps)."""
    folder = Path(folder)
    key_path = Path(ca_key) if ca_key else folder / CA_KEY
    if not key_path.is_file():
        raise PkiError(
            f"{key_path} not found: the federation CA's private key signs the new server certificate; "
            "if it was moved offline after init, give it with --ca-key FILE"
        )
    ca = Issued(_load_folder_key(folder, key_path), _load_folder_cert(folder, CA_CERT))
    if _public_der(ca.key.public_key()) != _public_der(ca.cert.public_key()):
        raise PkiError(f"{key_path} is not the key of {folder / CA_CERT}: give the federation CA's key")
    if _now() >= ca.cert.not_valid_after_utc:
        raise PkiError(
            f"{folder / CA_CERT} (the federation's CA) expired on {_day(ca.cert.not_valid_after_utc)}: "
            "make a new federation (genofed coordinator init) and send its ca.pem to every hospital"
        )
    return ca
