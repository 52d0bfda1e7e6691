"""EC keys: generation, loading, and the fingerprint OMS calls the key hint."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from vault._output_paths import output_file
from vault._regular_files import MAX_PEM, read_given_file
from vault.errors import ConflictError, UsageError

# The OMS algorithm registry allows these curves; each pairs with one hash.
CURVE_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}


def generate_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


PASSWORD_ENV = "VAULT_KEY_PASSWORD"


def private_key_pem(key: ec.EllipticCurvePrivateKey, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def read_password(password_file: Path | None) -> bytes | None:
    """A signing key's passphrase: the file's first line, else VAULT_KEY_PASSWORD, else none.

    Never a command-line argument: those show up in `ps` and shell history.
    """
    if password_file is not None:
        lines = read_given_file(password_file, MAX_PEM, "password file").splitlines()
        if not lines or not lines[0]:
            raise UsageError(f"{password_file}: empty password file")
        return lines[0]
    env = os.environ.get(PASSWORD_ENV)
    return env.encode() if env else None


def write_key_pair(prefix: str, password: bytes | None = None) -> tuple[Path, Path]:
    """PREFIX.pem (private, 0600, encrypted if `password`) and PREFIX.pub.pem; never overwrites."""
    if not prefix or prefix.endswith("/") or Path(prefix).name in ("", ".", ".."):
        raise UsageError(
            f"-o {prefix!r}: name the keys' prefix, e.g. site-key (writes site-key.pem, site-key.pub.pem)"
        )
    if prefix.endswith(".pem"):
        raise UsageError(f"-o {prefix}: give the prefix without .pem (this would write {prefix}.pem)")
    private, public = output_file(Path(f"{prefix}.pem")), output_file(Path(f"{prefix}.pub.pem"))
    for p in (private, public):
        if p.exists():
            raise ConflictError(f"{p}: already exists, not overwriting a key")
    key = generate_private_key()
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private_key_pem(key, password))
    public.write_bytes(public_key_pem(key.public_key()))
    return private, public


def public_key_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    """The canonical PEM; OMS key hints are computed over exactly these bytes."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_hint(key: ec.EllipticCurvePublicKey) -> str:
    return hashlib.sha256(public_key_pem(key)).hexdigest()


def hash_for(key: ec.EllipticCurvePublicKey) -> hashes.HashAlgorithm:
    try:
        return CURVE_HASHES[key.curve.name]()
    except KeyError:
        raise UsageError(f"unsupported curve {key.curve.name}: use P-256, P-384 or P-521") from None


def load_private_key(path: Path, password: bytes | None = None) -> ec.EllipticCurvePrivateKey:
    data = read_given_file(path, MAX_PEM, "PEM key file")
    encrypted = b"ENCRYPTED" in data.split(b"\n", 1)[0] or b"Proc-Type: 4,ENCRYPTED" in data
    if encrypted and not password:
        raise UsageError(f"{path}: the key is encrypted: give --password-file or set {PASSWORD_ENV}")
    try:
        key = serialization.load_pem_private_key(data, password=password if encrypted else None)
    except ValueError as exc:
        reason = "wrong password" if encrypted else str(exc)
        raise UsageError(f"{path}: cannot load PEM private key ({reason})") from None
    except TypeError as exc:
        raise UsageError(f"{path}: cannot load PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise UsageError(f"{path}: not an elliptic-curve private key")
    hash_for(key.public_key())
    return key


def load_public_key_bytes(data: bytes, origin: str) -> ec.EllipticCurvePublicKey:
    # Key files made by certtool carry a text preamble before the PEM block.
    start = data.find(b"-----BEGIN PUBLIC KEY-----")
    try:
        if start < 0:
            raise ValueError("no PUBLIC KEY block")
        key = serialization.load_pem_public_key(data[start:])
    except ValueError as exc:
        raise UsageError(f"{origin}: cannot load PEM public key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise UsageError(f"{origin}: not an elliptic-curve public key")
    hash_for(key)
    return key


def load_public_key(path: Path) -> ec.EllipticCurvePublicKey:
    return load_public_key_bytes(read_given_file(path, MAX_PEM, "PEM key file"), str(path))
