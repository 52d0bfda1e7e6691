"""Catalog look-ups shared by the commands; each raises NotFoundError with the REF it was given."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault._catalog.schema import Model, Ref, Revision, TrustEntryRow, TrustQuorum
from vault._signing.trust import TrustEntry, TrustPolicy
from vault._statements.refs import Ref as RefSpec
from vault._store.blobs import Store
from vault.errors import NotFoundError
from vault.status import AVAILABLE, unavailable_message


def get_model(session: Session, repo_id: str) -> Model | None:
    return session.scalars(select(Model).where(Model.repo_id == repo_id)).first()


def get_or_create_model(session: Session, repo_id: str) -> Model:
    model = get_model(session, repo_id)
    if model is None:
        model = Model(repo_id=repo_id)
        session.add(model)
        session.flush()
    return model


def get_revision(session: Session, model: Model, commit: str) -> Revision | None:
    return session.scalars(
        select(Revision).where(Revision.model_id == model.id, Revision.commit == commit)
    ).first()


def find_revision(session: Session, ref: RefSpec, any_status: bool = False) -> Revision:
    """The revision a REF names; only available ones unless `any_status` (show, provenance)."""
    model = get_model(session, ref.repo_id)
    if model is None:
        raise NotFoundError(f"{ref.repo_id}: no such model in this vault")
    if ref.is_commit:
        rev = get_revision(session, model, ref.revision)
    else:
        row = session.get(Ref, (model.id, ref.revision))
        rev = row.revision if row else None
    if rev is None:
        raise NotFoundError(f"{ref}: no such revision in this vault")
    if rev.status != AVAILABLE and not any_status:
        raise NotFoundError(unavailable_message(str(ref), rev.commit, rev.status))
    return rev


def revision_path(session: Session, store: Store, ref: RefSpec) -> Path:
    """The directory of the available revision a REF names (what `vault path` prints)."""
    rev = find_revision(session, ref)
    path = store.revision_dir(ref.repo_id, rev.commit)
    if not path.is_dir():
        raise NotFoundError(f"{ref}: catalogued but its directory is missing (run 'vault import' again)")
    return path


def set_ref(session: Session, model: Model, name: str, revision: Revision) -> None:
    row = session.get(Ref, (model.id, name))
    if row is None:
        session.add(Ref(model_id=model.id, name=name, revision_id=revision.id))
    else:
        row.revision_id = revision.id


def refs_of(session: Session, revision: Revision) -> list[str]:
    return sorted(session.scalars(select(Ref.name).where(Ref.revision_id == revision.id)))


def trust_entries(session: Session) -> list[TrustEntry]:
    rows = session.scalars(select(TrustEntryRow).order_by(TrustEntryRow.name))
    return [
        TrustEntry(
            r.name, r.public_key_pem, r.fingerprint, tuple(json.loads(r.scopes)), r.expires_at,
            r.kind, r.identity, r.issuer, r.trusted_root,
        )
        for r in rows
    ]  # fmt: skip


def trust_quorums(session: Session) -> dict[str, int]:
    return {q.scope: q.required for q in session.scalars(select(TrustQuorum).order_by(TrustQuorum.scope))}


def trust_policy(session: Session) -> TrustPolicy:
    from vault._audit import utc_now

    return TrustPolicy(trust_entries(session), trust_quorums(session), utc_now())


def revisions_present(session: Session, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    present = set()
    for repo_id, commit in pairs:
        model = get_model(session, repo_id)
        # Any status counts: a revoked revision is catalogued, and must stay revoked.
        if model is not None and get_revision(session, model, commit) is not None:
            present.add((repo_id, commit))
    return present
