"""The schema this vault reads and writes, in a module that imports nothing.

The newest migration. A test checks it against Alembic's script directory,
so the common case (catalog already current) costs one query and neither
Alembic nor SQLAlchemy.
"""

from __future__ import annotations

SCHEMA_HEAD = "0011"


def schema_mismatch(where: str, found: str | None) -> str:
    """Why a reader refuses a catalog at another schema: a reader cannot migrate it."""
    return (
        f"catalog {where}: schema {found or 'missing'}, this vault reads {SCHEMA_HEAD}; "
        "any command that writes, run by the home's owner, upgrades it"
    )
