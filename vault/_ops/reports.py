"""Read-only reports over the catalog: list, show, provenance, audit, as typed results text and JSON share."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault import _audit as audit
from vault._catalog import queries
from vault._catalog.schema import AuditEvent, Model, Revision, Revocation
from vault._statements.provenance import parse_provenance
from vault._store.blobs import Store
from vault.results import (
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


def list_revisions(session: Session) -> list[RevisionSummary]:
    rows = session.execute(
        select(Model.repo_id, Revision).join(Revision).order_by(Model.repo_id, Revision.fetched_at)
    )
    return [
        RevisionSummary(
            repo_id=repo_id,
            commit=rev.commit,
            refs=queries.refs_of(session, rev),
            status=rev.status,
            files=len(rev.files),
            bytes=sum(f.size for f in rev.files),
            signed=any(sig.kind == "model" for sig in rev.signatures),
            fetched_at=rev.fetched_at,
        )
        for repo_id, rev in rows
    ]


def _signatures(rev: Revision) -> list[SignatureInfo]:
    return [SignatureInfo(s.kind, s.method, s.signer, s.key_fingerprint, s.verified) for s in rev.signatures]


def show_revision(session: Session, rev: Revision, store: Store) -> RevisionDetail:
    return RevisionDetail(
        repo_id=rev.model.repo_id,
        commit=rev.commit,
        refs=queries.refs_of(session, rev),
        status=rev.status,
        source=rev.source,
        fetched_at=rev.fetched_at,
        path=str(store.revision_dir(rev.model.repo_id, rev.commit)),
        files=[FileInfo(f.path, f.size, f.sha256, f.blob.blake3) for f in rev.files],
        signatures=_signatures(rev),
        revocations=_revocations(session, rev.model.repo_id, rev.commit),
    )


def _revocations(session: Session, repo_id: str, commit: str) -> list[RevocationInfo]:
    rows = session.scalars(
        select(Revocation)
        .where(Revocation.repo_id == repo_id, Revocation.commit == commit)
        .order_by(Revocation.id)
    )
    return [RevocationInfo(r.reason, r.revoked_at, r.signer) for r in rows]


def provenance_report(session: Session, rev: Revision) -> ProvenanceReport:
    prov = parse_provenance(rev.provenance_statement)
    return ProvenanceReport(
        repo_id=prov.repo_id,
        commit=prov.commit,
        status=rev.status,
        revocations=_revocations(session, prov.repo_id, prov.commit),
        source=prov.source,
        requested_revision=prov.requested_revision,
        refs_seen=prov.refs,
        refs_now=queries.refs_of(session, rev),
        fetched_at=prov.fetched_at,
        tool_version=prov.tool_version,
        files=[
            ProvenanceFile(f.path, f.size, f.sha256, f.published, f.matched)
            for f in sorted(prov.files.values(), key=lambda f: f.path)
        ],
        signatures=_signatures(rev),
    )


def audit_report(session: Session) -> AuditReport:
    """Every audit event, and the first one (if any) whose hash or link breaks the chain."""
    rows = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    broken = audit.verify_chain(rows)
    events = [AuditEntry(e.id, e.at, e.action, e.subject, json.loads(e.detail), e.hash) for e in rows]
    return AuditReport(events, broken is None, broken)
