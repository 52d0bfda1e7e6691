"""Trust policy: key expiry, quorum rules per namespace, and revocations.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trust_entries") as batch:
        batch.add_column(sa.Column("expires_at", sa.String(40), nullable=True))
    op.create_table(
        "trust_quorums",
        sa.Column("scope", sa.String(200), primary_key=True),
        sa.Column("required", sa.Integer, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "revocations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("repo_id", sa.String(200), nullable=False),
        sa.Column("commit", sa.String(40), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("revoked_at", sa.String(40), nullable=False),
        sa.Column("signer", sa.String(200), nullable=False),
        sa.Column("key_fingerprint", sa.String(64), nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("repo_id", "commit", "key_fingerprint"),
    )
    op.create_index("ix_revocations_target", "revocations", ["repo_id", "commit"])


def downgrade() -> None:
    op.drop_index("ix_revocations_target", "revocations")
    op.drop_table("revocations")
    op.drop_table("trust_quorums")
    with op.batch_alter_table("trust_entries") as batch:
        batch.drop_column("expires_at")
