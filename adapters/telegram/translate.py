"""Telegram updates → the core's inbound events (pure functions, no network).

What the bot sees in a group depends on privacy mode (see docs/telegram.md): commands, replies to
its own messages and service messages (members joining and leaving) arrive in any case.
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Chat, ChatMember, Message, Update, User

from bot.events import (
    BotAdded,
    BotRemoved,
    ButtonPress,
    ChatMoved,
    ChatRef,
    ChatRenamed,
    InboundEvent,
    MemberJoined,
    MemberLeft,
    MessageEdited,
    MessageIn,
    Person,
)

PLATFORM = "telegram"
#: the chat types the bot works in; channels are ignored
CHAT_TYPES = (Chat.PRIVATE, Chat.GROUP, Chat.SUPERGROUP)
#: statuses in which the bot (or a person) is in a chat
PRESENT = (ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER)



@dataclass(frozen=True)
class Me:
    """The bot's own identity, from getMe."""

    id: int
    username: str


def chat_ref(chat: Chat) -> ChatRef:
    """The core's view of a Telegram chat."""
    return ChatRef(PLATFORM, str(chat.id), chat.title or "", private=chat.type == Chat.PRIVATE)


def person(user: User) -> Person:
    """The core's view of a Telegram user (language as its primary subtag, e.g. ``nl``)."""
    language = user.language_code.split("-", 1)[0].lower() if user.language_code else None
    return Person(str(user.id), user.full_name or str(user.id), language=language)


def addressed_elsewhere(text: str, me: Me) -> bool:
    """True for a command addressed to another bot (``/status@otherbot``)."""
    if not text.startswith("/"):
        return False
    head = text[1:].split(None, 1)[0] if len(text) > 1 else ""
    _, at, target = head.partition("@")
    return bool(at) and target.lower() != me.username.lower()


def reply_target(message: Message) -> str | None:
    """The id of the message this one answers; a topic's root message does not count (in a forum
    every message of a topic is technically a reply to the topic's first message)."""
    replied = message.reply_to_message
    if replied is None:
        return None
    if message.is_topic_message and (replied.message_id == message.message_thread_id
                                     or replied.forum_topic_created is not None):
        return None
    return str(replied.message_id)


def from_message(message: Message, me: Me) -> list[InboundEvent]:
    """Events for one (new) message: text, members joining or leaving."""
    chat = message.chat
    if chat.type not in CHAT_TYPES:
        return []
    ref = chat_ref(chat)
    author = message.from_user
    events: list[InboundEvent] = []
    if message.new_chat_members:
        adder = person(author) if author is not None and not author.is_bot else None
        for user in message.new_chat_members:
            if user.id == me.id:
                events.append(BotAdded(ref, adder))
            elif not user.is_bot:
                by = adder if adder is not None and author is not None and author.id != user.id else None
                events.append(MemberJoined(ref, person(user), by))
        return events
    if message.left_chat_member is not None:
        user = message.left_chat_member
        if user.id != me.id and not user.is_bot:
            events.append(MemberLeft(ref, person(user)))
        return events
    # a group converted into a supergroup goes on under a new id: Telegram says so in both chats
    # (``migrate_to_chat_id`` in the old group, ``migrate_from_chat_id`` in the supergroup); the
    # first to arrive moves the network's chat, the other then finds nothing left to move
    if message.migrate_to_chat_id:
        return [ChatMoved(ref, ChatRef(PLATFORM, str(message.migrate_to_chat_id), ref.title))]
    if message.migrate_from_chat_id:
        return [ChatMoved(ChatRef(PLATFORM, str(message.migrate_from_chat_id), ref.title), ref)]
    # the group's title was changed: a service message with ``new_chat_title`` (Bot API, Message:
    # https://core.telegram.org/bots/api#message); service messages reach a bot in privacy mode too
    # (https://core.telegram.org/bots/features#privacy-mode)
    if message.new_chat_title:
        return [ChatRenamed(ref, message.new_chat_title)]
    text = message.text
    if text is None or author is None or author.is_bot:
        return []  # photos, stickers, other bots and anonymous admins (sent "as the group")
    if message.sender_chat is not None:
        return []
    if addressed_elsewhere(text, me):
        return []
    return [MessageIn(ref, person(author), text, str(message.message_id), reply_target(message))]


def from_edit(message: Message) -> list[InboundEvent]:
    """An ``edited_message`` update: the new version of a member's text message. (The Bot API tells
    bots of no deletions in groups or private chats: see docs/telegram.md.)"""
    author, text = message.from_user, message.text
    if message.chat.type not in CHAT_TYPES or text is None or author is None or author.is_bot \
            or message.sender_chat is not None:
        return []
    return [MessageEdited(chat_ref(message.chat), person(author), str(message.message_id), text)]


def from_update(update: Update, me: Me) -> list[InboundEvent]:
    """The core's events for one update (empty when it means nothing to the core).

    Callback queries are translated by the adapter itself (they must always be answered).
    """
    if update.message is not None:
        return from_message(update.message, me)
    if update.edited_message is not None:
        return from_edit(update.edited_message)
    member = update.my_chat_member
    if member is not None and member.chat.type in (Chat.GROUP, Chat.SUPERGROUP):
        was_in = member.old_chat_member.status in PRESENT
        is_in = member.new_chat_member.status in PRESENT or (
            member.new_chat_member.status == ChatMember.RESTRICTED
            and getattr(member.new_chat_member, "is_member", False))
        if is_in and not was_in:
            adder = member.from_user
            return [BotAdded(chat_ref(member.chat), person(adder) if adder and not adder.is_bot else None)]
        if was_in and member.new_chat_member.status in (ChatMember.LEFT, ChatMember.BANNED):
            return [BotRemoved(chat_ref(member.chat))]  # the bot left or was removed ("left" / "kicked")
    return []


def button_press(update: Update) -> ButtonPress | None:
    """A callback query from one of the bot's messages as a :class:`ButtonPress` (None when it
    carries no data or its message is unknown, e.g. inline-mode messages)."""
    query = update.callback_query
    if query is None or not query.data or query.message is None:
        return None
    chat = query.message.chat
    if chat.type not in CHAT_TYPES:
        return None
    return ButtonPress(chat_ref(chat), person(query.from_user), query.data, str(query.message.message_id))
