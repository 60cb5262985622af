"""ix_outbox_network_created: an index on outbox (network_id, created_at).

The hourly housekeeping (``bot.core.Core.housekeeping``) deletes the rows of no network
(``network_id`` NULL: private answers to someone who is a member nowhere; no network's retention
period covers them) once they are older than ``bot.core.NETWORKLESS_KEPT``; the nightly retention
run of a network finds its oldest row and deletes its rows older than the period. Both now read
only the rows they are about, instead of the whole outbox (hourly, and per network per run).

Downgrade drops the index.

Revision ID: 0027_outbox_network_created
Revises: 0026_name_follows_chat
"""

from alembic import op

revision = "0027_outbox_network_created"
down_revision = "0026_name_follows_chat"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_network_created", "outbox", ["network_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_outbox_network_created", table_name="outbox")
