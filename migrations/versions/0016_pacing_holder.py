"""pacing: a platform's send lease (which process may send to it until ``next_at``) and the times
of its holder's last sends, so the next holder keeps the platform's messages-per-second limit exactly

Revision ID: 0016_pacing_holder
Revises: 0015_jobs_due_order
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_pacing_holder"
down_revision = "0015_jobs_due_order"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pacing") as batch_op:
        batch_op.add_column(sa.Column("holder", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("sends", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pacing") as batch_op:
        batch_op.drop_column("sends")
        batch_op.drop_column("holder")
