"""The one place catalog rows for revisions, their files, blobs and signatures are built.

`add`, `pull`, `sign` and `import` all record the same facts; building the
rows here keeps them recorded the same way (a blob once, a signature once
per kind and key, sizes and LFS flags alike).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault._catalog.schema import Blob, File, Revision, Signature


@dataclass(frozen=True)
class FileRow:
    """One file of a revision: its path, content and what the Hub would call it."""

    path: str
    sha256: str
    size: int
    blake3: str
    git_sha1: str | None
    lfs: bool | None


@dataclass(frozen=True)
class SignatureRow:
    kind: str  # model | provenance | upstream
    method: str  # key | certificate | sigstore
    signer: str  # the trust entry (or "self", "(untrusted)")
    key_fingerprint: str
    verified: bool
    raw: bytes


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
        s.add(File(revision_id=row.id, path=f.path, sha256=f.sha256, size=f.size, lfs=f.lfs))
    s.flush()
    return row


def put_signature(s: Session, revision_id: int, sig: SignatureRow) -> None:
    """Record a signature; a second one of the same kind by the same key replaces the first."""
    existing = s.scalars(
        select(Signature).where(
            Signature.revision_id == revision_id,
            Signature.kind == sig.kind,
            Signature.key_fingerprint == sig.key_fingerprint,
        )
    ).first()
    if existing is not None:
        existing.raw = sig.raw
        return
    s.add(
        Signature(
            revision_id=revision_id, kind=sig.kind, method=sig.method, signer=sig.signer,
            key_fingerprint=sig.key_fingerprint, verified=sig.verified, raw=sig.raw,
        )
    )  # fmt: skip
