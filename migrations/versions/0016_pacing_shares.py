"""pacing: each sending process's share of a platform's messages-per-second window (the share,
until when it holds, and when its permits come back), so several replicas keep the limit exactly

Revision ID: 0016_pacing_shares
Revises: 0015_jobs_due_order
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_pacing_shares"
down_revision = "0015_jobs_due_order"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pacing") as batch_op:
        batch_op.add_column(sa.Column("shares", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pacing") as batch_op:
        batch_op.drop_column("shares")
