"""chat_presence for members from before 0018, where the stored data make it certain

0018 gave existing members no presence rows, so for them a leave from one of two chats on a
platform behaved as before (the identity, or the membership, was dropped) until they wrote or
joined there. This fills in what follows from the stored data alone: an identity (a member's first
one, or one they linked with ``/ikben``) of an active member whose network has exactly one chat on
that identity's platform is in that chat: an identity comes into a network through a chat on its
platform (a message or a join there, or the chat brought it along when it was linked), and a leave
from that chat ends it (before and since 0018), so with one such chat it is that one.

Only ids are written (the chat row and the platform user id, both stored already), and only for
active members: someone who left gets no row.

Where the network has several chats on the identity's platform, nothing is written: the presence
stays unknown, as before. No stored data says reliably where such a person is now. Answers and
weekly questions belong to the network, not a chat (a question goes to every chat). Round
entries name the member, not the identity, and the outbox's answers in a group name the identity
and the chat. Both only show that someone wrote in a chat once: a leave from that chat since 0018
that kept the member (they were known in another chat) leaves no trace, and retention removes
both after a while. A row built from them could keep someone who left.

One case the rule cannot see, because nothing records it: an identity that stayed in the network
when its own chat was unlinked (``/koppel los`` keeps the people when another chat on that
platform stays) or, with its presence unknown, removed the bot. If the network has exactly one
chat left on that platform, the row says the identity is there. This only matters if a further
chat on that platform is linked later and the person joins and then leaves it: they then stay a
member, as they already did after the unlink.

Set-based and plain SQL (the same on SQLite and PostgreSQL, no ORM models). It can run again:
rows that are there already (a join or message since 0018; unique per chat and user id) are left
alone.

Downgrade deletes nothing: the rows written here say what a join or a message would have said,
and cannot be told apart from the rows that joins and messages wrote since 0018.

Revision ID: 0019_presence_backfill
Revises: 0018_chat_presence
"""

from alembic import op

revision = "0019_presence_backfill"
down_revision = "0018_chat_presence"
branch_labels = None
depends_on = None

#: every identity of every active member, with the member's network: their first one and the ones
#: they linked (UNION: the same identity twice gives one row)
IDENTITIES = """
    SELECT m.network_id AS network_id, m.platform AS platform, m.user_id AS user_id
      FROM members AS m
     WHERE m.active
    UNION
    SELECT m.network_id, mi.platform, mi.user_id
      FROM member_identities AS mi JOIN members AS m ON m.id = mi.member_id
     WHERE m.active
"""

BACKFILL = f"""
INSERT INTO chat_presence (chat_id, user_id)
SELECT c.id, i.user_id
  FROM ({IDENTITIES}) AS i
  JOIN chats AS c ON c.network_id = i.network_id AND c.platform = i.platform
 WHERE (SELECT COUNT(*) FROM chats AS other
         WHERE other.network_id = c.network_id AND other.platform = c.platform) = 1
   AND NOT EXISTS (SELECT 1 FROM chat_presence AS p WHERE p.chat_id = c.id AND p.user_id = i.user_id)
"""


def upgrade() -> None:
    op.execute(BACKFILL)


def downgrade() -> None:
    pass  # see the docstring: the rows stay
