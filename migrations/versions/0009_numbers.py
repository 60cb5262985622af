"""numbers: meetings, rounds and actions numbered per network, and the counters that hand out numbers

Existing rows are numbered 1, 2, 3 … per network in id order; the counters start after the highest
number of each network and kind (announcements, ideas and decisions were already numbered per
network).

Revision ID: 0009
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0013"
branch_labels = None
depends_on = None

NUMBERED = ("meetings", "rounds", "actions")
#: kind in ``counters`` → the table (and, for the log, the kind) whose highest numbers it starts from
KINDS = {"meeting": "meetings", "round": "rounds", "action": "actions", "announcement": "announcements"}


def upgrade() -> None:
    for table in NUMBERED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("nr", sa.Integer(), nullable=True))
        # per network, in id order (a correlated count: the same SQL on SQLite and PostgreSQL)
        op.execute(f"UPDATE {table} SET nr = (SELECT COUNT(*) FROM {table} AS earlier "
                   f"WHERE earlier.network_id = {table}.network_id AND earlier.id <= {table}.id)")
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("nr", existing_type=sa.Integer(), nullable=False)
            batch_op.create_unique_constraint(f"uq_{table}_network_id", ["network_id", "nr"])
    op.create_table(
        "counters",
        sa.Column("network_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["network_id"], ["networks.id"], name="fk_counters_network_id_networks",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("network_id", "kind", name="pk_counters"),
    )
    for kind, table in KINDS.items():
        op.execute(f"INSERT INTO counters (network_id, kind, last) "
                   f"SELECT network_id, '{kind}', MAX(nr) FROM {table} GROUP BY network_id")
    op.execute("INSERT INTO counters (network_id, kind, last) "
               "SELECT network_id, kind, MAX(nr) FROM log_entries GROUP BY network_id, kind")


def downgrade() -> None:
    op.drop_table("counters")
    for table in NUMBERED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"uq_{table}_network_id", type_="unique")
            batch_op.drop_column("nr")
