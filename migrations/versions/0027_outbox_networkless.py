"""ix_outbox_networkless: a partial index on outbox.created_at of the rows of no network
(``network_id`` NULL: private answers to someone who is a member nowhere). No network's retention
period covers them; the hourly housekeeping (``bot.core.Core.housekeeping``) deletes them once
they are older than ``bot.core.NETWORKLESS_KEPT``, and finds them through this index instead of
reading the whole outbox every hour. Only those few rows are in it.

Downgrade drops the index.

Revision ID: 0027_outbox_networkless
Revises: 0026_name_follows_chat
"""

import sqlalchemy as sa
from alembic import op

revision = "0027_outbox_networkless"
down_revision = "0026_name_follows_chat"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_networkless", "outbox", ["created_at"], unique=False,
                    postgresql_where=sa.text("network_id IS NULL"), sqlite_where=sa.text("network_id IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_outbox_networkless", table_name="outbox")
