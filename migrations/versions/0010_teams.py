"""teams: conversation references, people, askers' threads and download links of the Teams adapter

Revision ID: 0010_teams
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

import bot.models

revision = "0010_teams"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "teams_conversations",
        sa.Column("chat_id", sa.String(length=100), nullable=False),
        sa.Column("conversation_id", sa.Text(), nullable=False),
        sa.Column("service_url", sa.String(length=500), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("team_id", sa.String(length=200), nullable=True),
        sa.Column("bot_id", sa.String(length=200), nullable=False),
        sa.Column("installed", sa.Boolean(), nullable=False),
        sa.Column("updated_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chat_id"),
    )
    op.create_table(
        "teams_users",
        sa.Column("user_id", sa.String(length=100), nullable=False),
        sa.Column("teams_id", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("service_url", sa.String(length=500), nullable=False),
        sa.Column("personal_conversation_id", sa.Text(), nullable=True),
        sa.Column("updated_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "teams_askers",
        sa.Column("chat_id", sa.String(length=100), nullable=False),
        sa.Column("user_id", sa.String(length=100), nullable=False),
        sa.Column("message_id", sa.String(length=100), nullable=False),
        sa.Column("thread", sa.String(length=100), nullable=True),
        sa.Column("seen_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "user_id"),
    )
    op.create_index("ix_teams_askers_seen_at", "teams_askers", ["seen_at"])
    op.create_table(
        "teams_files",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("mime", sa.String(length=100), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_teams_files_expires_at", "teams_files", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_teams_files_expires_at", table_name="teams_files")
    op.drop_table("teams_files")
    op.drop_index("ix_teams_askers_seen_at", table_name="teams_askers")
    op.drop_table("teams_askers")
    op.drop_table("teams_users")
    op.drop_table("teams_conversations")
