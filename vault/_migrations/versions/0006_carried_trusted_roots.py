"""The Sigstore trusted roots that signatures were made under, so bundles can carry them.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sigstore_roots",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("raw", sa.LargeBinary, nullable=False),
    )
    for table in ("signatures", "revocations"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("trusted_root_sha256", sa.String(64), nullable=True))


def downgrade() -> None:
    for table in ("revocations", "signatures"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("trusted_root_sha256")
    op.drop_table("sigstore_roots")
