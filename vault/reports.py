"""What the read-only reports return (list, show, provenance, audit): frozen dataclasses.

Apart from `vault.results` so that a read-only command builds only the nine
classes it can return: each frozen dataclass costs about a millisecond to
create, and start-up is what these commands are judged on. `vault.results`
re-exports them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from vault.errors import IntegrityError, VaultError


@dataclass(frozen=True)
class RevisionSummary:
    """One line of `vault list`."""

    repo_id: str
    commit: str
    refs: list[str]
    status: str
    files: int
    bytes: int
    signed: bool
    fetched_at: str


@dataclass(frozen=True)
class FileInfo:
    path: str
    size: int
    sha256: str
    blake3: str
    runs_code: str = ""  # why loading it runs code (admitted by --allow-code); "" when it does not


@dataclass(frozen=True)
class SignatureInfo:
    kind: str  # model | provenance | upstream
    method: str  # key | certificate | sigstore
    signer: str  # the trust entry that admitted it
    key: str
    verified: bool


@dataclass(frozen=True)
class RevocationInfo:
    reason: str
    revoked_at: str
    signer: str
    carried_by: str | None = None  # the bundle (sha256 of its index) that carried it; None: revoked here


@dataclass(frozen=True)
class RevisionDetail:
    """`vault show`."""

    repo_id: str
    commit: str
    refs: list[str]
    status: str
    source: str
    fetched_at: str
    path: str | None  # the served directory; None when it is not served (revoked, damaged, removed)
    files: list[FileInfo]
    signatures: list[SignatureInfo]
    revocations: list[RevocationInfo]


@dataclass(frozen=True)
class ProvenanceFile:
    path: str
    size: int
    sha256: str
    published: Mapping[str, object] | None  # what the Hub published for it, as the provenance records
    matched: bool  # compared with that record, and equal to it
    # What was done, as the statement says: compared-with-hub, hashed-locally (nothing to compare
    # with), or did-not-match-hub (only in statements written before vault recorded checks).
    check: str = "hashed-locally"


@dataclass(frozen=True)
class ProvenanceReport:
    """`vault provenance`: where a revision came from, and the evidence."""

    repo_id: str
    commit: str
    status: str
    revocations: list[RevocationInfo]
    source: Mapping[str, object]  # the signed provenance's source, as signed
    requested_revision: str
    # Who named the commit: hub (resolved it), operator (asserted it, not fetched), content (vault
    # derived it from the files), or "" (a statement from before vault recorded it).
    commit_source: str
    refs_seen: Mapping[str, str]
    refs_now: list[str]
    fetched_at: str
    tool_version: str
    files: list[ProvenanceFile]
    signatures: list[SignatureInfo]


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    action: str
    subject: str
    detail: Mapping[str, object]
    hash: str
    by: str = ""  # who acted (the operator's login), as the event records it; "" in events from before


@dataclass(frozen=True)
class AuditReport:
    events: list[AuditEntry]
    chain_intact: bool
    first_broken_event: int | None
    broken_events: list[int] = field(default_factory=list)  # every break, in order

    def failure(self) -> VaultError | None:
        if self.chain_intact:
            return None
        ids = ", ".join(str(i) for i in self.broken_events) or str(self.first_broken_event)
        plural = "s" if len(self.broken_events) > 1 else ""
        return IntegrityError(
            f"audit trail: event{plural} {ids} do{'' if plural else 'es'} not match the hash chain"
        )
