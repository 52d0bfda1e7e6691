"""The audit trail: append-only events, each hashing the one before it.

Altering or deleting an event breaks every later hash, which `vault audit`
can show. Events are written in the same transaction as the change they record.
"""

from __future__ import annotations

import getpass
import hashlib
import os
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from vault._catalog.rows import add_audit_event
from vault._catalog.schema import AuditEvent
from vault._catalog.write_mark import is_writing
from vault._clock import utc_now as utc_now
from vault._statements.manifest import canonical_json

GENESIS = "0" * 64


def event_hash(prev_hash: str, at: str, action: str, subject: str, detail: str) -> str:
    body = canonical_json(
        {"prev": prev_hash, "at": at, "action": action, "subject": subject, "detail": detail}
    )
    return hashlib.sha256(body).hexdigest()


# Any constant: the key of the PostgreSQL advisory lock that serializes appends to the chain.
_CHAIN_LOCK = 0x7661756C74  # "vault"


def acting_user() -> str:
    """Who is acting: the operator's login, or the uid when it has no name."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def record(session: Session, action: str, subject: str, **detail: Any) -> AuditEvent:
    """Append an event after the last one, in the caller's transaction; it names who acted (`by`).

    The chain is serialized by the database, not by a local lock: on PostgreSQL
    a transaction-scoped advisory lock orders appends from every host sharing
    the catalog, and on both a unique index on `prev_hash` (migration 0008)
    makes a fork impossible to commit: a writer that read a stale last event
    fails instead of branching the chain.
    """
    if not is_writing(session):
        raise AssertionError("audit events are recorded in Home.write(), with the change they record")
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK})
    last = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).first()
    prev = last.hash if last else GENESIS
    at = utc_now()
    body = canonical_json({"by": acting_user(), **detail}).decode()
    return add_audit_event(
        session, at, action, subject, body, prev, event_hash(prev, at, action, subject, body)
    )


def chain_breaks(events: list[AuditEvent]) -> list[int]:
    """The id of every event whose hash or link is wrong (empty if the chain holds).

    Each event is judged against the one recorded before it, so an edit, a
    deletion and a fork each show up where they are, not only the first.
    """
    breaks = []
    prev = GENESIS
    for e in events:
        if e.prev_hash != prev or e.hash != event_hash(e.prev_hash, e.at, e.action, e.subject, e.detail):
            breaks.append(e.id)
        prev = e.hash
    return breaks
