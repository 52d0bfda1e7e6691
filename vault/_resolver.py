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
from typing import TYPE_CHECKING

from vault._catalog.reader import CatalogChanging, CatalogReader, SqliteReader, read_sqlite
from vault._catalog.reads import RevisionRow, find_revision
from vault._catalog.sqlite_read import CatalogUnreadable, ReadConnection, open_for_reading
from vault._home_dir import default_home
from vault._statements.refs import Ref as RefSpec
from vault._statements.refs import parse_ref
from vault.errors import NotFoundError

if TYPE_CHECKING:
    from vault._home import Home


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

    def lookup(self, db: Path, spec: RefSpec) -> RevisionRow:
        st = db.stat()
        ident = (st.st_dev, st.st_ino)
        cached = self.by_db.get(db)
        if cached is not None and cached[1] == ident:
            return _lookup(SqliteReader(cached[0]), spec)
        if cached is not None:
            cached[0].close()
            del self.by_db[db]
        read = _connect(db)
        if read.immutable:
            read.conn.close()
            return _lookup_once(db, spec)
        self.by_db[db] = (read.conn, ident)
        return _lookup(SqliteReader(read.conn), spec)

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


def _lookup(reader: CatalogReader, spec: RefSpec) -> RevisionRow:
    """The available revision, or NotFoundError naming what is missing or why it is withheld."""
    try:
        return find_revision(reader, spec)
    except sqlite3.Error as exc:
        raise NeedsFullVault(str(exc)) from None


def _lookup_once(db: Path, spec: RefSpec) -> RevisionRow:
    try:
        return read_sqlite(db, lambda reader: _lookup(reader, spec))
    except (CatalogUnreadable, CatalogChanging) as exc:
        raise NeedsFullVault(str(exc)) from None


def revision_path(home: Home, spec: RefSpec) -> Path:
    """The directory of the available revision a REF names, through whatever catalog `home` has."""
    rev = home.read(lambda reader: find_revision(reader, spec))
    return _existing_dir(home.home, spec, rev)


def _existing_dir(home: Path, spec: RefSpec, rev: RevisionRow) -> Path:
    path = home / "models" / spec.repo_id / rev.commit
    if not path.is_dir():
        raise NotFoundError(f"{spec}: catalogued but its directory is missing (run 'vault import' again)")
    return path


def fast_resolve(ref: str, home: Path | None = None, keep_connection: bool = False) -> Path:
    if os.environ.get("VAULT_DATABASE_URL"):
        raise NeedsFullVault("catalog is not a local SQLite file")
    spec = parse_ref(ref)
    home = (home or default_home()).absolute()
    db = home / "catalog.db"
    if not db.is_file():
        raise NotFoundError(f"{home}: no vault here (nothing has been added or trusted yet)")
    rev = _connections.lookup(db, spec) if keep_connection else _lookup_once(db, spec)
    return _existing_dir(home, spec, rev)


def resolve(ref: str, home: Path | str | None = None, keep_connection: bool = True) -> Path:
    """Resolve ``org/name[@rev]`` to the revision's directory of verified files.

    In-process callers keep a cached read connection (see `_Connections`);
    one-shot commands pass keep_connection=False.
    """
    home_path = Path(home) if home is not None else None
    try:
        return fast_resolve(ref, home_path, keep_connection)
    except NeedsFullVault:
        from vault._home import Home

        with Home.open(home_path, create=False, readonly=True) as h:
            return revision_path(h, parse_ref(ref))
