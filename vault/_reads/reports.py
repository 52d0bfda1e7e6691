"""Read-only reports over the catalog: list, show, provenance, audit, as typed results text and JSON share.

List, show and provenance are plain SQL over a `CatalogReader`: they are what
operators run most, and must start in a blink (see `reader`). The audit
report, which re-hashes the chain anyway, stays on the ORM.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from vault._catalog import reads
from vault._catalog.reader import CatalogReader
from vault._catalog.reads import RevisionRow
from vault._statements.refs import Ref as RefSpec
from vault._store.blobs import Store
from vault.reports import (
    AuditEntry,
    AuditReport,
    FileInfo,
    ProvenanceFile,
    ProvenanceReport,
    RevisionDetail,
    RevisionSummary,
    RevocationInfo,
    SignatureInfo,
)
from vault.status import AVAILABLE

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


_LIST = """
SELECT r.id, m.repo_id, r."commit", r.status, r.fetched_at,
  (SELECT count(*) FROM files f WHERE f.revision_id = r.id),
  (SELECT coalesce(sum(f.size), 0) FROM files f WHERE f.revision_id = r.id),
  EXISTS (SELECT 1 FROM signatures s WHERE s.revision_id = r.id AND s.kind = 'model')
FROM revisions r JOIN models m ON m.id = r.model_id
ORDER BY m.repo_id, r.fetched_at, r.id
"""

_FILES = """
SELECT f.path, f.size, f.sha256, b.blake3, f.runs_code FROM files f JOIN blobs b ON b.sha256 = f.sha256
WHERE f.revision_id = :rid ORDER BY f.path
"""

_SIGNATURES = """
SELECT kind, method, signer, key_fingerprint, verified FROM signatures
WHERE revision_id = :rid ORDER BY id
"""

_REVOCATIONS = """
SELECT reason, revoked_at, signer, carried_by FROM revocations
WHERE repo_id = :repo_id AND "commit" = :commit ORDER BY id
"""


def list_revisions(reader: CatalogReader) -> list[RevisionSummary]:
    refs = reads.refs_by_revision(reader)
    return [
        RevisionSummary(
            repo_id=repo_id, commit=commit, refs=refs.get(int(rid), []), status=status,
            files=int(files), bytes=int(size), signed=bool(signed), fetched_at=fetched_at,
        )
        for rid, repo_id, commit, status, fetched_at, files, size, signed in reader.rows(_LIST)
    ]  # fmt: skip


def _signatures(reader: CatalogReader, rev: RevisionRow) -> list[SignatureInfo]:
    return [
        SignatureInfo(kind, method, signer, key, bool(verified))
        for kind, method, signer, key, verified in reader.rows(_SIGNATURES, {"rid": rev.id})
    ]


def _revocations(reader: CatalogReader, repo_id: str, commit: str) -> list[RevocationInfo]:
    rows = reader.rows(_REVOCATIONS, {"repo_id": repo_id, "commit": commit})
    return [RevocationInfo(reason, at, signer, carrier) for reason, at, signer, carrier in rows]


def _served_dir(store: Store, rev: RevisionRow) -> str | None:
    """Only a directory that is there and served: show never prints a path that was removed."""
    path = store.revision_dir(rev.repo_id, rev.commit)
    return str(path) if rev.status == AVAILABLE and path.is_dir() else None


def show_revision(reader: CatalogReader, ref: RefSpec, store: Store) -> RevisionDetail:
    rev = reads.find_revision(reader, ref, any_status=True)
    return RevisionDetail(
        repo_id=rev.repo_id,
        commit=rev.commit,
        refs=reads.refs_of(reader, rev.id),
        status=rev.status,
        source=rev.source,
        fetched_at=rev.fetched_at,
        path=_served_dir(store, rev),
        files=[
            FileInfo(path, int(size), sha, blake3, runs or "")
            for path, size, sha, blake3, runs in reader.rows(_FILES, {"rid": rev.id})
        ],
        signatures=_signatures(reader, rev),
        revocations=_revocations(reader, rev.repo_id, rev.commit),
    )


def provenance_report(reader: CatalogReader, ref: RefSpec) -> ProvenanceReport:
    from vault._statements.provenance import parse_provenance  # list and show never parse it

    rev = reads.find_revision(reader, ref, any_status=True)
    prov = parse_provenance(reads.provenance_statement(reader, rev.id))
    return ProvenanceReport(
        repo_id=prov.repo_id,
        commit=prov.commit,
        status=rev.status,
        revocations=_revocations(reader, prov.repo_id, prov.commit),
        source=prov.source,
        requested_revision=prov.requested_revision,
        commit_source=prov.commit_source.value,
        refs_seen=prov.refs,
        refs_now=reads.refs_of(reader, rev.id),
        fetched_at=prov.fetched_at,
        tool_version=prov.tool_version,
        files=[
            ProvenanceFile(f.path, f.size, f.sha256, f.published, f.matched, f.check.value)
            for f in sorted(prov.files.values(), key=lambda f: f.path)
        ],
        signatures=_signatures(reader, rev),
    )


def audit_report(session: Session) -> AuditReport:
    """Every audit event, and every one whose hash or link breaks the chain."""
    from sqlalchemy import select

    from vault import _audit as audit
    from vault._catalog.schema import AuditEvent

    rows = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    broken = audit.chain_breaks(rows)
    events = []
    for e in rows:
        detail = json.loads(e.detail)
        events.append(AuditEntry(e.id, e.at, e.action, e.subject, detail, e.hash, str(detail.get("by", ""))))
    return AuditReport(events, not broken, broken[0] if broken else None, broken)
