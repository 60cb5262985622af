"""networks.name_chat_id: the chat whose title the network's name follows when that chat is
renamed on its platform; teams_conversations.team_name and channel_name: the two parts of a Teams
channel's title, since Teams says only the one that changed (``teamRenamed`` / ``channelRenamed``)

``name_chat_id`` is set for a network still named as it was made: its first chat (the one it was
made for) with the name that chat's title gave it then (``directory.ensure_network``: the title
without surrounding white space, at most 200 characters, else ``Lerend netwerk``). A network
whose trekker chose another name with ``/netwerk naam``, or whose first chat has left and whose
name therefore came from a chat no longer in it, gets NULL: its name stays as it is. A name the
trekker chose that happens to equal the chat's title cannot be told apart; it then follows the
chat's title from now on, as the chat's name did before.

The Teams columns start NULL and fill in from the next activity that carries the names.

Downgrade drops the three columns (in place: SQLite 3.35+ drops a plain column without rebuilding
the table).

Revision ID: 0026_name_follows_chat
Revises: 0025_teams_blocked
"""

import sqlalchemy as sa
from alembic import op

revision = "0026_name_follows_chat"
down_revision = "0025_teams_blocked"
branch_labels = None
depends_on = None

#: each network's name with its first chat's id and title (a network without chats: no row)
FIRST_CHATS = """
SELECT n.id, n.name, c.id, c.title
  FROM networks AS n
  JOIN chats AS c ON c.id = (SELECT MIN(c2.id) FROM chats AS c2 WHERE c2.network_id = n.id)
"""


def upgrade() -> None:
    # nullable columns without default: SQLite and PostgreSQL add them in place (no table rebuild)
    op.add_column("networks", sa.Column("name_chat_id", sa.Integer(), nullable=True))
    op.add_column("teams_conversations", sa.Column("team_name", sa.String(length=200), nullable=True))
    op.add_column("teams_conversations", sa.Column("channel_name", sa.String(length=200), nullable=True))
    bind = op.get_bind()
    named = [{"network": network, "chat": chat}
             for network, name, chat, title in bind.execute(sa.text(FIRST_CHATS))
             if name == ((title or "").strip()[:200] or "Lerend netwerk")]
    if named:
        bind.execute(sa.text("UPDATE networks SET name_chat_id = :chat WHERE id = :network"), named)


def downgrade() -> None:
    op.drop_column("teams_conversations", "channel_name")
    op.drop_column("teams_conversations", "team_name")
    op.drop_column("networks", "name_chat_id")
