"""outbox ids are never handed out twice on SQLite (AUTOINCREMENT)

Adapters use an outbox row's id as an idempotency key: Matrix sends with the transaction id
``<txn_prefix>.<outbox id>.<part>`` (the homeserver answers a transaction id it has seen with the
earlier event, so the new message is not sent) and Slack finds a row in doubt by the outbox id in
its message metadata. On SQLite the id was a plain rowid: "one larger than the largest ROWID in the
table", so once the newest row was deleted (``/vergeetmij``, retention, a network removed with its
rows) the next row got its id again. With ``AUTOINCREMENT`` the id is "at least one larger than the
largest ROWID that has ever before existed in that same table", kept in ``sqlite_sequence``
(https://www.sqlite.org/autoinc.html). PostgreSQL's sequence never hands out a number twice: there
this migration does nothing.

SQLite cannot add ``AUTOINCREMENT`` to a table, so the table is rebuilt (Alembic's batch mode:
create the new table, copy the rows with their ids, drop the old one, rename, create the indexes
again). Its columns (with their server defaults), primary key, foreign keys and indexes are read
from the database and made again as they were. The nudges' ``outbox_id`` keep pointing at the same
rows, because the ids are copied and foreign keys are off while migrating (``bot.database.upgrade``;
with them on, dropping the old table would set every ``nudges.outbox_id`` to NULL, so the
migration refuses to run then).

``sqlite_sequence`` then holds the highest id copied (SQLite records an explicitly inserted id
too), and is set to at least the current maximum explicitly (and to what it held before, should
this migration run again after a downgrade). Ids deleted before this migration above the current
maximum are not known to the database any more: those few are handed out once more, as before.

Downgrade keeps ``AUTOINCREMENT``: the columns are the same, so earlier code works with it, and
taking it away would let ids be handed out twice again.

Revision ID: 0020_outbox_autoincrement
Revises: 0019_presence_backfill
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_outbox_autoincrement"
down_revision = "0019_presence_backfill"
branch_labels = None
depends_on = None


def _sequence(bind: sa.Connection) -> int:
    """What ``sqlite_sequence`` holds for the outbox (0: nothing, or no such table yet)."""
    if bind.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'").first():
        return bind.exec_driver_sql("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'outbox'").scalar()
    return 0


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return  # PostgreSQL: the id's sequence never hands out a number twice
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("migration 0020 rebuilds the outbox table and must run with SQLite's foreign keys "
                           "off (as `bamboe db upgrade` and the bot's start do): dropping the old table would "
                           "set nudges.outbox_id to NULL")
    before = _sequence(bind)  # rebuilding the table drops its counter: keep it
    with op.batch_alter_table("outbox", recreate="always", table_kwargs={"sqlite_autoincrement": True}):
        pass
    highest = max(before, bind.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM outbox").scalar())
    op.execute("DELETE FROM sqlite_sequence WHERE name = 'outbox'")
    op.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', :seq)").bindparams(seq=highest))


def downgrade() -> None:
    pass  # see the docstring: AUTOINCREMENT stays
