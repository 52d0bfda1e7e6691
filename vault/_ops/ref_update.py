"""`vault ref set`: point a ref at a revision the vault holds, on the operator's word.

Refs normally move only as signed provenance says, and never back to an
older fetch (the rollback defence). An operator who must roll back after the
fact (a new revision misbehaves, a revocation is not warranted) moves the ref
here; moving it to an older fetch needs --allow-downgrade, and every move is
audited with the old and the new commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vault import _audit as audit
from vault._catalog import queries
from vault._catalog.schema import Ref as RefRow
from vault._ops.views import publish
from vault._statements.refs import Ref, is_commit
from vault.errors import ConflictError, NotFoundError, UsageError
from vault.results import RefMove
from vault.status import AVAILABLE, unavailable_message

if TYPE_CHECKING:
    from vault._home import Home


def move_ref(vault: Home, ref: Ref, commit: str, allow_downgrade: bool = False) -> RefMove:
    if ref.is_commit:
        raise UsageError(f"{ref}: name a ref (org/name@main), not a commit")
    if not is_commit(commit):
        raise UsageError(f"{commit!r}: the target must be a 40-hex commit the vault holds")
    with vault.writer_lock():
        with vault.write() as w:
            s = w.session
            model = queries.get_model(s, ref.repo_id)
            target = queries.get_revision(s, model, commit) if model is not None else None
            if model is None or target is None:
                raise NotFoundError(f"{ref.repo_id}@{commit}: no such revision in this vault")
            if target.status != AVAILABLE:
                raise ConflictError(unavailable_message(f"{ref.repo_id}@{commit}", commit, target.status))
            current = s.get(RefRow, (model.id, ref.revision))
            old = current.revision if current is not None else None
            downgrade = old is not None and old.fetched_at > target.fetched_at
            if downgrade and not allow_downgrade:
                assert old is not None
                raise ConflictError(
                    f"{ref}: points at {old.commit} (fetched {old.fetched_at}); {commit} was fetched "
                    f"earlier ({target.fetched_at}): moving a ref back needs --allow-downgrade"
                )
            old_commit = old.commit if old is not None else None
            if old_commit != commit:
                queries.set_ref(s, model, ref.revision, target)
                action = "ref.downgrade" if downgrade else "ref.set"
                audit.record(s, action, str(ref), old=old_commit, new=commit, by="operator")
        publish(vault, [ref.repo_id])
    return RefMove(ref.repo_id, ref.revision, old_commit, commit, downgrade)
