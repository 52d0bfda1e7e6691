"""Trust checks as small objects: each says what it expected and what it found.

A signature is admitted under a trust entry when every check of
`ENTRY_POLICY` passes for that entry: the signature verifies under what the
entry trusts (a key, a CA chain, a Sigstore identity), the entry has not
expired, and its scope covers the repository. `AllOf` runs checks in order
and reports how far an entry got; `first_admitting` tries every candidate
entry and, when none admits the signature, raises the failure of the entries
that got furthest, so the operator reads the most specific reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from vault._signing.dsse import Envelope, verify_envelope
from vault._signing.entries import TrustEntry, verify_certificate_chain, verify_sigstore
from vault.errors import TrustError


@dataclass(frozen=True)
class Claim:
    """What is being judged: a parsed signature, for a repository, at a time."""

    env: Envelope
    repo_id: str
    now: str
    origin: str


class CheckFailed(TrustError):
    """One check's refusal: what it expected, what it found, for which entry."""

    def __init__(self, entry: TrustEntry, expected: str, found: str, stage: int = 0) -> None:
        super().__init__(f"{entry.name}: expected {expected}, found {found}")
        self.entry, self.expected, self.found, self.stage = entry, expected, found, stage


class Check(Protocol):
    def verify(self, entry: TrustEntry, claim: Claim) -> None: ...


class SignedUnder:
    """The signature verifies under what the entry trusts."""

    def verify(self, entry: TrustEntry, claim: Claim) -> None:
        if entry.kind == "key":
            if not verify_envelope(claim.env, entry.public_key()):
                raise CheckFailed(entry, "a signature by its key", "none that verifies")
            if claim.env.has_certificate and _leaf_key_hint(claim.env) != entry.fingerprint:
                # A certificate that certifies another key proves nothing about this signer and
                # must not lend the signature a second identity (one key, two quorum parties).
                raise CheckFailed(entry, "a carried certificate for its own key", "one for another key")
            return
        why = (
            verify_sigstore(claim.env.raw, entry)
            if entry.kind == "sigstore"
            else verify_certificate_chain(claim.env, entry)
        )
        if why is not None:
            raise CheckFailed(entry, f"a {entry.kind} signature it vouches for", why)


def _leaf_key_hint(env: Envelope) -> str | None:
    from vault._signing.certificates import leaf_key_hint

    return leaf_key_hint(env)


class Unexpired:
    def verify(self, entry: TrustEntry, claim: Claim) -> None:
        if entry.expired(claim.now):
            raise CheckFailed(entry, f"trust valid at {claim.now}", f"expired {entry.expires_at}")


class InScope:
    def verify(self, entry: TrustEntry, claim: Claim) -> None:
        if not entry.covers(claim.repo_id):
            raise CheckFailed(entry, f"a scope covering {claim.repo_id}", f"scope {' '.join(entry.scopes)}")


@dataclass(frozen=True)
class AllOf:
    checks: tuple[Check, ...]

    def verify(self, entry: TrustEntry, claim: Claim) -> None:
        for stage, check in enumerate(self.checks):
            try:
                check.verify(entry, claim)
            except CheckFailed as exc:
                exc.stage = stage
                raise


ENTRY_POLICY = AllOf((SignedUnder(), Unexpired(), InScope()))


def first_admitting(entries: Iterable[TrustEntry], claim: Claim, policy: AllOf = ENTRY_POLICY) -> TrustEntry:
    """The first entry under which every check passes; else CheckFailed of those that got furthest."""
    failures: list[CheckFailed] = []
    for entry in entries:
        try:
            policy.verify(entry, claim)
        except CheckFailed as exc:
            failures.append(exc)
            continue
        return entry
    if not failures:
        raise FurthestFailures([])
    furthest = max(f.stage for f in failures)
    raise FurthestFailures([f for f in failures if f.stage == furthest])


class FurthestFailures(TrustError):
    """No entry admitted the signature; these got furthest (the same check), in entry order."""

    def __init__(self, failures: list[CheckFailed]) -> None:
        super().__init__("; ".join(str(f) for f in failures) or "no trust entry could vouch for it")
        self.failures = failures


@dataclass(frozen=True)
class Quorum:
    """At least `required` distinct parties (see `TrustPolicy.check_quorum`)."""

    required: int
    scope: str | None

    def verify(self, parties: dict[str, str], label: str) -> None:
        """`parties` maps each signing party to the trust entry that admitted it."""
        if len(parties) < self.required:
            names = ", ".join(sorted(set(parties.values())))
            raise TrustError(
                f"{label}: needs signatures from {self.required} distinct trusted signers "
                f"(quorum for {self.scope!r}), has {len(parties)} ({names})"
            )
