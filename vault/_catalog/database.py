"""Engine creation and schema upgrades.

The schema belongs to Alembic alone: on first use, and after an upgrade of
vault, the pending migrations run before anything else touches the catalog. A
catalog already at head is not written to, so read-only commands and rejected
imports leave the file byte-identical.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DBAPIError

from vault._catalog.schema_head import SCHEMA_HEAD, schema_mismatch
from vault._catalog.sqlite_read import CatalogUnreadable
from vault.errors import CatalogUnavailableError, HomeNotWritableError

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA journal_mode")
    if cur.fetchone()[0].lower() != "wal":
        cur.execute("PRAGMA journal_mode=WAL")
    cur.close()


def open_engine(url: str, readonly: bool = False) -> Engine:
    """An engine for the catalog at `url`; `readonly` SQLite engines open as `sqlite_read` says."""
    parsed = make_url(url)
    if readonly and parsed.get_backend_name() == "sqlite" and parsed.database:
        from sqlalchemy.pool import NullPool

        from vault._catalog.sqlite_read import open_for_reading

        db = Path(parsed.database)
        # A fresh connection per session: an immutable one must not outlive one read.
        return create_engine("sqlite://", creator=lambda: open_for_reading(db).conn, poolclass=NullPool)
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def describe(engine_or_url: Engine | str) -> str:
    """The catalog's address for messages, never with its password."""
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.render_as_string(hide_password=True)


def require_writable(home: Path) -> None:
    """Writers fail up front, naming the home, rather than half-way with a database error."""
    probe = home
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    targets = [probe] + [p for p in (home / "catalog.db", home / "lock") if p.exists()]
    for target in targets:
        if not os.access(target, os.W_OK):
            raise HomeNotWritableError(
                f"{home}: not writable by this user (uid {os.getuid()}) or mounted read-only; "
                "read-only commands (path, list, show, provenance, serve, verify) still work"
            )


def _alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parent.parent / "_migrations"))
    return cfg


def _current_version(engine: Engine) -> str | None:
    try:
        conn = engine.connect()
    except (DBAPIError, CatalogUnreadable) as exc:
        detail = exc.orig if isinstance(exc, DBAPIError) else exc
        raise CatalogUnavailableError(
            f"catalog {describe(engine)}: cannot connect ({detail})".strip()
        ) from None
    try:
        with conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        return None  # no catalog yet


def check_schema_readable(engine: Engine) -> None:
    """A reader cannot migrate: it needs the catalog already at this vault's schema."""
    version = _current_version(engine)
    if version != SCHEMA_HEAD:
        raise CatalogUnavailableError(schema_mismatch(describe(engine), version))


def upgrade_schema(engine: Engine) -> None:
    """Bring the schema to head; a no-op (and no write) when it already is."""
    if _current_version(engine) == SCHEMA_HEAD:
        return
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = _alembic_config()
    heads = set(ScriptDirectory.from_config(cfg).get_heads())
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    if current == heads:
        return
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
