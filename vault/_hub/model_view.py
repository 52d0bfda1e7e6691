"""A catalogued model seen the way the Hub would show it: refs, commits, and per-file Hub metadata.

Both the Hugging Face cache view and `vault serve` are built from this, so they
can never disagree with each other or with the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault._catalog import queries
from vault._catalog.schema import Blob, File, Model, Ref, Revision
from vault._hub.metadata import HubEntry, git_blob_sha1, is_lfs
from vault._store.blobs import Store
from vault.status import AVAILABLE


@dataclass(frozen=True)
class HubModel:
    repo_id: str
    revisions: dict[str, list[HubEntry]]  # commit -> files, sorted by path
    refs: dict[str, str]  # ref name -> commit


def hub_entries(session: Session, store: Store, revision_id: int) -> list[HubEntry]:
    rows = session.execute(
        select(File.path, File.size, File.sha256, File.lfs, Blob.git_sha1)
        .join(Blob, Blob.sha256 == File.sha256)
        .where(File.revision_id == revision_id)
        .order_by(File.path)
    )
    entries = []
    for path, size, sha256, lfs, git_sha1 in rows:
        lfs = is_lfs(path, size) if lfs is None else lfs
        if not lfs and git_sha1 is None:
            # Catalogued before git ids were kept: small by definition, so read it once.
            git_sha1 = git_blob_sha1(store.blob_path(sha256).read_bytes())
        entries.append(HubEntry(path, size, sha256, lfs, git_sha1))
    return entries


def hub_model(session: Session, store: Store, repo_id: str) -> HubModel | None:
    model = queries.get_model(session, repo_id)
    if model is None:
        return None
    revs = session.execute(
        select(Revision.id, Revision.commit).where(
            Revision.model_id == model.id, Revision.status == AVAILABLE
        )
    ).all()
    revisions = {commit: hub_entries(session, store, rev_id) for rev_id, commit in revs}
    refs = {
        name: commit
        for name, commit in session.execute(
            select(Ref.name, Revision.commit)
            .join(Revision, Revision.id == Ref.revision_id)
            .where(Ref.model_id == model.id, Revision.status == AVAILABLE)
        )
    }
    return HubModel(repo_id, revisions, refs)


def all_repo_ids(session: Session) -> list[str]:
    return list(session.scalars(select(Model.repo_id).order_by(Model.repo_id)))
