"""Signed revocations: a revision that must stop resolving everywhere.

`vault revoke` on the connected side signs a small in-toto statement naming
the repo and commit and why; every later bundle carries all known
revocations; an import that verifies one (a trusted key in scope for that repo)
marks the revision revoked, so `vault path`, `vault.resolve()`, the Hugging
Face cache view and `vault serve` stop offering it. Revocations only ever take
content away, so one trusted signer suffices even where a quorum is required
to add.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault import _audit as audit
from vault._catalog import queries
from vault._catalog.rows import add_revocation
from vault._catalog.schema import Model, Revision, Revocation
from vault._catalog.schema import Ref as RefRow
from vault._ops.views import publish
from vault._statements.paths import unshowable
from vault._statements.refs import Ref
from vault._statements.revocation import RevocationClaim, build_revocation
from vault.errors import NotFoundError, UsageError
from vault.results import RevokeResult
from vault.status import REVOKED

if TYPE_CHECKING:
    from vault._home import Home
    from vault._signing.signer import Signer


def apply_revocation(
    session: Session,
    claim: RevocationClaim,
    signer: str,
    fingerprint: str,
    raw: bytes,
    trusted_root: bytes | None = None,
    carried_by: str | None = None,
) -> bool:
    """Record the revocation and mark the revision revoked; False if it was already known.

    `carried_by`: the bundle (sha256 of its index) it came in, when an import applies it.
    """
    added = add_revocation(
        session, claim.repo_id, claim.commit, claim.reason, claim.revoked_at, signer, fingerprint, raw,
        trusted_root, carried_by,
    )  # fmt: skip
    model = queries.get_model(session, claim.repo_id)
    rev = queries.get_revision(session, model, claim.commit) if model is not None else None
    changed = added
    if rev is not None and rev.status != REVOKED:
        rev.status = REVOKED
        changed = True
    if changed:
        where = {"bundle": carried_by} if carried_by else {}
        audit.record(session, "revoke", f"{claim.repo_id}@{claim.commit}", reason=claim.reason, signer=signer,
                     **where)  # fmt: skip
    return changed


def is_revoked(session: Session, repo_id: str, commit: str) -> bool:
    return (
        session.scalars(
            select(Revocation.id).where(Revocation.repo_id == repo_id, Revocation.commit == commit)
        ).first()
        is not None
    )


def checked_reason(reason: str) -> str:
    """Checked before the key is even loaded: a revocation that does not say why is refused first."""
    if not reason.strip():
        raise UsageError("--reason must say why the revision is revoked")
    if unshowable(reason.strip()):
        raise UsageError("--reason must be one line of text (no control, format or separator characters)")
    return reason.strip()


def revoke(vault: Home, ref: Ref, reason: str, signer: Signer) -> RevokeResult:
    """Connected side: sign a revocation for REF's revision (as `vault sign` would) and apply it here.

    `reason` comes through `checked_reason`.
    """
    fingerprint = signer.fingerprint
    with vault.writer_lock():
        with vault.write() as w:
            s = w.session
            model = queries.get_model(s, ref.repo_id)
            rev = _any_revision(s, model, ref)
            claim = RevocationClaim(ref.repo_id, rev.commit, reason, audit.utc_now())
            raw = signer.sign(build_revocation(claim))
            apply_revocation(s, claim, "self", fingerprint, raw, signer.trusted_root)
        publish(vault, [ref.repo_id])  # its directory goes at once: a path handed out earlier stops loading
    return RevokeResult(ref.repo_id, claim.commit, claim.reason, fingerprint)


def _any_revision(s: Session, model: Model | None, ref: Ref) -> Revision:
    if model is None:
        raise NotFoundError(f"{ref.repo_id}: no such model in this vault")
    if ref.is_commit:
        rev = queries.get_revision(s, model, ref.revision)
    else:
        row = s.get(RefRow, (model.id, ref.revision))
        rev = row.revision if row is not None else None
    if rev is None:
        raise NotFoundError(f"{ref}: no such revision in this vault")
    return rev


def all_revocations(session: Session) -> list[Revocation]:
    return list(
        session.scalars(select(Revocation).order_by(Revocation.repo_id, Revocation.commit, Revocation.id))
    )
