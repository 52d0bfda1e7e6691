"""Read-only reports over the catalog: list, show, provenance. Plain dicts, so text and JSON share them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.catalog import queries
from vault.catalog.schema import Model, Revision, Revocation
from vault.provenance import parse_provenance

if TYPE_CHECKING:
    from vault.home import Home


def list_revisions(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Model.repo_id, Revision).join(Revision).order_by(Model.repo_id, Revision.fetched_at)
    )
    return [
        {
            "repo_id": repo_id,
            "commit": rev.commit,
            "refs": queries.refs_of(session, rev),
            "status": rev.status,
            "files": len(rev.files),
            "bytes": sum(f.size for f in rev.files),
            "signed": any(sig.kind == "model" for sig in rev.signatures),
            "fetched_at": rev.fetched_at,
        }
        for repo_id, rev in rows
    ]


def _signatures(rev: Revision) -> list[dict[str, Any]]:
    return [
        {
            "kind": s.kind,
            "method": s.method,
            "signer": s.signer,
            "key": s.key_fingerprint,
            "verified": s.verified,
        }
        for s in rev.signatures
    ]


def show_revision(session: Session, rev: Revision, vault: Home) -> dict[str, Any]:
    return {
        "repo_id": rev.model.repo_id,
        "commit": rev.commit,
        "refs": queries.refs_of(session, rev),
        "status": rev.status,
        "source": rev.source,
        "fetched_at": rev.fetched_at,
        "path": str(vault.store.revision_dir(rev.model.repo_id, rev.commit)),
        "files": [
            {"path": f.path, "size": f.size, "sha256": f.sha256, "blake3": f.blob.blake3} for f in rev.files
        ],
        "signatures": _signatures(rev),
        "revocations": _revocations(session, rev.model.repo_id, rev.commit),
    }


def _revocations(session: Session, repo_id: str, commit: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Revocation)
        .where(Revocation.repo_id == repo_id, Revocation.commit == commit)
        .order_by(Revocation.id)
    )
    return [{"reason": r.reason, "revoked_at": r.revoked_at, "signer": r.signer} for r in rows]


def provenance_report(session: Session, rev: Revision) -> dict[str, Any]:
    prov = parse_provenance(rev.provenance_statement)
    return {
        "repo_id": prov.repo_id,
        "commit": prov.commit,
        "status": rev.status,
        "revocations": _revocations(session, prov.repo_id, prov.commit),
        "source": prov.source,
        "requested_revision": prov.requested_revision,
        "refs_seen": prov.refs,
        "refs_now": queries.refs_of(session, rev),
        "fetched_at": prov.fetched_at,
        "tool_version": prov.tool_version,
        "files": [
            {
                "path": f.path,
                "size": f.size,
                "sha256": f.sha256,
                "published": f.published,
                "matched": f.matched,
            }
            for f in sorted(prov.files.values(), key=lambda f: f.path)
        ],
        "signatures": _signatures(rev),
    }
