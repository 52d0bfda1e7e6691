"""Each revocation records the bundle that carried it, so a revoked revision's page can name it.

A revocation made here (`vault revoke`) has none; one applied by `vault import`
names the bundle by the sha256 of its index, as the imports table does.
Revocations recorded before this migration stay unnamed.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("revocations") as batch:
        batch.add_column(sa.Column("carried_by", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("revocations") as batch:
        batch.drop_column("carried_by")
