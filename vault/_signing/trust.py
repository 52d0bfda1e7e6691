"""Trust policy: which keys may vouch for which repositories.

A signature counts only if (1) it verifies under a trusted key and (2) that
key's scope covers the repository. Failing either is a `TrustError` that names
the key and the scope, so an operator can see which claim failed.
"""

from __future__ import annotations

import base64
import fnmatch
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from vault._signing.dsse import Envelope, parse_bundle, verify_envelope
from vault._signing.keys import key_hint, load_public_key_bytes
from vault.errors import TrustError


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

    def covers(self, repo_id: str) -> bool:
        return any(fnmatch.fnmatchcase(repo_id, scope) for scope in self.scopes)

    def expired(self, now: str) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    @property
    def label(self) -> str:
        return self.name if self.kind == "key" else f"{self.name} ({self.identity} via {self.issuer})"

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return load_public_key_bytes(self.public_key_pem, f"trust entry {self.name}")


@dataclass(frozen=True)
class VerifiedSignature:
    signer: TrustEntry
    payload: bytes
    raw: bytes
    # "certificate" when the bundle carries an X.509 chain: only its leaf key is
    # checked (against a trusted key); CA-chain trust is not implemented yet.
    method: str = "key"
    # Who actually signed, whatever trust entry admitted it: the signing key's
    # fingerprint (a key, or a certificate's leaf key), or a Sigstore identity.
    # Quorum counts these, so one key trusted under two names, or both as a key
    # and through a CA, counts once.
    identity: str = ""


class TrustPolicy:
    def __init__(
        self, entries: Iterable[TrustEntry], quorums: dict[str, int] | None = None, now: str = ""
    ) -> None:
        self.entries = tuple(entries)
        self.quorums = dict(quorums or {})
        self.now = now

    def allows(self, signer: TrustEntry, repo_id: str) -> bool:
        return signer in self.entries and signer.covers(repo_id) and not signer.expired(self.now)

    def required_signers(self, repo_id: str) -> tuple[int, str | None]:
        """How many distinct trusted signers `repo_id` needs, and which quorum rule says so."""
        rules = [(n, scope) for scope, n in self.quorums.items() if fnmatch.fnmatchcase(repo_id, scope)]
        return max(rules) if rules else (1, None)

    def check_quorum(self, signatures: Iterable[VerifiedSignature], repo_id: str, label: str) -> None:
        """Distinct signing keys or identities, not trust entries or signature files, make a quorum."""
        by_identity: dict[str, str] = {}
        for v in signatures:
            by_identity.setdefault(v.identity or v.signer.name, v.signer.name)
        required, scope = self.required_signers(repo_id)
        if len(by_identity) < required:
            names = ", ".join(sorted(set(by_identity.values())))
            raise TrustError(
                f"{label}: needs model signatures from {required} distinct trusted signers "
                f"(quorum for {scope!r}), has {len(by_identity)} ({names})"
            )

    def verify(self, raw: bytes, repo_id: str, origin: str) -> VerifiedSignature:
        """Verify a key-signed bundle for `repo_id`; raise unless a trusted, in-scope key signed it."""
        env = parse_bundle(raw, origin)
        if not self.entries:
            raise TrustError(f"{origin}: no trusted keys in this vault (use 'vault trust add')")
        signers, reasons = self._verifying_entries(env)
        if not signers:
            if env.has_certificate and env.key_hint is None:
                why = "; ".join(["its leaf key is not a trusted key", *reasons])
                if not reasons:
                    why += ", and no CA or Sigstore identity is trusted"
                raise TrustError(f"{origin}: certificate signature not trusted: {why}")
            named = [e.name for e in self.entries if e.fingerprint == env.key_hint]
            if named:
                raise TrustError(
                    f"{origin}: signature does not verify under trusted key {named[0]} "
                    "(payload or signature altered)"
                )
            hint = f" (key hint {env.key_hint[:16]}…)" if env.key_hint else ""
            raise TrustError(f"{origin}: not signed by any trusted key{hint}")
        live = [s for s in signers if not s.expired(self.now)]
        if not live:
            names = ", ".join(f"{s.name} (expired {s.expires_at})" for s in signers)
            raise TrustError(f"{origin}: signed by {names}: trust in that key has expired")
        for signer in live:
            if self.allows(signer, repo_id):
                method = {"sigstore": "sigstore", "ca": "certificate"}.get(signer.kind, "key")
                if env.has_certificate and method == "key":
                    method = "certificate"
                return VerifiedSignature(signer, env.payload, raw, method, signing_identity(env, signer))
        names = ", ".join(f"{s.name} (scope {' '.join(s.scopes)})" for s in live)
        raise TrustError(f"{origin}: signer {names} is not trusted for {repo_id}")

    def _verifying_entries(self, env: Envelope) -> tuple[list[TrustEntry], list[str]]:
        """The entries under which the signature verifies, and why each other candidate did not."""
        # The hint narrows the search; without one every key is tried.
        keys = [e for e in self.entries if e.kind == "key" and env.key_hint in (None, e.fingerprint)]
        found = [e for e in keys if verify_envelope(env, e.public_key())]
        reasons: list[str] = []
        if env.has_certificate:
            checks = {
                "sigstore": lambda e: verify_sigstore(env.raw, e),
                "ca": lambda e: verify_certificate_chain(env, e),
            }
            for e in self.entries:
                if e.kind in checks:
                    if (why := checks[e.kind](e)) is None:
                        found.append(e)
                    else:
                        reasons.append(f"{e.name}: {why}")
        return found, reasons


def signing_identity(env: Envelope, signer: TrustEntry) -> str:
    """The key or identity behind a verified signature (see VerifiedSignature.identity)."""
    if signer.kind == "sigstore":
        return f"sigstore:{signer.issuer}:{signer.identity}"
    if env.has_certificate:
        from cryptography import x509

        chain = json.loads(env.raw)["verificationMaterial"]["x509CertificateChain"]["certificates"]
        leaf = x509.load_der_x509_certificate(base64.b64decode(chain[0]["rawBytes"]))
        return f"key:{key_hint(leaf.public_key())}"  # type: ignore[arg-type]
    return f"key:{signer.fingerprint}"


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
    if not verify_envelope(env, key):
        return "the signature does not verify under the leaf certificate's key"
    return None
