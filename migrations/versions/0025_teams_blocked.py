"""teams_blocked: the people who blocked the bot in their 1:1 (Teams answered 403
``ConversationBlockedByUser``), shared by all replicas and kept over a restart, so no replica calls
Teams for them (and none says anything in the group) until they write the bot again. Until now each
process kept this in memory. Starts empty: a person blocked before is learnt again from Teams'
next refusal, once.

teams_conversations.closed: why a channel is closed while the app stays in its team
(``team_archived``, ``team_deleted``, ``channel_deleted``), so that unarchiving or restoring opens
again exactly what that closed. NULL for every conversation from before.

Downgrade drops both.

Revision ID: 0025_teams_blocked
Revises: 0024_input_message_ref
"""

import sqlalchemy as sa
from alembic import op

revision = "0025_teams_blocked"
down_revision = "0024_input_message_ref"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "teams_blocked",
        sa.Column("user_id", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_teams_blocked")),
    )
    # a nullable column without default: SQLite and PostgreSQL add it in place (no table rebuild)
    op.add_column("teams_conversations", sa.Column("closed", sa.String(length=20), nullable=True))


def downgrade() -> None:
    # in place, as in 0021 (SQLite 3.35 and later drops a plain column without rebuilding the table)
    op.drop_column("teams_conversations", "closed")
    op.drop_table("teams_blocked")
