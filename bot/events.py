"""What comes in from a platform and what goes out to it, as frozen dataclasses.

Adapters build inbound events and call ``Core.handle``; the core answers with
:class:`Outgoing` messages addressed by serialisable :class:`Address` values, so a message
planned today can be sent after a restart by any replica.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Address:
    """Where a message goes: a group chat, one person privately (``chat_id`` None), or one
    person inside a group chat (both set: an answer only the asker sees, where the platform can).

    ``thread`` is the platform message id of a message to reply to / thread under, if any.
    """

    platform: str
    chat_id: str | None = None
    user_id: str | None = None
    thread: str | None = None

    @property
    def is_private(self) -> bool:
        """True when the message goes to one person only."""
        return self.user_id is not None and self.chat_id is None


@dataclass(frozen=True)
class Button:
    """A choice offered with a message; ``action`` comes back in :class:`ButtonPress`."""

    label: str
    action: str


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message (a report's chart, a member's data export)."""

    name: str
    mime: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Outgoing:
    """A message the core wants delivered. ``text`` is in the core's Markdown subset."""

    address: Address
    kind: str
    text: str
    buttons: tuple[Button, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    #: id of the outbox row, set once the message is stored; adapters report delivery with it
    outbox_id: int | None = None
    #: an answer for the asker alone (``address.user_id``) shown in the group chat: Slack shows
    #: it ephemerally, platforms without that reply to the asker's message
    ephemeral: bool = False
    #: files to upload with the message (Slack ``files_upload_v2``, Telegram ``sendDocument``)
    files: tuple[Attachment, ...] = ()
    #: the platform id of the member's message this answers; kept in the outbox row, so whichever
    #: replica sends it (after a restart too) can quote that message where the platform can
    reply_to: str | None = None


@dataclass(frozen=True)
class Person:
    """A platform user as the adapter sees them."""

    user_id: str
    name: str
    timezone: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class ChatRef:
    """A platform chat as the adapter sees it."""

    platform: str
    chat_id: str
    title: str = ""
    private: bool = False


@dataclass(frozen=True)
class MessageIn:
    """A text message (commands included) sent by a person in a chat.

    ``reply_to`` is the platform id of the message it answers (Telegram reply) or the
    thread root it sits under (Slack ``thread_ts``).
    """

    chat: ChatRef
    sender: Person
    text: str
    message_id: str | None = None
    reply_to: str | None = None
    #: the member spoke to the bot (an @mention, a 1:1 without a command prefix): a leading word
    #: that is a command counts as one (``pauze 2w`` as ``/pauze 2w``)
    addressed: bool = False


@dataclass(frozen=True)
class ButtonPress:
    """A person pressed a button the bot sent."""

    chat: ChatRef
    sender: Person
    action: str
    message_id: str | None = None


@dataclass(frozen=True)
class MemberJoined:
    """A person joined a chat; ``added_by`` is who added them, when known."""

    chat: ChatRef
    person: Person
    added_by: Person | None = None


@dataclass(frozen=True)
class MemberLeft:
    """A person left (or was removed from) a chat."""

    chat: ChatRef
    person: Person


@dataclass(frozen=True)
class BotAdded:
    """The bot was added to a chat; the chat becomes a network."""

    chat: ChatRef
    added_by: Person | None = None


#: how a chat itself was closed (:attr:`BotRemoved.closed`): ``archived`` (a Slack channel, a
#: Teams team) or ``deleted`` (a Teams team or channel, which its platform can restore for a while)
Closed = Literal["archived", "deleted"]


@dataclass(frozen=True)
class BotRemoved:
    """The bot was removed from a chat (or left it), or the chat was archived or deleted: the chat
    leaves its network."""

    chat: ChatRef
    #: None: the bot was taken out. Otherwise the chat itself was closed to new messages, not the
    #: bot taken out: to come back it is reopened first (taken out of the archive, or restored),
    #: and then, where the bot is no longer in it, the bot added
    closed: Closed | None = None


@dataclass(frozen=True)
class ChatMoved:
    """The chat goes on under another id (a Matrix room upgraded to a new room, whose members
    follow it there; a Telegram group converted into a supergroup): it stays in its network, with
    its history, and what is still to be sent to it goes to ``to``. Nothing happens when
    ``chat`` is no network's chat or ``to`` already is."""

    chat: ChatRef
    to: ChatRef


@dataclass(frozen=True)
class ChatRenamed:
    """The chat was renamed on its platform; ``title`` is its whole new title. The network's name
    follows it while the network is still named after this chat (the one it was made for, until
    the trekker chooses a name with ``/netwerk naam``). A title that is empty or has no letter or
    digit (only emoji or punctuation) changes nothing. Nothing is said, and nothing happens when
    the chat is no network's."""

    chat: ChatRef
    title: str


@dataclass(frozen=True)
class MessageEdited:
    """A person changed the text of a message they sent earlier (``message_id``, the platform's id of
    that message, as :attr:`MessageIn.message_id` carried it). ``text`` is the whole new text.
    Only the author's own edit is one: an adapter passes ``person`` as the platform says who edited."""

    chat: ChatRef
    person: Person
    message_id: str
    text: str


@dataclass(frozen=True)
class MessageDeleted:
    """A message was deleted (by its author, or redacted by a moderator) on the platform: what the
    bot kept of it goes too. ``message_id`` is the platform's id of the deleted message."""

    chat: ChatRef
    message_id: str


InboundEvent = (MessageIn | ButtonPress | MemberJoined | MemberLeft | BotAdded | BotRemoved | ChatMoved
                | ChatRenamed | MessageEdited | MessageDeleted)


class Unavailable(Exception):
    """The core cannot take the event now (its database is unreachable); nothing was stored.
    Adapters have the platform deliver it again (hold the polling offset, answer a webhook 503)."""
