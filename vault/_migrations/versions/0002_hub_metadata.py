"""Hub metadata for the Hugging Face cache view and `vault serve`.

blobs.git_sha1: git's blob id of the content (kept for blobs under 10 MiB, the
only ones the Hub stores outside LFS). files.lfs: whether the Hub serves the
file through LFS (from the Hub's own tree for pulls, else from the Hub's rules).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("blobs") as batch:
        batch.add_column(sa.Column("git_sha1", sa.String(40), nullable=True))
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("lfs", sa.Boolean, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.drop_column("lfs")
    with op.batch_alter_table("blobs") as batch:
        batch.drop_column("git_sha1")
