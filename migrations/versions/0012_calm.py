"""calm voice: the message budget's ledger and held posts, members' goal and intention
reflections, and the switch for questions about power and money

Revision ID: 0012_calm
Revises: 0011_matrix
"""

import sqlalchemy as sa
from alembic import op

import bot.models

revision = "0012_calm"
down_revision = "0011_matrix"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN: a batch copy of the networks table would cascade-delete every row that
    # refers to it on SQLite
    op.add_column("networks", sa.Column("power_questions", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "reflections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("network_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_reflections_member_id_members"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["network_id"], ["networks.id"], name=op.f("fk_reflections_network_id_networks"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reflections")),
    )
    op.create_index(op.f("ix_reflections_network_id"), "reflections", ["network_id"], unique=False)
    op.create_index(op.f("ix_reflections_member_id"), "reflections", ["member_id"], unique=False)
    op.create_table(
        "budget_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("network_id", sa.Integer(), nullable=False),
        sa.Column("at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("detail", sa.String(length=40), nullable=False),
        sa.Column("moved_to", bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["network_id"], ["networks.id"], name=op.f("fk_budget_log_network_id_networks"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_log")),
    )
    op.create_index(op.f("ix_budget_log_network_id"), "budget_log", ["network_id"], unique=False)
    op.create_table(
        "held_posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("network_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("created_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_held_posts_member_id_members"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["network_id"], ["networks.id"], name=op.f("fk_held_posts_network_id_networks"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_posts")),
    )
    op.create_index(op.f("ix_held_posts_network_id"), "held_posts", ["network_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_held_posts_network_id"), table_name="held_posts")
    op.drop_table("held_posts")
    op.drop_index(op.f("ix_budget_log_network_id"), table_name="budget_log")
    op.drop_table("budget_log")
    op.drop_index(op.f("ix_reflections_member_id"), table_name="reflections")
    op.drop_index(op.f("ix_reflections_network_id"), table_name="reflections")
    op.drop_table("reflections")
    with op.batch_alter_table("networks", schema=None) as batch_op:
        batch_op.drop_column("power_questions")
