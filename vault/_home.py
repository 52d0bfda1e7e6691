"""`Home`: one vault home (its directory, catalog, store and writer lock), passed to every operation.

It sits below everything that uses it: operations take a `Home`, and the
public façade (`vault.api.Vault`) is a `Home` with methods that call the
operations, so no operation ever imports the façade.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Self, TypeVar

from vault._catalog.reader import CatalogChanging, CatalogReader, EngineReader, read_sqlite
from vault._catalog.reads import schema_version
from vault._catalog.schema_head import SCHEMA_HEAD, schema_mismatch
from vault._catalog.sqlite_read import CatalogUnreadable
from vault._catalog.write_mark import WRITING, is_writing
from vault._home_dir import default_home
from vault._store.blobs import Store
from vault.errors import CatalogUnavailableError, HomeNotWritableError, NotFoundError

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

T = TypeVar("T")


class Home:
    """Owns one home: its catalog, its store and its lock. Pass it explicitly.

    SQLAlchemy is imported only when something needs the ORM (`session()`,
    `engine`): reads go through `read()`, which for the home's own SQLite
    file is the standard library, so `vault list` never loads it.
    """

    def __init__(self, home: Path, url: str | None = None, readonly: bool = False) -> None:
        self.home = home
        # None: the home's own catalog.db, read with sqlite3; else VAULT_DATABASE_URL.
        self.url = url
        self.store = Store(home)
        self.readonly = readonly
        self._engine: Engine | None = None
        self._lock_depth = 0

    @property
    def db(self) -> Path:
        return self.home / "catalog.db"

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from vault._catalog.database import open_engine

            self._engine = open_engine(self.url or f"sqlite:///{self.db}", readonly=self.readonly)
        return self._engine

    def read(self, question: Callable[[CatalogReader], T]) -> T:
        """Answer `question` from committed catalog state, as cheaply as this catalog allows."""
        if self.url is not None:
            with self.engine.connect() as conn:
                return question(EngineReader(conn))
        try:
            return read_sqlite(self.db, question)
        except CatalogUnreadable as exc:
            raise CatalogUnavailableError(f"catalog sqlite:///{self.db}: cannot connect ({exc})") from None
        except CatalogChanging as exc:
            raise CatalogUnavailableError(f"catalog sqlite:///{self.db}: {exc}") from None

    # -- lifecycle -------------------------------------------------------

    @classmethod
    def open(cls, home: Path | None = None, create: bool = True, readonly: bool | None = False) -> Self:
        """Open a home to write (`create` makes it), or with `readonly` only to read.

        A reader never writes a byte: no directories, no lock file, no schema
        upgrade, and the catalog opened as `sqlite_read` explains, so a user who
        is not the owner, or a read-only mount, can still resolve and list.
        `readonly=None` writes where this user may, and reads otherwise (scrub:
        an auditor gets the report, the owner's run also records it).
        """
        if readonly is None:
            try:
                return cls.open(home, create=False, readonly=False)
            except HomeNotWritableError:
                return cls.open(home, create=False, readonly=True)
        home = (home or default_home()).absolute()
        url = os.environ.get("VAULT_DATABASE_URL") or None
        if (readonly or not create) and not (home / "catalog.db").exists() and url is None:
            raise NotFoundError(f"{home}: no vault here (nothing has been added or trusted yet)")
        if readonly:
            vault = cls(home, url, readonly=True)
            if url is None:
                vault._check_sqlite_schema()
            else:
                from vault._catalog.database import check_schema_readable

                check_schema_readable(vault.engine)
                vault._bind_catalog_to_store(claim=False)
            return vault
        from vault._catalog.database import require_writable, upgrade_schema

        require_writable(home)
        if create:
            home.mkdir(parents=True, exist_ok=True)
            Store(home).create()
            (home / "lock").touch(exist_ok=True)  # exists from the start, so taking it changes nothing
        vault = cls(home, url)
        upgrade_schema(vault.engine)
        if home.is_dir():
            vault._bind_catalog_to_store(claim=True)
        return vault

    def _bind_catalog_to_store(self, claim: bool) -> None:
        """A catalog lists the blobs of one store. The first writer records its store's id; a home
        whose store is another is refused, so no host lists or serves a revision it does not hold
        (several hosts share a catalog by sharing one home, store and all: docs/operator-guide.md)."""
        from sqlalchemy.orm import Session

        from vault._catalog.schema import CatalogMeta

        mine = self.store.identity(create=claim)
        with Session(self.engine) as session, session.begin():
            row = session.get(CatalogMeta, "store_id")
            if row is None:
                if claim and mine is not None:
                    session.add(CatalogMeta(key="store_id", value=mine))
                return
            theirs = row.value
        if theirs != mine:
            where = self.url or f"sqlite:///{self.db}"
            raise CatalogUnavailableError(
                f"catalog {where} lists the blobs of another store ({theirs[:12]}…), not this home's "
                f"({(mine or 'none')[:12]}…): hosts share a catalog only by sharing one home, store and all"
            )

    def _check_sqlite_schema(self) -> None:
        """What `database.check_schema_readable` checks, without SQLAlchemy."""

        def version(reader: CatalogReader) -> str | None:
            try:
                return schema_version(reader)
            except sqlite3.OperationalError:
                return None  # no alembic_version table: not a catalog yet

        found = self.read(version)
        if found != SCHEMA_HEAD:
            raise CatalogUnavailableError(schema_mismatch(f"sqlite:///{self.db}", found))

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def session(self) -> Session:
        """A session to read the catalog through the ORM; it refuses to write (see `write`)."""
        from sqlalchemy import event
        from sqlalchemy.orm import Session

        session = Session(self.engine, expire_on_commit=False)
        event.listen(session, "before_flush", _refuse_write)
        return session

    @contextlib.contextmanager
    def write(self) -> Iterator[UnitOfWork]:
        """The one way to change the catalog: the writer lock, one transaction, the audit recorder.

        Like python-tuf's `Repository.edit()`, the invariant comes from the
        structure: a session that may write exists only inside this block, it
        commits when the block ends and rolls back if it raises, and every
        audit event is recorded in it. On PostgreSQL the transaction also takes
        an advisory lock, so writers on several hosts sharing one catalog are
        serialized by the database, which a per-home `flock` cannot do.
        """
        from sqlalchemy import text
        from sqlalchemy.orm import Session

        with self.writer_lock(), Session(self.engine, expire_on_commit=False) as session, session.begin():
            session.info[WRITING] = True
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CATALOG_WRITER_LOCK})
            yield UnitOfWork(session)

    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """One writer at a time per home (re-entrant); readers never take it.

        Held alone across work that prepares a write (staging blobs, building
        views); the catalog itself is changed only in `write()`.
        """
        if self.readonly:
            raise HomeNotWritableError(f"{self.home}: opened read-only; this needs a writable home")
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        with open(self.home / "lock", "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


# Any constant: the PostgreSQL advisory lock every writing transaction takes.
CATALOG_WRITER_LOCK = 0x7661756C7457  # "vaultW"


class UnitOfWork:
    """What `Home.write()` hands out: the writing session and the audit recorder bound to it."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def record(self, action: str, subject: str, **detail: object) -> None:
        """Append an audit event in this transaction (it commits or rolls back with the change)."""
        from vault import _audit

        _audit.record(self.session, action, subject, **detail)


def _refuse_write(session: Session, _context: object, _instances: object) -> None:
    if not is_writing(session):
        raise AssertionError("catalog writes go through Home.write(), never a reading session")
