"""Blobs that `vault scrub` found damaged or missing, until an import repairs them.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("blobs") as batch:
        batch.add_column(sa.Column("damage", sa.Text, nullable=True))
        batch.add_column(sa.Column("damaged_at", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("blobs") as batch:
        batch.drop_column("damaged_at")
        batch.drop_column("damage")
