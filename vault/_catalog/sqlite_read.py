"""Opening the SQLite catalog for reading, by whoever can read it.

Inference servers run as their own user and containers mount the home
read-only, so a reader often cannot write the home. SQLite in WAL mode then
needs care:

- a reader that may write the home opens read-write but `query_only`: a
  read-only open of a WAL database would leave its -wal/-shm files behind;
- otherwise a `mode=ro` open works whenever the -wal and -shm files exist
  (a writer is connected, or one was killed), even if they are not ours;
- when they do not exist, the last writer checkpointed everything into the
  main file and removed them, and a reader that cannot create them can only
  open the file as `immutable`. That is exact while no writer starts, so
  callers that can (the resolver) check the file did not change under them
  and retry; the window is one query long.

Standard library only: `vault path` and `vault.resolve()` use this without
importing SQLAlchemy.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

BUSY_TIMEOUT_MS = 30_000


class CatalogUnreadable(Exception):
    """The catalog exists but this process cannot open it for reading."""


@dataclass(frozen=True)
class FileState:
    """What changes when a writer touches the catalog: the main file and whether a WAL exists."""

    ino: int
    size: int
    mtime_ns: int
    wal: bool

    @classmethod
    def of(cls, db: Path) -> FileState:
        st = db.stat()
        return cls(st.st_ino, st.st_size, st.st_mtime_ns, _wal_path(db).exists())


@dataclass
class ReadConnection:
    conn: sqlite3.Connection
    # Opened `immutable`: SQLite takes no locks and will not see later writes,
    # so the connection must not be cached, and a read is only good if
    # `FileState.of(db)` is unchanged afterwards.
    immutable: bool


def _wal_path(db: Path) -> Path:
    return db.with_name(db.name + "-wal")


def _open(uri: str) -> sqlite3.Connection:
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA query_only=1")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the WAL now, not mid-query
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def open_for_reading(db: Path) -> ReadConnection:
    """A connection that can only read, opened the least invasive way this user may."""
    uri = db.absolute().as_uri()
    try:
        if os.access(db, os.W_OK) and os.access(db.parent, os.W_OK):
            return ReadConnection(_open(uri), immutable=False)
        try:
            return ReadConnection(_open(uri + "?mode=ro"), immutable=False)
        except sqlite3.OperationalError:
            wal = _wal_path(db)
            if wal.exists() and wal.stat().st_size > 0:
                raise CatalogUnreadable(
                    f"{db}: a writer's changes are pending in {wal.name}, which this user cannot "
                    "open; retry once the writer has finished"
                ) from None
            return ReadConnection(_open(uri + "?immutable=1"), immutable=True)
    except sqlite3.Error as exc:
        raise CatalogUnreadable(f"{db}: cannot open the catalog for reading ({exc})") from None
