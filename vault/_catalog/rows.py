"""The one place catalog rows are built: revisions with their files, blobs and signatures, trust
entries and quorum rules, revocations, imported bundles, audit events.

`add`, `pull`, `sign` and `import` all record the same facts; building the
rows here keeps them recorded the same way (a blob once, a signature once
per kind and key, sizes and LFS flags alike).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault._catalog.schema import (
    AuditEvent,
    Blob,
    File,
    ImportedBundle,
    Revision,
    Revocation,
    Signature,
    SigstoreRoot,
    TrustEntryRow,
    TrustQuorum,
)


@dataclass(frozen=True)
class FileRow:
    """One file of a revision: its path, content and what the Hub would call it."""

    path: str
    sha256: str
    size: int
    blake3: str
    git_sha1: str | None
    lfs: bool | None
    runs_code: str = ""  # why loading it runs code, computed from its checked bytes and name


@dataclass(frozen=True)
class SignatureRow:
    kind: str  # model | provenance | upstream
    method: str  # key | certificate | sigstore
    signer: str  # the trust entry (or "self", "(untrusted)")
    key_fingerprint: str
    verified: bool
    raw: bytes
    trusted_root: bytes | None = None  # a Sigstore signature's trusted_root.json, carried in bundles


def stored_blake3(digest: str | None, path: str) -> str:
    """A stored blob always has its blake3 (scrub checks by it); a digest without one never reaches here."""
    if digest is None:
        raise AssertionError(f"{path}: hashed without blake3, cannot be stored")
    return digest


def put_sigstore_root(s: Session, raw: bytes | None) -> str | None:
    """Keep a trusted_root.json once, by its sha256; the sha256 (None for no root)."""
    if raw is None:
        return None
    sha = hashlib.sha256(raw).hexdigest()
    if s.get(SigstoreRoot, sha) is None:
        s.add(SigstoreRoot(sha256=sha, raw=raw))
    return sha


def add_revision(
    s: Session,
    model_id: int,
    commit: str,
    source: str,
    status: str,
    fetched_at: str,
    created_at: str,
    model_statement: bytes,
    provenance_statement: bytes,
    files: list[FileRow],
) -> Revision:
    """A revision with its files, and each blob it needs once; flushed, so it has an id."""
    row = Revision(
        model_id=model_id, commit=commit, source=source, status=status, fetched_at=fetched_at,
        created_at=created_at, model_statement=model_statement, provenance_statement=provenance_statement,
    )  # fmt: skip
    s.add(row)
    s.flush()
    for f in sorted(files, key=lambda f: f.path):
        if s.get(Blob, f.sha256) is None:
            s.add(Blob(sha256=f.sha256, size=f.size, blake3=f.blake3, git_sha1=f.git_sha1))
            s.flush()
        s.add(
            File(
                revision_id=row.id, path=f.path, sha256=f.sha256, size=f.size, lfs=f.lfs,
                runs_code=f.runs_code or None,
            )
        )  # fmt: skip
    s.flush()
    return row


def put_signature(s: Session, revision_id: int, sig: SignatureRow, *, replaces_own: bool = False) -> None:
    """Record a signature once; unverified bytes never replace or shadow verified ones.

    An unverified signature names whatever key its author wrote, so it is kept
    (as evidence, flagged) under the digest of its own bytes, never under the
    key it claims. With `replaces_own` (`vault sign` re-signing), a verified
    signature replaces this vault's earlier one of the same kind by the same key.
    """
    rows = s.scalars(
        select(Signature).where(Signature.revision_id == revision_id, Signature.kind == sig.kind)
    ).all()
    if any(bytes(row.raw) == sig.raw for row in rows):
        return
    fingerprint = sig.key_fingerprint if sig.verified else hashlib.sha256(sig.raw).hexdigest()
    same_signer = [r for r in rows if r.verified and sig.verified and r.key_fingerprint == fingerprint]
    if same_signer and not replaces_own:
        return  # one signature per signer and kind: the first verified one stays
    root = put_sigstore_root(s, sig.trusted_root)
    if same_signer:
        row = same_signer[0]
        row.raw, row.method, row.trusted_root_sha256 = sig.raw, sig.method, root
        return
    s.add(
        Signature(
            revision_id=revision_id, kind=sig.kind, method=sig.method, signer=sig.signer,
            key_fingerprint=fingerprint, verified=sig.verified, raw=sig.raw, trusted_root_sha256=root,
        )
    )  # fmt: skip


def add_trust_entry(
    s: Session,
    name: str,
    pem: bytes,
    fingerprint: str,
    scopes: list[str],
    created_at: str,
    expires_at: str | None,
    kind: str,
    identity: str | None,
    issuer: str | None,
    trusted_root: bytes | None,
    each_identity_counts: bool = False,
) -> None:
    s.add(
        TrustEntryRow(
            name=name, public_key_pem=pem, fingerprint=fingerprint, scopes=json.dumps(scopes),
            created_at=created_at, expires_at=expires_at, kind=kind, identity=identity, issuer=issuer,
            trusted_root=trusted_root, each_identity_counts=each_identity_counts,
        )
    )  # fmt: skip


def set_quorum(s: Session, scope: str, required: int, created_at: str) -> None:
    """Require `required` distinct signers for `scope`; 1 removes the rule."""
    row = s.get(TrustQuorum, scope)
    if required == 1:
        if row is not None:
            s.delete(row)
    elif row is None:
        s.add(TrustQuorum(scope=scope, required=required, created_at=created_at))
    else:
        row.required = required


def add_revocation(
    s: Session,
    repo_id: str,
    commit: str,
    reason: str,
    revoked_at: str,
    signer: str,
    fingerprint: str,
    raw: bytes,
    trusted_root: bytes | None = None,
    carried_by: str | None = None,
) -> bool:
    """Record a signed revocation; False if this signer's revocation of that revision is already here."""
    known = s.scalars(
        select(Revocation).where(
            Revocation.repo_id == repo_id,
            Revocation.commit == commit,
            Revocation.key_fingerprint == fingerprint,
        )
    ).first()
    if known is not None:
        return False
    s.add(
        Revocation(
            repo_id=repo_id, commit=commit, reason=reason, revoked_at=revoked_at, signer=signer,
            key_fingerprint=fingerprint, raw=raw, trusted_root_sha256=put_sigstore_root(s, trusted_root),
            carried_by=carried_by,
        )
    )  # fmt: skip
    return True


def add_imported_bundle(
    s: Session, index_sha256: str, parts: int, operator: str, imported_at: str, revisions: list[str]
) -> None:
    s.add(
        ImportedBundle(
            index_sha256=index_sha256, parts=parts, operator=operator, imported_at=imported_at,
            revisions=json.dumps(revisions),
        )
    )  # fmt: skip


def add_audit_event(
    s: Session, at: str, action: str, subject: str, detail: str, prev_hash: str, hash_: str
) -> AuditEvent:
    event = AuditEvent(at=at, action=action, subject=subject, detail=detail, prev_hash=prev_hash, hash=hash_)
    s.add(event)
    return event
