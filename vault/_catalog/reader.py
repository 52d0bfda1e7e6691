"""Reading the catalog with plain SQL, so that commands which only read need no SQLAlchemy.

Importing SQLAlchemy's ORM costs more than a whole `vault list`, so every
read that a read-only command makes (the reports, the trust policy, the name
checks) is written once as SQL text with `:name` parameters and run through
a `CatalogReader`: the standard library's sqlite3 for the home's own SQLite
file, SQLAlchemy's `text()` for a PostgreSQL catalog. Both spell the same
SQL the same way, so one query serves both.

A SQLite reader that had to open the file `immutable` (see `sqlite_read`)
cannot see a writer arrive, so `read_sqlite` reruns the whole read when the
file changed under it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from vault._catalog.sqlite_read import FileState, open_for_reading

if TYPE_CHECKING:
    from sqlalchemy import Connection

T = TypeVar("T")
READ_ATTEMPTS = 5


class CatalogChanging(Exception):
    """An immutable read kept seeing the catalog change; the caller says what to do."""


class CatalogReader(Protocol):
    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]: ...


class SqliteReader:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, dict(params or {})).fetchall()


class EngineReader:
    """The same questions over a SQLAlchemy connection (PostgreSQL, or a writer's own session)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        from sqlalchemy import text

        return [tuple(r) for r in self.conn.execute(text(sql), dict(params or {}))]


def read_sqlite(db: Path, read: Callable[[CatalogReader], T]) -> T:
    """Run `read` on a fresh read-only connection; rerun it if an immutable open saw the file change.

    Raises `sqlite_read.CatalogUnreadable` when the file cannot be opened,
    `sqlite3.Error` from the queries, and `CatalogChanging` if writers kept
    coming for every attempt.
    """
    for _attempt in range(READ_ATTEMPTS):
        conn = open_for_reading(db)
        try:
            if not conn.immutable:
                return read(SqliteReader(conn.conn))
            before = FileState.of(db)
            answer = read(SqliteReader(conn.conn))
            if FileState.of(db) == before:
                return answer
        finally:
            conn.conn.close()
    raise CatalogChanging(f"{db}: the catalog kept changing while it was read")


def scalar(reader: CatalogReader, sql: str, params: Mapping[str, Any] | None = None) -> Any:
    """The first column of the first row, or None."""
    rows = reader.rows(sql, params)
    return rows[0][0] if rows else None
