"""Hospital (SuperNode) keys: loading, checking and fingerprinting, shared by both sides.

Why this exists (what a data-protection officer asks): "how does the coordinator know that the
machine sending model updates is the hospital it claims to be, and how can we check that the key
you registered is the one our site generated?" Each hospital makes its own EC key pair; only the
public key travels (by a channel the two sides trust, e.g. signed e-mail), and both sides can
compare its SHA-256 fingerprint (`SHA256:...`, the same form `ssh-keygen -lf` prints) over the
phone. Flower's SuperNode authentication needs EC keys in OpenSSH format (flower-supernode loads
`--auth-supernode-private-key` with `cryptography`'s `load_ssh_private_key` and rejects anything
but an EC key), so the checks here are exactly Flower's. Private keys are written readable by the
owner only (0600) and atomically, so a crash never leaves a half-written or world-readable key.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from genofed.common.errors import GenofedError

#: The curve hospitals' keys are made on (Flower's documentation uses `ssh-keygen -t ecdsa -b 384`).
CURVE = ec.SECP384R1


class KeyFileError(GenofedError):
    """A key file is missing, malformed or of the wrong type; the message names the file."""

    def __init__(self, source: str | Path, problem: str, hint: str = "") -> None:
        text = f"{source}: {problem}"
        if hint:
            text += f"\n  what to do: {hint}"
        super().__init__(text)


def fingerprint(public_key: ec.EllipticCurvePublicKey) -> str:
    """SHA-256 of the key's OpenSSH wire form, as `ssh-keygen -lf` prints it (`SHA256:<base64>`)."""
    line = public_key_openssh(public_key).split()
    blob = base64.b64decode(line[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def public_key_openssh(public_key: ec.EllipticCurvePublicKey, comment: str = "") -> str:
    """One line `ecdsa-sha2-nistp384 AAAA... [comment]`, the format `flwr supernode register` takes."""
    text = public_key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()
    return f"{text} {comment}".strip()


def parse_public_key(data: bytes | str, source: str | Path) -> ec.EllipticCurvePublicKey:
    """An OpenSSH-format EC public key; anything else raises KeyFileError naming `source`."""
    raw = data.encode() if isinstance(data, str) else data
    text = raw.strip()
    if not text:
        raise KeyFileError(
            source, "the public-key file is empty", "send the .pub file `genofed hospital init` printed"
        )
    if b"PRIVATE KEY" in text:
        raise KeyFileError(
            source,
            "this is a PRIVATE key: it must never leave the hospital",
            "delete the copy you received, and tell the hospital that this private key has left it and "
            "should be replaced; ask it for its .pub file instead, and if this key was ever enrolled, revoke "
            "it (genofed coordinator revoke)",
        )
    if len(text.splitlines()) != 1:
        raise KeyFileError(
            source,
            "not an OpenSSH public key (expected one line 'ecdsa-sha2-nistp384 AAAA...')",
            "send the .pub file `genofed hospital init` wrote",
        )
    try:
        key = serialization.load_ssh_public_key(text)
    except UnsupportedAlgorithm as exc:
        raise KeyFileError(
            source, f"unsupported key type ({exc})", "SuperNode keys are EC (ecdsa-sha2-nistp*) keys"
        ) from None
    except ValueError as exc:
        raise KeyFileError(
            source,
            f"not a valid OpenSSH public key ({exc or 'malformed'})",
            "send the .pub file `genofed hospital init` wrote, unmodified",
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        kind = type(key).__name__.removeprefix("_").replace("PublicKey", "")
        raise KeyFileError(
            source,
            f"a {kind} key, but Flower SuperNode authentication needs an EC (ecdsa) key",
            "make the site key with `genofed hospital init` (or `ssh-keygen -t ecdsa -b 384`)",
        )
    return key


def load_public_key(path: str | Path) -> ec.EllipticCurvePublicKey:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(path, f"cannot read the public-key file ({exc.strerror})") from None
    return parse_public_key(data, path)


def load_supernode_private_key(path: str | Path) -> ec.EllipticCurvePrivateKey:
    """Load a site's private key exactly as flower-supernode does (OpenSSH format, no password, EC)."""
    path = Path(path).expanduser()
    try:
        key = serialization.load_ssh_private_key(path.read_bytes(), None)
    except OSError as exc:
        raise KeyFileError(path, f"cannot read the private-key file ({exc.strerror})") from None
    except (ValueError, UnsupportedAlgorithm, TypeError) as exc:
        raise KeyFileError(path, f"flower-supernode cannot load this private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyFileError(path, "not an EC private key; flower-supernode accepts EC keys only")
    return key


def write_private_atomic(path: str | Path, data: bytes) -> None:
    """Write a secret: created 0600 (never readable by others, not even for a moment), then renamed
    onto `path`, so a crash leaves either no key or the whole key."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o600)
        os.replace(tmp_name, final)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
