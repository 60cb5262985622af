"""What a chat platform can do, declared once by its adapter.

The core and delivery consult an adapter's :class:`Capabilities` instead of platform names: where
a platform lacks something, the adapter degrades (numbered choices for buttons, a reply to the
asker for an answer only they should see) and the core never branches on which platform it is.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Capabilities:
    """A platform's abilities, as its adapter offers them to the core."""

    #: an answer only the asker sees, inside the group (Slack's ephemeral messages)
    ephemeral: bool = False
    #: messages can be posted under a thread root (``Address.thread``)
    threads: bool = False
    #: a message can quote the member's message it answers (``Outgoing.reply_to``)
    replies: bool = False
    #: inline buttons; without them the adapter shows numbered choices and the text command
    buttons: bool = False
    #: a sent message can be edited
    edits: bool = False
    #: the bot can open a private chat itself; without it a private message waits until the person
    #: writes the bot first (``bot.delivery.NotStarted``)
    opens_private: bool = True
    #: characters one message part may hold
    max_text: int = 4000
    #: files can be sent (reports, the data export)
    files: bool = True
    #: ``Sender.confirm`` can tell whether a row in doubt (a send interrupted by a crash) arrived
    confirms: bool = False
