"""Signing with an organisation's PKI: a leaf certificate for the signing key, and its chain.

Checked before anything is signed, so a wrong file is one clear line and not
a signature no verifier will accept: the leaf must certify this very key,
allow code signing (`purpose_failure`, the rule the verifier applies too),
be valid now (`validity_failure`), and every certificate must parse. Whether
the chain leads to a trusted CA is for the verifier to judge, against its own
trust entries, never the signer's.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from vault._regular_files import MAX_PEM, read_given_file
from vault._signing.keys import key_hint
from vault.errors import UsageError

if TYPE_CHECKING:
    from vault._signing.dsse import Envelope


def _read_pem_certificates(path: Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(read_given_file(path, MAX_PEM, "PEM certificate file"))
    except ValueError:
        raise UsageError(f"{path}: not a PEM certificate file") from None


def purpose_failure(leaf: x509.Certificate) -> str | None:
    """Why `leaf` may not sign models (None when it may): one rule for the signer and the verifier.

    KeyUsage must be present with digitalSignature *and* ExtendedKeyUsage
    present with codeSigning. The stock verifier takes either one; a TLS server
    certificate (digitalSignature, serverAuth) or an e-mail one would then sign
    models, so vault asks for both.
    """
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return "it has no KeyUsage (needs digitalSignature)"
    if not usage.digital_signature:
        return "its KeyUsage lacks digitalSignature"
    try:
        purposes = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return "it has no ExtendedKeyUsage (needs codeSigning)"
    if ExtendedKeyUsageOID.CODE_SIGNING not in purposes:
        return "its ExtendedKeyUsage lacks codeSigning"
    return None


def validity_failure(leaf: x509.Certificate, now: datetime) -> str | None:
    """Verifiers judge a chain at the leaf's notBefore, so a dead certificate would keep signing
    for ever: the signer refuses one that is not valid now."""
    if now < leaf.not_valid_before_utc:
        return f"it is not valid before {leaf.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}"
    if now > leaf.not_valid_after_utc:
        return f"it expired {leaf.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}"
    return None


def signing_chain(key: ec.EllipticCurvePrivateKey, cert_path: Path, chain_path: Path | None) -> list[bytes]:
    """DER of the leaf, then the chain's certificates in file order."""
    leaves = _read_pem_certificates(cert_path)
    if len(leaves) != 1:
        raise UsageError(f"{cert_path}: expected one leaf certificate, found {len(leaves)}")
    leaf = leaves[0]
    if leaf.public_key() != key.public_key():
        raise UsageError(f"{cert_path}: the certificate is not for this signing key")
    why = purpose_failure(leaf) or validity_failure(leaf, datetime.now(UTC))
    if why is not None:
        raise UsageError(f"{cert_path}: the certificate may not sign models: {why}")
    chain = _read_pem_certificates(chain_path) if chain_path is not None else []
    return [c.public_bytes(serialization.Encoding.DER) for c in [leaf, *chain]]


def leaf_key_hint(env: Envelope) -> str | None:
    """The OMS hint of the key a certificate signature's leaf certifies (None: no usable leaf)."""
    try:
        chain = json.loads(env.raw)["verificationMaterial"]["x509CertificateChain"]["certificates"]
        key = x509.load_der_x509_certificate(base64.b64decode(chain[0]["rawBytes"])).public_key()
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return key_hint(key) if isinstance(key, ec.EllipticCurvePublicKey) else None
