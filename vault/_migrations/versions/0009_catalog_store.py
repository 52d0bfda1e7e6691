"""A catalog is bound to the one store whose blobs it lists.

Several hosts may share one catalog (PostgreSQL, `VAULT_DATABASE_URL`) only by
sharing one home, its store included; a home with another store would list and
serve revisions whose blobs it does not hold. The first writer records its
store's id here, and a home with another store is refused.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_meta",
        sa.Column("key", sa.String(40), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("catalog_meta")
