"""secrets at rest: wider token columns in slack_bots and slack_installations, and the tokens
already stored there encrypted (when BAMBOE_SECRET_KEY is set)

A sealed token (``bot.secrets``) is longer than the plaintext: a 200-character token becomes 363
characters, so the token columns grow to 400. The tokens already stored are sealed here when the
migration is run with a key (``bamboe run`` and ``bamboe db upgrade`` pass it); without one they
stay as they are until the next start with a key, which seals whatever plaintext it finds.

Revision ID: 0013
Revises: 0008
"""

import sqlalchemy as sa
from alembic import context, op

from bot.secrets import seal_all

revision = "0013"
down_revision = "0008"
branch_labels = None
depends_on = None

TOKENS = {
    "slack_bots": ("bot_token", "bot_refresh_token"),
    "slack_installations": ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token"),
}


def _resize(length: int) -> None:
    for table, columns in TOKENS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(column, type_=sa.String(length=length), existing_nullable=True)


def upgrade() -> None:
    _resize(400)
    box = context.config.attributes.get("secret_box")
    if box is not None:
        metadata = sa.MetaData()
        tables = []
        for name, columns in TOKENS.items():
            table = sa.Table(name, metadata, sa.Column("id", sa.Integer, primary_key=True), *map(sa.Column, columns))
            tables.append((table, list(columns)))
        seal_all(op.get_bind(), box, tables)


def downgrade() -> None:
    _resize(200)
