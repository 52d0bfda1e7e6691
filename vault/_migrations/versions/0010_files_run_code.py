"""Each file records whether loading it runs code, and why (`vault show`, the catalog pages).

A revision may ship code a loader runs (an auto_map's module, a handler.py, a
Hydra YAML); vault admits it only when the operator names the file, and says
so wherever the revision is shown. The reason is computed from the checked
bytes at add, pull and import. Rows cataloged before this migration were not
judged for code: Python sources among them are marked by name here; the
rest stay unmarked until the revision is imported again.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

PYTHON = "Python source, imported by remote-code loaders and handlers"


def upgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("runs_code", sa.Text(), nullable=True))
    files = sa.table("files", sa.column("path", sa.String), sa.column("runs_code", sa.Text))
    op.execute(files.update().where(sa.func.lower(files.c.path).like("%.py")).values(runs_code=PYTHON))


def downgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.drop_column("runs_code")
