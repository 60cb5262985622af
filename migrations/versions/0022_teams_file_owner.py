"""teams_files.user_id: the person a file sent privately went to (their ``/mijngegevens`` export),
so that erasing them (``/vergeetmij``) removes the file at once instead of leaving it until its
link expires (24 hours). NULL for files posted in a group conversation and for files from before
(they expire within a day anyway). Downgrade drops the column.

Revision ID: 0022_teams_file_owner
Revises: 0021_earlier_pauses
"""

import sqlalchemy as sa
from alembic import op

revision = "0022_teams_file_owner"
down_revision = "0021_earlier_pauses"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("teams_files") as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.String(length=100), nullable=True))


def downgrade() -> None:
    # in place, as in 0021 (SQLite 3.35 and later drops a plain column without rebuilding the table)
    op.drop_column("teams_files", "user_id")
