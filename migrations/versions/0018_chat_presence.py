"""chat_presence: in which of its network's chats each platform identity is, so a person who leaves
one of several chats stays a member (and keeps their identity) while they are in another

Existing members get no rows: for them a leave behaves as before (their presence is unknown)
until a join or a message in a chat records it.

Revision ID: 0018_chat_presence
Revises: 0017_pause_start
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_chat_presence"
down_revision = "0017_pause_start"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_presence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["chat_id"], ["chats.id"], name=op.f("fk_chat_presence_chat_id_chats"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_presence")),
        sa.UniqueConstraint("chat_id", "user_id", name=op.f("uq_chat_presence_chat_id")),
    )


def downgrade() -> None:
    op.drop_table("chat_presence")
