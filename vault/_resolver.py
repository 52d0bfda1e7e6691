"""REF -> directory with nothing but the standard library: the hot path for inference servers.

`vault path` and `vault.resolve()` run on every server boot, so this module
imports no SQLAlchemy, Alembic or cryptography and asks SQLite one indexed
question on a read-only connection. Anything unusual (another database,
a catalog that needs a migration) falls back to the full `Vault`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

from vault._catalog.sqlite_read import CatalogUnreadable, FileState, ReadConnection, open_for_reading
from vault._home_dir import default_home
from vault._statements.refs import parse_ref
from vault.errors import NotFoundError
from vault.status import AVAILABLE, unavailable_message

_BY_REF = """
SELECT r."commit", r.status FROM models m
JOIN refs f ON f.model_id = m.id AND f.name = ?
JOIN revisions r ON r.id = f.revision_id
WHERE m.repo_id = ?
"""

_BY_COMMIT = """
SELECT r."commit", r.status FROM models m
JOIN revisions r ON r.model_id = m.id AND r."commit" = ?
WHERE m.repo_id = ?
"""


class NeedsFullVault(Exception):
    """The fast path cannot answer; the caller should use `Vault`."""


class _Connections(threading.local):
    """One read connection per catalog per thread, for processes that resolve often.

    Opening and closing a WAL database costs more than the query (the last
    close checkpoints and deletes the -wal file), so a server calling
    `vault.resolve()` keeps its connection. It is reopened if the catalog file
    is replaced. Immutable connections (a reader that cannot write the home,
    see `sqlite_read`) are never kept: they would not see later writes, such
    as a revocation.
    """

    def __init__(self) -> None:
        self.by_db: dict[Path, tuple[sqlite3.Connection, tuple[int, int]]] = {}

    def lookup(self, db: Path, repo_id: str, revision: str, by_commit: bool) -> tuple[str, str]:
        st = db.stat()
        ident = (st.st_dev, st.st_ino)
        cached = self.by_db.get(db)
        if cached is not None and cached[1] == ident:
            return _lookup(cached[0], repo_id, revision, by_commit)
        if cached is not None:
            cached[0].close()
            del self.by_db[db]
        read = _connect(db)
        if read.immutable:
            return _lookup_once(read, db, repo_id, revision, by_commit)
        self.by_db[db] = (read.conn, ident)
        return _lookup(read.conn, repo_id, revision, by_commit)

    def close_all(self) -> None:
        for conn, _ident in self.by_db.values():
            conn.close()
        self.by_db.clear()


_connections = _Connections()


def close_connections() -> None:
    """Close this thread's cached catalog connections (tests, or before a home is removed)."""
    _connections.close_all()


def _connect(db: Path) -> ReadConnection:
    try:
        return open_for_reading(db)
    except CatalogUnreadable as exc:
        raise NeedsFullVault(str(exc)) from None


def _lookup(conn: sqlite3.Connection, repo_id: str, revision: str, by_commit: bool) -> tuple[str, str]:
    """(commit, status) of the revision, or NotFoundError naming what is missing."""
    try:
        row = conn.execute(_BY_COMMIT if by_commit else _BY_REF, (revision, repo_id)).fetchone()
        if row is None:
            known = conn.execute("SELECT 1 FROM models WHERE repo_id = ?", (repo_id,)).fetchone()
            if known is None:
                raise NotFoundError(f"{repo_id}: no such model in this vault")
            raise NotFoundError(f"{repo_id}@{revision}: no such revision in this vault")
    except sqlite3.Error as exc:
        raise NeedsFullVault(str(exc)) from None
    return str(row[0]), str(row[1])


def _lookup_once(
    read: ReadConnection, db: Path, repo_id: str, revision: str, by_commit: bool
) -> tuple[str, str]:
    """Look up on a fresh connection; an immutable one must see the file unchanged around the read."""
    try:
        if not read.immutable:
            return _lookup(read.conn, repo_id, revision, by_commit)
        for _attempt in range(5):
            before = FileState.of(db)
            answer = _lookup(read.conn, repo_id, revision, by_commit)
            if FileState.of(db) == before:
                return answer
            read.conn.close()
            read = _connect(db)  # a writer came and went: read again
            if not read.immutable:
                return _lookup(read.conn, repo_id, revision, by_commit)
        raise NeedsFullVault(f"{db}: the catalog kept changing while it was read")
    finally:
        read.conn.close()


def fast_resolve(ref: str, home: Path | None = None, keep_connection: bool = False) -> Path:
    if os.environ.get("VAULT_DATABASE_URL"):
        raise NeedsFullVault("catalog is not a local SQLite file")
    spec = parse_ref(ref)
    home = (home or default_home()).absolute()
    db = home / "catalog.db"
    if not db.is_file():
        raise NotFoundError(f"{home}: no vault here (nothing has been added or trusted yet)")
    if keep_connection:
        commit, status = _connections.lookup(db, spec.repo_id, spec.revision, spec.is_commit)
    else:
        commit, status = _lookup_once(_connect(db), db, spec.repo_id, spec.revision, spec.is_commit)
    if status != AVAILABLE:
        raise NotFoundError(unavailable_message(ref, commit, status))
    path = home / "models" / spec.repo_id / commit
    if not path.is_dir():
        raise NotFoundError(f"{ref}: catalogued but its directory is missing (run 'vault import' again)")
    return path


def resolve(ref: str, home: Path | str | None = None, keep_connection: bool = True) -> Path:
    """Resolve ``org/name[@rev]`` to the revision's directory of verified files.

    In-process callers keep a cached read connection (see `_Connections`);
    one-shot commands pass keep_connection=False.
    """
    home_path = Path(home) if home is not None else None
    try:
        return fast_resolve(ref, home_path, keep_connection)
    except NeedsFullVault:
        from vault._catalog.queries import revision_path
        from vault._home import Home

        with Home.open(home_path, create=False, readonly=True) as h, h.session() as s:
            return revision_path(s, h.store, parse_ref(ref))
