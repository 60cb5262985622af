"""matrix: the bot's login and sync position, its direct rooms, claimed events

Revision ID: 0011_matrix
Revises: 0010_teams
"""

import sqlalchemy as sa
from alembic import op

import bot.models

revision = "0011_matrix"
down_revision = "0010_teams"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "matrix_accounts",
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("device_id", sa.String(length=255), nullable=True),
        sa.Column("access_token", sa.Text(), nullable=True),
        sa.Column("txn_prefix", sa.String(length=32), nullable=False),
        sa.Column("sync_token", sa.Text(), nullable=True),
        sa.Column("updated_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_matrix_accounts")),
    )
    op.create_table(
        "matrix_rooms",
        sa.Column("room_id", sa.String(length=255), nullable=False),
        sa.Column("direct_with", sa.String(length=255), nullable=False),
        sa.Column("created_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("room_id", name=op.f("pk_matrix_rooms")),
    )
    with op.batch_alter_table("matrix_rooms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_matrix_rooms_direct_with"), ["direct_with"], unique=False)
    op.create_table(
        "matrix_events",
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("claimed_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_matrix_events")),
    )
    with op.batch_alter_table("matrix_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_matrix_events_claimed_at"), ["claimed_at"], unique=False)


def downgrade() -> None:
    op.drop_table("matrix_events")
    with op.batch_alter_table("matrix_rooms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_matrix_rooms_direct_with"))
    op.drop_table("matrix_rooms")
    op.drop_table("matrix_accounts")
