"""REF -> directory with nothing but the standard library: the hot path for inference servers.

`vault path` and `vault.resolve()` run on every server boot, so this module
imports no SQLAlchemy, Alembic or cryptography and asks SQLite one indexed
question on a read-only connection. Anything unusual (another database,
a catalog that needs a migration) falls back to the full `Vault`.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from vault.errors import NotFoundError
from vault.refs import parse_ref

AVAILABLE = "available"

_BY_REF = """
SELECT r.commit_, r.status FROM models m
JOIN refs f ON f.model_id = m.id AND f.name = ?
JOIN revisions r ON r.id = f.revision_id
WHERE m.repo_id = ?
""".replace("commit_", '"commit"')

_BY_COMMIT = """
SELECT r.commit_, r.status FROM models m
JOIN revisions r ON r.model_id = m.id AND r."commit" = ?
WHERE m.repo_id = ?
""".replace("commit_", '"commit"')


class NeedsFullVault(Exception):
    """The fast path cannot answer; the caller should use `Vault`."""


def default_home() -> Path:
    env = os.environ.get("VAULT_HOME")
    if env:
        return Path(env)
    from platformdirs import user_data_path

    return user_data_path("vault", appauthor=False)


def fast_resolve(ref: str, home: Path | None = None) -> Path:
    if os.environ.get("VAULT_DATABASE_URL"):
        raise NeedsFullVault("catalog is not a local SQLite file")
    spec = parse_ref(ref)
    home = (home or default_home()).absolute()
    db = home / "catalog.db"
    if not db.is_file():
        raise NotFoundError(f"{home}: no vault here (nothing has been added or trusted yet)")
    # A read-only open of a WAL database leaves its -wal/-shm files behind (it may
    # not delete them), so open read-write where allowed and make it query-only.
    mode = "" if os.access(db, os.W_OK) else "?mode=ro"
    try:
        conn = sqlite3.connect(db.as_uri() + mode, uri=True)
    except sqlite3.Error as exc:
        raise NeedsFullVault(str(exc)) from None
    try:
        conn.execute("PRAGMA query_only=1")
        conn.execute("PRAGMA busy_timeout=30000")
        query = _BY_COMMIT if spec.is_commit else _BY_REF
        row = conn.execute(query, (spec.revision, spec.repo_id)).fetchone()
        if row is None or row[1] != AVAILABLE:
            known = conn.execute("SELECT 1 FROM models WHERE repo_id = ?", (spec.repo_id,)).fetchone()
            if known is None:
                raise NotFoundError(f"{spec.repo_id}: no such model in this vault")
            raise NotFoundError(f"{spec}: no such revision in this vault")
    except sqlite3.Error as exc:
        raise NeedsFullVault(str(exc)) from None
    finally:
        conn.close()
    path = home / "models" / spec.repo_id / row[0]
    if not path.is_dir():
        raise NotFoundError(f"{ref}: catalogued but its directory is missing (run 'vault import' again)")
    return path


def resolve(ref: str, home: Path | str | None = None) -> Path:
    """Resolve ``org/name[@rev]`` to the revision's directory of verified files."""
    home_path = Path(home) if home is not None else None
    try:
        return fast_resolve(ref, home_path)
    except NeedsFullVault:
        from vault.api import Vault

        with Vault.open(home_path, create=False) as v:
            return v.path(ref)
