"""Signing with an organisation's PKI: a leaf certificate for the signing key, and its chain.

Checked before anything is signed, so a wrong file is one clear line and not
a signature no verifier will accept: the leaf must certify this very key and
allow signing (KeyUsage digitalSignature, or the codeSigning extended key
usage: what `model_signing verify certificate` demands), and every
certificate must parse. Whether the chain leads to a trusted CA is for the
verifier to judge, against its own trust entries, never the signer's.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from vault.errors import UsageError


def _read_pem_certificates(path: Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from None
    except ValueError:
        raise UsageError(f"{path}: not a PEM certificate file") from None


def _may_sign(leaf: x509.Certificate) -> bool:
    try:
        if leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            return True
    except x509.ExtensionNotFound:
        pass
    try:
        return (
            ExtendedKeyUsageOID.CODE_SIGNING
            in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        )
    except x509.ExtensionNotFound:
        return False


def signing_chain(key: ec.EllipticCurvePrivateKey, cert_path: Path, chain_path: Path | None) -> list[bytes]:
    """DER of the leaf, then the chain's certificates in file order."""
    leaves = _read_pem_certificates(cert_path)
    if len(leaves) != 1:
        raise UsageError(f"{cert_path}: expected one leaf certificate, found {len(leaves)}")
    leaf = leaves[0]
    if leaf.public_key() != key.public_key():
        raise UsageError(f"{cert_path}: the certificate is not for this signing key")
    if not _may_sign(leaf):
        raise UsageError(
            f"{cert_path}: the certificate does not allow signing (needs KeyUsage digitalSignature "
            "or the codeSigning extended key usage)"
        )
    chain = _read_pem_certificates(chain_path) if chain_path is not None else []
    return [c.public_bytes(serialization.Encoding.DER) for c in [leaf, *chain]]
