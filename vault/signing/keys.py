"""EC keys: generation, loading, and the fingerprint OMS calls the key hint."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from vault.errors import UsageError

# The OMS algorithm registry allows these curves; each pairs with one hash.
CURVE_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}


def generate_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


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


def load_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
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
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from None
    return load_public_key_bytes(data, str(path))
