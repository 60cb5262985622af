"""one network, several chats: further identities of a member, and one-time link codes

Revision ID: 0014_linked_chats
Revises: 0012_calm
"""

import sqlalchemy as sa
from alembic import op

from bot.models import UTCDateTime

revision = "0014_linked_chats"
down_revision = "0012_calm"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("network_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.String(length=100), nullable=False),
        sa.Column("linked_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_member_identities_member_id_members"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["network_id"], ["networks.id"],
                                name=op.f("fk_member_identities_network_id_networks"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_identities")),
        sa.UniqueConstraint("network_id", "platform", "user_id", name=op.f("uq_member_identities_network_id")),
    )
    op.create_index(op.f("ix_member_identities_member_id"), "member_identities", ["member_id"])
    op.create_table(
        "link_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("network_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_link_codes_member_id_members"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["network_id"], ["networks.id"], name=op.f("fk_link_codes_network_id_networks"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_link_codes_code_hash")),
    )
    op.create_index(op.f("ix_link_codes_network_id"), "link_codes", ["network_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_link_codes_network_id"), table_name="link_codes")
    op.drop_table("link_codes")
    op.drop_index(op.f("ix_member_identities_member_id"), table_name="member_identities")
    op.drop_table("member_identities")
