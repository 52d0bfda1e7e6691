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

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError

SQLITE_BUSY_TIMEOUT_MS = 30_000


def database_url(home: Path) -> str:
    return os.environ.get("VAULT_DATABASE_URL") or f"sqlite:///{home / 'catalog.db'}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA journal_mode")
    if cur.fetchone()[0].lower() != "wal":
        cur.execute("PRAGMA journal_mode=WAL")
    cur.close()


def open_engine(url: str) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _alembic_config() -> Any:
    from alembic.config import Config

    from vault import _migrations

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(_migrations.__file__).parent))
    return cfg


# The newest migration. A test checks it against Alembic's script directory, so the
# common case (catalog already current) costs one query and no Alembic import.
SCHEMA_HEAD = "0004"


def _current_version(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        return None  # no catalog yet


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
