"""meeting_inputs.message_ref: the member's message a session input came from, so deleting or
editing that message on the platform removes or changes the input (as 0023 did for answers)

Same format and index as ``answers.message_ref``; NULL for the inputs stored before. Downgrade drops
the column and its index.

Revision ID: 0024_input_message_ref
Revises: 0023_answer_message_ref
"""

import sqlalchemy as sa
from alembic import op

revision = "0024_input_message_ref"
down_revision = "0023_answer_message_ref"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a nullable column without default: SQLite and PostgreSQL add it in place (no table rebuild)
    op.add_column("meeting_inputs", sa.Column("message_ref", sa.Text(), nullable=True))
    op.create_index("ix_meeting_inputs_message_ref", "meeting_inputs", ["message_ref"])


def downgrade() -> None:
    op.drop_index("ix_meeting_inputs_message_ref", table_name="meeting_inputs")
    # not in batch mode: on SQLite that would rebuild the table; SQLite 3.35+ drops a column in place
    op.drop_column("meeting_inputs", "message_ref")
