"""DSSE envelopes inside Sigstore bundle v0.3 JSON, as OMS key signatures use them.

Key facts the stock `model_signing` verifier depends on: the signature is over
the DSSE PAE, DER-encoded, standard base64; the bundle carries the key hint (the
sha256 of the canonical PEM); `keyid` is empty and ignored.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec

from vault._signing.keys import hash_for, key_hint
from vault._statements.manifest import canonical_json
from vault.errors import TrustError

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
MAX_SIGNATURE_BYTES = 8 << 20
MAX_SIGNATURE_TOTAL = 32 << 20  # all of one bundle's signature entries, held until verified


def pae(payload_type: str, payload: bytes) -> bytes:
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def sign_payload(key: ec.EllipticCurvePrivateKey, payload: bytes) -> bytes:
    """Wrap `payload` in a signed DSSE envelope inside a Sigstore bundle.

    RFC 6979 deterministic ECDSA makes the whole file reproducible: the same
    statement and key give the same bytes, so re-signing is detectable as a no-op.
    """
    return _signed_bundle(
        key, payload, {"publicKey": {"hint": key_hint(key.public_key())}, "tlogEntries": []}
    )


def sign_payload_with_chain(key: ec.EllipticCurvePrivateKey, chain_der: list[bytes], payload: bytes) -> bytes:
    """The same envelope, carrying the leaf certificate then its chain, as model_signing's
    certificate signer lays it out (`x509CertificateChain`, DER in standard base64)."""
    certificates = [{"rawBytes": base64.b64encode(der).decode()} for der in chain_der]
    return _signed_bundle(
        key, payload, {"x509CertificateChain": {"certificates": certificates}, "tlogEntries": []}
    )


def _signed_bundle(key: ec.EllipticCurvePrivateKey, payload: bytes, material: dict[str, object]) -> bytes:
    sig = key.sign(
        pae(IN_TOTO_PAYLOAD_TYPE, payload),
        ec.ECDSA(hash_for(key.public_key()), deterministic_signing=True),
    )
    bundle = {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": material,
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(sig).decode(), "keyid": ""}],
        },
    }
    return canonical_json(bundle)


@dataclass(frozen=True)
class Envelope:
    """A parsed, not yet verified, key-signed bundle."""

    payload: bytes
    payload_type: str
    signatures: tuple[bytes, ...]
    key_hint: str | None
    has_certificate: bool
    raw: bytes


def _b64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise TrustError(f"{what}: not a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise TrustError(f"{what}: invalid base64") from None


def parse_bundle(raw: bytes, origin: str) -> Envelope:
    if len(raw) > MAX_SIGNATURE_BYTES:
        raise TrustError(f"{origin}: signature file too large")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise TrustError(f"{origin}: signature is not JSON") from None
    if not isinstance(doc, dict):
        raise TrustError(f"{origin}: signature is not a JSON object")
    media = doc.get("mediaType", "")
    if not isinstance(media, str) or not media.startswith("application/vnd.dev.sigstore.bundle"):
        raise TrustError(f"{origin}: not a Sigstore bundle (mediaType {media!r})")
    env = doc.get("dsseEnvelope")
    if not isinstance(env, dict):
        raise TrustError(f"{origin}: no DSSE envelope")
    material = doc.get("verificationMaterial") or {}
    if not isinstance(material, dict):
        raise TrustError(f"{origin}: malformed verificationMaterial")
    hint = (material.get("publicKey") or {}).get("hint") or None
    has_cert = bool(material.get("certificate") or material.get("x509CertificateChain"))
    sigs = env.get("signatures")
    if not isinstance(sigs, list) or not sigs:
        raise TrustError(f"{origin}: envelope has no signatures")
    return Envelope(
        payload=_b64(env.get("payload"), f"{origin}: payload"),
        payload_type=str(env.get("payloadType", "")),
        signatures=tuple(_b64((s or {}).get("sig"), f"{origin}: sig") for s in sigs),
        key_hint=hint if isinstance(hint, str) else None,
        has_certificate=has_cert,
        raw=raw,
    )


def verify_envelope(env: Envelope, key: ec.EllipticCurvePublicKey) -> bool:
    """True if any signature in the envelope verifies under `key`."""
    if env.payload_type != IN_TOTO_PAYLOAD_TYPE:
        return False
    message = pae(env.payload_type, env.payload)
    for sig in env.signatures:
        try:
            key.verify(sig, message, ec.ECDSA(hash_for(key)))
            return True
        except InvalidSignature:
            continue
    return False
