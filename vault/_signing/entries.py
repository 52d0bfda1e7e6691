"""What a trust entry is, and how each kind vouches for a signature (a key, a CA chain, a Sigstore identity).

Below the policy: `policies` asks these, `trust` composes the answer.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from vault._signing.dsse import Envelope, verify_envelope
from vault._signing.keys import load_public_key_bytes


def scope_matches(repo_id: str, scope: str) -> bool:
    """One rule for trust scopes and quorum scopes: a glob, matched ignoring case."""
    return fnmatch.fnmatchcase(repo_id.casefold(), scope.casefold())


@dataclass(frozen=True)
class TrustEntry:
    name: str
    public_key_pem: bytes
    fingerprint: str
    scopes: tuple[str, ...]
    # ISO-8601 UTC; key signatures carry no trusted time, so expiry is judged at verification.
    expires_at: str | None = None
    kind: str = "key"  # or "sigstore"
    identity: str | None = None
    issuer: str | None = None
    trusted_root: bytes | None = None
    # One party in a quorum, however many keys or identities it admits, unless the operator
    # said each identity under it is a party of its own (`trust add --each-identity-counts`).
    each_identity_counts: bool = False

    def covers(self, repo_id: str) -> bool:
        """Case-insensitive, as the Hub treats repo ids (and as the alias check compares them):
        `Meta-llama/x` must not slip past a rule written for `meta-llama/*`."""
        return any(scope_matches(repo_id, scope) for scope in self.scopes)

    def expired(self, now: str) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def trusted_root_warnings(self, now: datetime) -> list[str]:
        """Why the pinned Sigstore root may soon refuse new signatures (nothing refreshes it offline)."""
        if self.trusted_root is None:
            return []
        from vault._signing.trusted_root import expiry_warnings

        return expiry_warnings(self.trusted_root, now)

    @property
    def trusted_root_sha256(self) -> str | None:
        if self.trusted_root is None:
            return None
        from vault._signing.trusted_root import root_sha256

        return root_sha256(self.trusted_root)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return load_public_key_bytes(self.public_key_pem, f"trust entry {self.name}")


def verify_sigstore(raw: bytes, entry: TrustEntry) -> str | None:
    """Offline Sigstore verification against the entry's pinned trusted root and identity.

    Returns None when it verifies, else why not (sigstore-python's own words:
    which identity or issuer it expected and found, or which proof failed).

    sigstore-python checks the certificate chain, the transparency-log proof and
    the identity; it does not look inside the statement, which vault checks
    itself like any other signature's.
    """
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import Bundle
    from sigstore.verify import Verifier
    from sigstore.verify.policy import Identity

    assert entry.trusted_root is not None and entry.identity and entry.issuer
    try:
        verifier = Verifier(trusted_root=trusted_root_from_bytes(entry.trusted_root))
        verifier.verify_dsse(Bundle.from_json(raw), Identity(identity=entry.identity, issuer=entry.issuer))
    except (SigstoreError, ValueError) as exc:
        return f"Sigstore: {exc}"
    return None


def trusted_root_from_bytes(raw: bytes) -> Any:
    """sigstore-python reads trusted roots only from files; this parses the stored bytes."""
    from sigstore.models import TrustedRoot
    from sigstore_models.trustroot import v1 as trustroot_v1

    return TrustedRoot(trustroot_v1.TrustedRoot.from_json(raw))


def verify_certificate_chain(env: Envelope, entry: TrustEntry) -> str | None:
    """OMS certificate signatures: the chain must lead to the entry's CA, and the leaf key must sign.

    Returns None when it verifies, else why not (OpenSSL's chain error, or the signature).

    Like model_signing, the chain is checked at the leaf's notBefore: the bundle
    carries no trusted signing time, so "valid when it was issued" is the only
    claim that can be checked; the trust entry's own --expires bounds it.
    """
    import base64
    import json

    from cryptography import x509
    from OpenSSL import crypto

    from vault._signing.certificates import purpose_failure

    try:
        chain = json.loads(env.raw)["verificationMaterial"]["x509CertificateChain"]["certificates"]
        certs = [x509.load_der_x509_certificate(base64.b64decode(c["rawBytes"])) for c in chain]
        store = crypto.X509Store()
        for ca in x509.load_pem_x509_certificates(entry.public_key_pem):
            store.add_cert(crypto.X509.from_cryptography(ca))
        leaf = certs[0]
        store.set_time(leaf.not_valid_before_utc)
        context = crypto.X509StoreContext(
            store,
            crypto.X509.from_cryptography(leaf),
            [crypto.X509.from_cryptography(c) for c in certs[1:]],
        )
        context.verify_certificate()
        key = leaf.public_key()
    except crypto.X509StoreContextError as exc:
        return f"certificate chain does not lead to CA {entry.name} ({exc})"
    except (KeyError, IndexError, TypeError, ValueError, crypto.Error) as exc:
        return f"malformed certificate chain ({type(exc).__name__})"
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return "the leaf certificate's key is not an elliptic-curve key"
    purpose = purpose_failure(leaf)
    if purpose is not None:
        return f"the leaf certificate may not sign models: {purpose}"
    if not verify_envelope(env, key):
        return "the signature does not verify under the leaf certificate's key"
    return None
