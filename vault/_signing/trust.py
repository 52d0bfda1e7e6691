"""Trust policy: which keys, CAs and identities may vouch for which repositories.

A signature counts only if (1) it verifies under a trusted key and (2) that
key's scope covers the repository. Failing either is a `TrustError` that names
the key and the scope, so an operator can see which claim failed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vault._signing.dsse import Envelope, parse_bundle
from vault._signing.entries import TrustEntry, scope_matches
from vault._signing.policies import CheckFailed, Claim, FurthestFailures, Quorum, first_admitting
from vault.errors import TRUST_FIRST, TrustError


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

    def required_signers(self, repo_id: str) -> tuple[int, str | None]:
        """How many distinct trusted signers `repo_id` needs, and which quorum rule says so."""
        rules = [(n, scope) for scope, n in self.quorums.items() if scope_matches(repo_id, scope)]
        return max(rules) if rules else (1, None)

    def check_quorum(self, signatures: Iterable[VerifiedSignature], repo_id: str, label: str) -> None:
        """A quorum is there so that independent parties agree, so it counts parties.

        One signing key or identity counts once, whatever entries admit it (one
        key trusted under two names, or as a key and through a CA). Each trust
        entry is one party, however many identities it admits (two leaves of one
        CA are one organisation), unless the operator marked the entry
        `each_identity_counts`.
        """
        by_identity: dict[str, TrustEntry] = {}
        for v in signatures:
            by_identity.setdefault(v.identity or v.signer.name, v.signer)
        parties: dict[str, str] = {}
        for identity, entry in by_identity.items():
            party = f"{entry.name}/{identity}" if entry.each_identity_counts else entry.name
            parties.setdefault(party, entry.name)
        Quorum(*self.required_signers(repo_id)).verify(parties, label)

    def verify(self, raw: bytes, repo_id: str, origin: str) -> VerifiedSignature:
        """Verify a signed bundle for `repo_id`; raise unless a trusted, unexpired, in-scope entry admits it.

        The checks are `policies.ENTRY_POLICY`; this only picks the candidate
        entries and turns the furthest failure into one line for the operator.
        """
        env = parse_bundle(raw, origin)
        if not self.entries:
            raise TrustError(f"{origin}: no trusted keys in this vault yet; {TRUST_FIRST}")
        # The key hint narrows the keys to try; without one every key is tried. CAs and
        # Sigstore identities can only vouch for a signature that carries a certificate.
        candidates = [
            e for e in self.entries
            if (e.kind == "key" and env.key_hint in (None, e.fingerprint))
            or (env.has_certificate and e.kind in ("sigstore", "ca"))
        ]  # fmt: skip
        try:
            if not candidates:
                raise FurthestFailures([])
            signer = first_admitting(candidates, Claim(env, repo_id, self.now, origin))
        except FurthestFailures as failed:
            raise self._explain(failed.failures, env, repo_id, origin) from None
        method = {"sigstore": "sigstore", "ca": "certificate"}.get(signer.kind, "key")
        if env.has_certificate and method == "key":
            method = "certificate"
        return VerifiedSignature(signer, env.payload, raw, method, signing_identity(env, signer))

    def _explain(self, failures: list[CheckFailed], env: Envelope, repo_id: str, origin: str) -> TrustError:
        """The furthest failures, worded for the operator: which claim failed, and for which entries."""
        stage = failures[0].stage if failures else 0
        if stage == 2:
            names = ", ".join(f"{f.entry.name} (scope {' '.join(f.entry.scopes)})" for f in failures)
            return TrustError(f"{origin}: signer {names} is not trusted for {repo_id}")
        if stage == 1:
            names = ", ".join(f"{f.entry.name} (expired {f.entry.expires_at})" for f in failures)
            return TrustError(f"{origin}: signed by {names}: trust in that key has expired")
        if env.has_certificate and env.key_hint is None:
            reasons = [f"{f.entry.name}: {f.found}" for f in failures if f.entry.kind != "key"]
            why = "; ".join(["its leaf key is not a trusted key", *reasons])
            if not reasons:
                why += ", and no CA or Sigstore identity is trusted"
            return TrustError(f"{origin}: certificate signature not trusted: {why}")
        named = [e.name for e in self.entries if e.fingerprint == env.key_hint]
        if named:
            altered = "(payload or signature altered)"
            return TrustError(f"{origin}: signature does not verify under trusted key {named[0]} {altered}")
        hint = f" (key hint {env.key_hint[:16]}…)" if env.key_hint else ""
        return TrustError(f"{origin}: not signed by any trusted key{hint}")


def signing_identity(env: Envelope, signer: TrustEntry) -> str:
    """The key or identity behind a verified signature (see VerifiedSignature.identity).

    Never read from anything the signature did not prove: a key entry admitted
    it, so the identity is that key (`SignedUnder` required any certificate it
    carries to certify that same key).
    """
    if signer.kind == "sigstore":
        return f"sigstore:{signer.issuer}:{signer.identity}"
    if signer.kind == "key":
        return f"key:{signer.fingerprint}"
    from vault._signing.certificates import leaf_key_hint

    leaf = leaf_key_hint(env)  # a CA entry admitted it: its chain, leaf first, was verified
    assert leaf is not None, "verify_certificate_chain admits only EC leaves"
    return f"key:{leaf}"
