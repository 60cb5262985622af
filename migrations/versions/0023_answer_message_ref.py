"""answers.message_ref: the member's message an answer came from, so deleting or editing that
message on the platform removes or changes the answer

``<platform>:<chat id>:<message id>`` (see :func:`bot.models.message_ref`), indexed: an edit or a
deletion finds its answer by it. NULL for the answers stored before (they cannot be found from a
deletion; ``/vergeetmij`` still erases them). Downgrade drops the column and its index.

Revision ID: 0023_answer_message_ref
Revises: 0022_teams_file_owner
"""

import sqlalchemy as sa
from alembic import op

revision = "0023_answer_message_ref"
down_revision = "0022_teams_file_owner"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a nullable column without default: SQLite and PostgreSQL add it in place (no table rebuild)
    op.add_column("answers", sa.Column("message_ref", sa.Text(), nullable=True))
    op.create_index("ix_answers_message_ref", "answers", ["message_ref"])


def downgrade() -> None:
    op.drop_index("ix_answers_message_ref", table_name="answers")
    # not in batch mode: on SQLite that would rebuild the table; SQLite 3.35+ drops a column in place
    op.drop_column("answers", "message_ref")
