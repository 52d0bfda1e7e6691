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

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault import _audit as audit
from vault._catalog import queries
from vault._catalog.rows import add_revocation
from vault._catalog.schema import Model, Revision, Revocation
from vault._catalog.schema import Ref as RefRow
from vault._signing.dsse import sign_payload
from vault._signing.keys import key_hint, load_private_key
from vault._statements.manifest import STATEMENT_TYPE, canonical_json
from vault._statements.refs import Ref, check_repo_id, is_commit
from vault._store.views import publish
from vault.errors import NotFoundError, TrustError, UsageError
from vault.results import RevokeResult
from vault.status import REVOKED

if TYPE_CHECKING:
    from pathlib import Path

    from vault._home import Home
    from vault._signing.trust import TrustPolicy

REVOCATION_PREDICATE_TYPE = "urn:vault:revocation:v1"


@dataclass(frozen=True)
class RevocationClaim:
    repo_id: str
    commit: str
    reason: str
    revoked_at: str


def build_revocation(claim: RevocationClaim) -> bytes:
    return canonical_json(
        {
            "_type": STATEMENT_TYPE,
            "subject": [{"name": claim.repo_id, "digest": {"gitCommit": claim.commit}}],
            "predicateType": REVOCATION_PREDICATE_TYPE,
            "predicate": {
                "repo_id": claim.repo_id,
                "commit": claim.commit,
                "reason": claim.reason,
                "revoked_at": claim.revoked_at,
            },
        }
    )


def parse_revocation(payload: bytes, origin: str) -> RevocationClaim:
    try:
        stmt = json.loads(payload)
        pred = stmt["predicate"]
        if stmt["_type"] != STATEMENT_TYPE or stmt["predicateType"] != REVOCATION_PREDICATE_TYPE:
            raise ValueError("not a vault revocation")
        claim = RevocationClaim(
            check_repo_id(pred["repo_id"]), pred["commit"], str(pred["reason"]), str(pred["revoked_at"])
        )
        subject = stmt["subject"][0]
        if (subject["name"], subject["digest"]["gitCommit"]) != (claim.repo_id, claim.commit):
            raise ValueError("subject and predicate disagree")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError, UsageError) as exc:
        raise TrustError(f"{origin}: malformed revocation ({exc})") from None
    if not is_commit(claim.commit):
        raise TrustError(f"{origin}: revocation commit {claim.commit!r} is not 40 hex digits")
    return claim


def verify_revocation(policy: TrustPolicy, raw: bytes, origin: str) -> tuple[RevocationClaim, Any]:
    """Verify under a trusted key in scope for the repo the revocation names."""
    from vault._signing.dsse import parse_bundle

    unverified = parse_revocation(parse_bundle(raw, origin).payload, origin)
    verified = policy.verify(raw, unverified.repo_id, origin)
    return parse_revocation(verified.payload, origin), verified


def apply_revocation(
    session: Session, claim: RevocationClaim, signer: str, fingerprint: str, raw: bytes
) -> bool:
    """Record the revocation and mark the revision revoked; False if it was already known."""
    added = add_revocation(
        session, claim.repo_id, claim.commit, claim.reason, claim.revoked_at, signer, fingerprint, raw
    )
    model = queries.get_model(session, claim.repo_id)
    rev = queries.get_revision(session, model, claim.commit) if model is not None else None
    changed = added
    if rev is not None and rev.status != REVOKED:
        rev.status = REVOKED
        changed = True
    if changed:
        audit.record(session, "revoke", f"{claim.repo_id}@{claim.commit}", reason=claim.reason, signer=signer)
    return changed


def is_revoked(session: Session, repo_id: str, commit: str) -> bool:
    return (
        session.scalars(
            select(Revocation.id).where(Revocation.repo_id == repo_id, Revocation.commit == commit)
        ).first()
        is not None
    )


def revoke(vault: Home, ref: Ref, reason: str, key_path: Path, password: bytes | None = None) -> RevokeResult:
    """Connected side: sign a revocation for REF's revision and apply it here."""
    if not reason.strip():
        raise UsageError("--reason must say why the revision is revoked")
    key = load_private_key(key_path, password)
    fingerprint = key_hint(key.public_key())
    with vault.writer_lock():
        with vault.session() as s, s.begin():
            model = queries.get_model(s, ref.repo_id)
            rev = _any_revision(s, model, ref)
            claim = RevocationClaim(ref.repo_id, rev.commit, reason.strip(), audit.utc_now())
            raw = sign_payload(key, build_revocation(claim))
            apply_revocation(s, claim, "self", fingerprint, raw)
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
