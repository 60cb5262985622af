"""reports: the monthly report's day and time per network

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # existing networks get the default: a monthly report on the first working day at 09:00
    with op.batch_alter_table("networks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("report_day", sa.Integer(), nullable=True, server_default="1"))
        batch_op.add_column(sa.Column("report_time", sa.String(length=5), nullable=False, server_default="09:00"))


def downgrade() -> None:
    with op.batch_alter_table("networks", schema=None) as batch_op:
        batch_op.drop_column("report_time")
        batch_op.drop_column("report_day")
