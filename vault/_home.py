"""`Home`: one vault home (its directory, catalog, store and writer lock), passed to every operation.

It sits below everything that uses it: operations take a `Home`, and the
public façade (`vault.api.Vault`) is a `Home` with methods that call the
operations, so no operation ever imports the façade.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Self

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from vault._catalog.database import (
    check_schema_readable,
    database_url,
    open_engine,
    require_writable,
    upgrade_schema,
)
from vault._home_dir import default_home
from vault._store.blobs import Store
from vault.errors import HomeNotWritableError, NotFoundError


class Home:
    """Owns one home: its catalog, its store and its lock. Pass it explicitly."""

    def __init__(self, home: Path, engine: Engine, readonly: bool = False) -> None:
        self.home = home
        self.engine = engine
        self.store = Store(home)
        self.readonly = readonly

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
        external = "VAULT_DATABASE_URL" in os.environ
        if (readonly or not create) and not (home / "catalog.db").exists() and not external:
            raise NotFoundError(f"{home}: no vault here (nothing has been added or trusted yet)")
        if readonly:
            engine = open_engine(database_url(home), readonly=True)
            check_schema_readable(engine)
            return cls(home, engine, readonly=True)
        require_writable(home)
        if create:
            home.mkdir(parents=True, exist_ok=True)
            Store(home).create()
            (home / "lock").touch(exist_ok=True)  # exists from the start, so taking it changes nothing
        engine = open_engine(database_url(home))
        upgrade_schema(engine)
        return cls(home, engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """One writer at a time per home; readers never take it."""
        if self.readonly:
            raise HomeNotWritableError(f"{self.home}: opened read-only; this needs a writable home")
        with open(self.home / "lock", "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
