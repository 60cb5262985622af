"""jobs: the due-order index also holds the id, so "the earliest due job" is one index step
even when thousands fall due at the same moment (the dispatcher orders by due time, then id)

Revision ID: 0015_jobs_due_order
Revises: 0014_linked_chats
"""

from alembic import op

revision = "0015_jobs_due_order"
down_revision = "0014_linked_chats"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.create_index("ix_jobs_state_due_id", ["state", "due_at", "id"], unique=False)
        batch_op.drop_index("ix_jobs_state_due")


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.create_index("ix_jobs_state_due", ["state", "due_at"], unique=False)
        batch_op.drop_index("ix_jobs_state_due_id")
