"""members.earlier_pauses: a member's earlier pauses, so each pause counts for the questions asked
while it lasted (before, only the latest was kept: a second pause overwrote the first, and the
questions asked during the first counted as asked and not answered)

A JSON list of ``[from, until]`` pairs (UTC, ISO 8601) on the member row, NULL for a member with no
earlier pause: the member rows are read whole where participation is counted, so no further query.
The latest pause stays in ``paused_from``/``paused_until``, untouched: an existing pause is kept as
it was. Downgrade drops the column, and with it the earlier pauses (the latest one stays).

Revision ID: 0021_earlier_pauses
Revises: 0020_outbox_autoincrement
"""

import sqlalchemy as sa
from alembic import op

revision = "0021_earlier_pauses"
down_revision = "0020_outbox_autoincrement"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("members") as batch_op:
        batch_op.add_column(sa.Column("earlier_pauses", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    # not in batch mode: that rebuilds the table on SQLite, and with foreign keys on (a downgrade
    # run by hand) dropping the old members table would delete every row that refers to a member.
    # SQLite drops a plain column in place (ALTER TABLE … DROP COLUMN, SQLite 3.35 and later).
    op.drop_column("members", "earlier_pauses")
