"""The audit trail: append-only events, each hashing the one before it.

Altering or deleting an event breaks every later hash, which `vault audit`
can show. Events are written in the same transaction as the change they record.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault._catalog.rows import add_audit_event
from vault._catalog.schema import AuditEvent
from vault._clock import utc_now as utc_now
from vault._statements.manifest import canonical_json

GENESIS = "0" * 64


def event_hash(prev_hash: str, at: str, action: str, subject: str, detail: str) -> str:
    body = canonical_json(
        {"prev": prev_hash, "at": at, "action": action, "subject": subject, "detail": detail}
    )
    return hashlib.sha256(body).hexdigest()


def record(session: Session, action: str, subject: str, **detail: Any) -> AuditEvent:
    last = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).first()
    prev = last.hash if last else GENESIS
    at = utc_now()
    text = canonical_json(detail).decode()
    return add_audit_event(
        session, at, action, subject, text, prev, event_hash(prev, at, action, subject, text)
    )


def verify_chain(events: list[AuditEvent]) -> int | None:
    """The id of the first event whose hash or link is wrong, or None if the chain holds."""
    prev = GENESIS
    for e in events:
        if e.prev_hash != prev or e.hash != event_hash(prev, e.at, e.action, e.subject, e.detail):
            return e.id
        prev = e.hash
    return None
