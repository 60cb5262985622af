"""members.paused_from: when a member's pause began, so a pause counts only for the questions asked
while it lasted (before, only its end was kept and a pause counted for every earlier question too)

Revision ID: 0017_pause_start
Revises: 0016_pacing_shares
"""

import sqlalchemy as sa
from alembic import op

import bot.models

revision = "0017_pause_start"
down_revision = "0016_pacing_shares"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("members") as batch_op:
        batch_op.add_column(sa.Column("paused_from", bot.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("members") as batch_op:
        batch_op.drop_column("paused_from")
