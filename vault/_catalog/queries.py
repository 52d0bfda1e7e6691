"""ORM look-ups for the commands that write; what only reads is SQL text in `reads`."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault._catalog import reads
from vault._catalog.reader import EngineReader
from vault._catalog.schema import Model, Ref, Revision
from vault._statements.refs import Ref as RefSpec


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
    """The ORM row of the revision a REF names, found as `reads.find_revision` finds it."""
    row = reads.find_revision(EngineReader(session.connection()), ref, any_status)
    rev = session.get(Revision, row.id)
    assert rev is not None  # just read in this session's own transaction
    return rev


def set_ref(session: Session, model: Model, name: str, revision: Revision) -> None:
    row = session.get(Ref, (model.id, name))
    if row is None:
        session.add(Ref(model_id=model.id, name=name, revision_id=revision.id))
    else:
        row.revision_id = revision.id


def revisions_present(session: Session, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    present = set()
    for repo_id, commit in pairs:
        model = get_model(session, repo_id)
        # Any status counts: a revoked revision is catalogued, and must stay revoked.
        if model is not None and get_revision(session, model, commit) is not None:
            present.add((repo_id, commit))
    return present
