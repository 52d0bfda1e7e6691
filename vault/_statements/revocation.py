"""Revocation statements: what `vault revoke` signs and every import verifies.

A small in-toto statement naming the repo and commit and why. Apart from the
operation (`_ops.revocation`, which writes the catalog) so that `vault
verify` can check revocations without loading SQLAlchemy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from vault._statements.manifest import STATEMENT_TYPE, canonical_json
from vault._statements.paths import unshowable
from vault._statements.refs import check_repo_id, is_commit
from vault.errors import TrustError, UsageError

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


def _shown(value: object) -> str:
    """A string every refusal of the revision prints (`vault path`, resolve(), serve's error header):
    a newline or an escape in it would forge a line in the operator's or the server's log."""
    if not isinstance(value, str) or unshowable(value):
        raise ValueError("reason and time must be strings without control, format or separator characters")
    return value


def parse_revocation(payload: bytes, origin: str) -> RevocationClaim:
    try:
        stmt = json.loads(payload)
        pred = stmt["predicate"]
        if stmt["_type"] != STATEMENT_TYPE or stmt["predicateType"] != REVOCATION_PREDICATE_TYPE:
            raise ValueError("not a vault revocation")
        claim = RevocationClaim(
            check_repo_id(pred["repo_id"]), pred["commit"], _shown(pred["reason"]), _shown(pred["revoked_at"])
        )
        subject = stmt["subject"][0]
        if (subject["name"], subject["digest"]["gitCommit"]) != (claim.repo_id, claim.commit):
            raise ValueError("subject and predicate disagree")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError, UsageError) as exc:
        raise TrustError(f"{origin}: malformed revocation ({exc})") from None
    if not is_commit(claim.commit):
        raise TrustError(f"{origin}: revocation commit {claim.commit!r} is not 40 hex digits")
    return claim
