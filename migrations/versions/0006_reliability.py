"""reliability: per-conversation send queue and shared pacing

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

import bot.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chat_key", sa.String(length=110), nullable=False, server_default=""))
    op.execute(
        "UPDATE outbox SET chat_key = CASE WHEN chat_id IS NOT NULL THEN 'c:' || chat_id"
        " ELSE 'u:' || COALESCE(user_id, '') END"
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_chat_queue", ["platform", "chat_key", "state", "id"], unique=False)

    op.create_table(
        "pacing",
        sa.Column("key", sa.String(length=140), nullable=False),
        sa.Column("next_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_pacing")),
    )


def downgrade() -> None:
    op.drop_table("pacing")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_chat_queue")
        batch_op.drop_column("chat_key")
