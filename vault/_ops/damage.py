"""Damage found by `vault scrub`, and its repair by a later import.

A blob whose stored copy is missing, resized or changed is recorded on its
catalog row, and every available revision using it becomes `damaged`: the
resolver, `vault path`, the HF cache view and `vault serve` stop handing it
out (a wrong byte served is worse than none). An import that carries the
blob verifies it, swaps it into the store, clears the record, and the
revisions whose blobs are all whole again become available, with their views
rebuilt around the new file. Revoked revisions stay revoked throughout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault import _audit as audit
from vault._catalog import reads
from vault._catalog.reader import EngineReader
from vault._catalog.schema import Blob, File, Model, Revision
from vault._ops.views import publish
from vault.status import AVAILABLE, DAMAGED

if TYPE_CHECKING:
    from vault._home import Home

# (repo_id, commit, [(path, sha256), ...]): enough to rebuild one revision's views.
RevisionFiles = tuple[str, str, list[tuple[str, str]]]


def damaged_blobs(session: Session) -> dict[str, str]:
    """sha256 -> what scrub found, as this session (and its pending writes) sees it."""
    return reads.damaged_blobs(EngineReader(session.connection()))


def _revisions_using(session: Session, shas: set[str]) -> list[tuple[str, Revision]]:
    if not shas:
        return []
    rows = session.execute(
        select(Model.repo_id, Revision)
        .join(Revision, Revision.model_id == Model.id)
        .join(File, File.revision_id == Revision.id)
        .where(File.sha256.in_(sorted(shas)))
        .distinct()
        .order_by(Model.repo_id, Revision.commit)
    ).all()
    return [(repo_id, rev) for repo_id, rev in rows]


def record_damage(session: Session, findings: dict[str, str]) -> list[str]:
    """Mark blobs damaged and their available revisions `damaged`; returns the repo ids touched."""
    now = audit.utc_now()
    for sha, problem in sorted(findings.items()):
        blob = session.get(Blob, sha)
        if blob is not None and blob.damage != problem:
            blob.damage, blob.damaged_at = problem, now
            audit.record(session, "blob.damaged", sha, problem=problem)
    touched: set[str] = set()
    for repo_id, rev in _revisions_using(session, set(findings)):
        if rev.status == AVAILABLE:
            rev.status = DAMAGED
            touched.add(repo_id)
            audit.record(session, "revision.damaged", f"{repo_id}@{rev.commit}")
    return sorted(touched)


def clear_damage(session: Session, repaired: set[str], how: str) -> list[RevisionFiles]:
    """The blobs are whole again: restore revisions none of whose blobs is still damaged.

    Returns (repo_id, commit, files) of every revision that uses a repaired
    blob, restored or not, so the caller can rebuild its views around the new files.
    """
    for sha in sorted(repaired):
        blob = session.get(Blob, sha)
        if blob is not None and blob.damage is not None:
            audit.record(session, "blob.repaired", sha, was=blob.damage, by=how)
            blob.damage = blob.damaged_at = None
    session.flush()
    still_damaged = set(damaged_blobs(session))
    views: list[RevisionFiles] = []
    for repo_id, rev in _revisions_using(session, repaired):
        files = [(f.path, f.sha256) for f in rev.files]
        if rev.status == DAMAGED and not still_damaged & {sha for _p, sha in files}:
            rev.status = AVAILABLE
            audit.record(session, "revision.repaired", f"{repo_id}@{rev.commit}")
        if rev.status == AVAILABLE:
            views.append((repo_id, rev.commit, files))
    return views


def rebuild_views(vault: Home, views: list[RevisionFiles]) -> None:
    """Directory and HF views of repaired revisions, relinked to the new store files (lock held).

    The old directories hold links to the damaged inodes: they go, and
    `publish` builds them again from the store, like any missing view.
    """
    for repo_id, commit, _files in views:
        vault.store.remove_revision_view(repo_id, commit)
    publish(vault, sorted({repo_id for repo_id, _c, _f in views}))
