"""Quorum counts parties: a trust entry is one party unless the operator said each identity under it
counts on its own (a CA whose leaves belong to independent people).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trust_entries") as batch:
        batch.add_column(
            sa.Column("each_identity_counts", sa.Boolean, nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("trust_entries") as batch:
        batch.drop_column("each_identity_counts")
