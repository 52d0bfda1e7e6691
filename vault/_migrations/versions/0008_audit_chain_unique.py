"""The audit chain is serialized by the database: no two events may follow the same one.

A unique index on `prev_hash` makes a fork (two writers that read the same last
event) impossible to commit. Catalogs written before this may already hold a
fork; `vault audit` reports it, and the index covers only events after them.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    last = op.get_bind().execute(sa.text("SELECT COALESCE(MAX(id), 0) FROM audit_events")).scalar_one()
    where = sa.text(f"id > {int(last)}")
    op.create_index(
        "ux_audit_events_prev_hash", "audit_events", ["prev_hash"], unique=True,
        sqlite_where=where, postgresql_where=where,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ux_audit_events_prev_hash", table_name="audit_events")
