"""Sigstore identities as trust entries (keyless signatures, verified offline).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trust_entries") as batch:
        batch.add_column(sa.Column("kind", sa.String(20), nullable=False, server_default="key"))
        batch.add_column(sa.Column("identity", sa.String(300), nullable=True))
        batch.add_column(sa.Column("issuer", sa.String(300), nullable=True))
        batch.add_column(sa.Column("trusted_root", sa.LargeBinary, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trust_entries") as batch:
        for column in ("trusted_root", "issuer", "identity", "kind"):
            batch.drop_column(column)
