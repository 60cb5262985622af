"""Bot Framework activities from Teams (as JSON, the wire shape) → the core's events.

* The core's ids: a conversation is known by its Teams id without a ``;messageid=`` thread suffix
  (or a hash when that is longer than the core's 100 characters); a person by their Entra object
  id (``aadObjectId``; guests have one in the host tenant too), else a hash of their ``29:`` id.
* A channel message that @mentions the bot, and every message in a 1:1, is *addressed* to the
  bot (``MessageIn.addressed``): the mention is removed, and the core takes a leading command word
  (``pauze 2w``) as a command.
* What a message answers: in a channel, the thread it sits in (``;messageid=<root>`` in the
  conversation id, or ``replyToId``); in a group chat, the message it quotes (a ``quotedReply``
  entity; older clients send an HTML attachment with ``<blockquote itemtype=
  "http://schema.skype.com/Reply" itemid="…">``).
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from typing import Any

from bot.events import (
    BotAdded,
    ButtonPress,
    ChatRef,
    ChatRenamed,
    Closed,
    InboundEvent,
    MemberJoined,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessageIn,
    Person,
)

PLATFORM = "teams"
#: the core's ids hold at most this many characters
MAX_ID = 100
THREAD_SUFFIX = ";messageid="
#: the key of a card button's data that carries the core's action
ACTION_KEY = "bamboe"
_QUOTED = re.compile(r"<quoted\s+messageId=\"[^\"]*\"\s*/>", re.IGNORECASE)
_LEGACY_QUOTE = re.compile(r"<blockquote[^>]*itemtype=\"http://schema\.skype\.com/Reply\"[^>]*>", re.IGNORECASE)
_ITEM_ID = re.compile(r"itemid=\"([^\"]+)\"", re.IGNORECASE)
_SPACE = re.compile(r"[ \t\u00a0]+")


def short_id(value: str) -> str:
    """``value`` if it fits the core's ids, else a stable hash of it (``h:<40 hex>``)."""
    return value if len(value) <= MAX_ID else "h:" + hashlib.sha256(value.encode()).hexdigest()[:40]


def base_conversation(conversation_id: str) -> str:
    """A conversation id without its thread suffix."""
    return conversation_id.split(THREAD_SUFFIX, 1)[0]


def thread_of(conversation_id: str) -> str | None:
    """The thread root message id in a channel conversation id (``…;messageid=<root>``)."""
    _, sep, root = conversation_id.partition(THREAD_SUFFIX)
    return root or None if sep else None


def user_key(account: dict[str, Any]) -> str:
    """The core's id for a Teams account: its Entra object id, else a hash of its Teams id."""
    aad = account.get("aadObjectId")
    if isinstance(aad, str) and aad:
        return aad.lower()
    return "h:" + hashlib.sha256(str(account.get("id", "")).encode()).hexdigest()[:40]


def kind_of(activity: dict[str, Any]) -> str:
    """``personal``, ``groupChat`` or ``channel``."""
    conversation = activity.get("conversation") or {}
    kind = conversation.get("conversationType")
    if kind in ("personal", "groupChat", "channel"):
        return kind
    return "groupChat" if conversation.get("isGroup") else "personal"


def tenant_of(activity: dict[str, Any]) -> str | None:
    """The tenant an activity comes from (conversation, else channel data)."""
    tenant = (activity.get("conversation") or {}).get("tenantId")
    if not tenant:
        tenant = ((activity.get("channelData") or {}).get("tenant") or {}).get("id")
    return str(tenant).lower() if tenant else None


def channel_title(team: str | None, channel: str | None) -> str:
    """A team channel's title: ``team – channel``, or the one of them that is known."""
    return " – ".join(p for p in (team, channel) if p)


def names_of(activity: dict[str, Any]) -> tuple[str | None, str | None]:
    """The team's and the conversation's channel name as this activity carries them (None: not
    carried). A channel name counts only when ``channelData.channel`` is the activity's own
    conversation: a ``channelRenamed`` arrives in the team's conversation about another channel."""
    data = activity.get("channelData") or {}
    team = (data.get("team") or {}).get("name")
    channel = data.get("channel") or {}
    own = base_conversation(str((activity.get("conversation") or {}).get("id", "")))
    name = channel.get("name") if base_conversation(str(channel.get("id", ""))) == own else None
    return (team if isinstance(team, str) and team else None), (name if isinstance(name, str) and name else None)


def chat_ref(activity: dict[str, Any]) -> ChatRef:
    """The core's view of the activity's conversation."""
    conversation = activity.get("conversation") or {}
    data = activity.get("channelData") or {}
    kind = kind_of(activity)
    title = ""
    if kind == "channel":
        team = (data.get("team") or {}).get("name") or ""
        channel = (data.get("channel") or {}).get("name") or ""
        title = channel_title(team, channel) or conversation.get("name") or ""
    elif kind == "groupChat":
        title = conversation.get("name") or ""
    return ChatRef(PLATFORM, short_id(base_conversation(str(conversation.get("id", "")))), title[:200],
                   private=kind == "personal")


def person(account: dict[str, Any]) -> Person:
    """A Teams account as the core's person."""
    return Person(user_key(account), (account.get("name") or "").strip() or "Teams")


@dataclass(frozen=True)
class Text:
    """What a person wrote, cleaned: the text, whether it addressed the bot, what it answers."""

    text: str
    addressed: bool
    reply_to: str | None


def read_text(activity: dict[str, Any]) -> Text:
    """The message text without the bot's @mention and quote placeholders, and what it answers."""
    raw = str(activity.get("text") or "")
    bot_id = (activity.get("recipient") or {}).get("id")
    addressed = kind_of(activity) == "personal"
    for entity in activity.get("entities") or []:
        if entity.get("type") == "mention" and (entity.get("mentioned") or {}).get("id") == bot_id:
            addressed = True
            mention = entity.get("text") or ""
            if mention:
                raw = raw.replace(mention, " ")
    raw = _QUOTED.sub(" ", raw)
    text = "\n".join(_SPACE.sub(" ", line).strip() for line in html.unescape(raw).replace("\r\n", "\n").split("\n"))
    return Text(text.strip(), addressed, answers(activity))


def answers(activity: dict[str, Any]) -> str | None:
    """The platform id of the message this one answers (thread root, or the quoted message)."""
    conversation_id = str((activity.get("conversation") or {}).get("id", ""))
    if kind_of(activity) == "channel":
        return thread_of(conversation_id) or activity.get("replyToId") or None
    for entity in activity.get("entities") or []:
        if entity.get("type") == "quotedReply":
            quoted = (entity.get("quotedReply") or {}).get("messageId")
            if quoted:
                return str(quoted)
    for attachment in activity.get("attachments") or []:
        if attachment.get("contentType") == "text/html" and isinstance(attachment.get("content"), str):
            block = _LEGACY_QUOTE.search(attachment["content"])
            if block:
                item = _ITEM_ID.search(block.group(0))
                if item:
                    return item.group(1)
    return None


def button_action(activity: dict[str, Any]) -> str | None:
    """The core's action of a card button: ``Action.Submit`` (a message with ``value``) or
    ``Action.Execute`` (an ``adaptiveCard/action`` invoke)."""
    value = activity.get("value")
    if not isinstance(value, dict):
        return None
    if activity.get("type") == "invoke":
        value = ((value.get("action") or {}).get("data")) or {}
    action = value.get(ACTION_KEY) if isinstance(value, dict) else None
    return action if isinstance(action, str) and action else None


def message_events(activity: dict[str, Any]) -> list[InboundEvent]:
    """A message activity (or a card's submit) as the core's events."""
    chat = chat_ref(activity)
    sender = person(activity.get("from") or {})
    action = button_action(activity)
    if action is not None:
        return [ButtonPress(chat, sender, action, activity.get("replyToId"))]
    text = read_text(activity)
    if not text.text:
        return []
    return [MessageIn(chat, sender, text.text, activity.get("id"), text.reply_to, addressed=text.addressed)]


def change_events(activity: dict[str, Any]) -> list[InboundEvent]:
    """A member's message edited or deleted: a ``messageUpdate`` activity with ``channelData.eventType``
    ``editMessage`` (the whole revised message, its ``id`` the edited message's) or a
    ``messageDelete`` (``softDeleteMessage``; its ``id`` the deleted message's). A ``messageUpdate``
    with ``undeleteMessage`` (the message restored) brings nothing back: what was dropped stays dropped."""
    message_id = activity.get("id")
    if not isinstance(message_id, str) or not message_id:
        return []
    chat = chat_ref(activity)
    if activity.get("type") == "messageDelete":
        return [MessageDeleted(chat, message_id)]
    if (activity.get("channelData") or {}).get("eventType") != "editMessage":
        return []
    return [MessageEdited(chat, person(activity.get("from") or {}), message_id, read_text(activity).text)]


def membership_events(activity: dict[str, Any], names: dict[str, str]) -> tuple[list[InboundEvent], bool, bool]:
    """A ``conversationUpdate`` as the core's join/leave events, and whether the bot itself was
    added or removed. ``names`` gives display names by Teams id (``membersAdded`` has none)."""
    chat = chat_ref(activity)
    bot_id = (activity.get("recipient") or {}).get("id")
    events: list[InboundEvent] = []
    bot_added = bot_removed = False
    for account in activity.get("membersAdded") or []:
        if account.get("id") == bot_id:
            bot_added = True
        elif not chat.private:
            named = {**account, "name": account.get("name") or names.get(account.get("id", ""), "")}
            events.append(MemberJoined(chat, person(named)))
    for account in activity.get("membersRemoved") or []:
        if account.get("id") == bot_id:
            bot_removed = True
        elif not chat.private:
            events.append(MemberLeft(chat, person(account)))
    return events, bot_added, bot_removed


#: the ``conversationUpdate`` activities Teams sends for a team's and a channel's life, by their
#: ``channelData.eventType`` (lower case): whether it closes, what it closes or opens again, and how
#: the core hears the chat was closed (:attr:`bot.events.BotRemoved.closed`).
#: Wire format (Microsoft, "Conversation events in your Teams bot",
#: https://learn.microsoft.com/microsoftteams/platform/bots/how-to/conversations/subscribe-to-conversation-events):
#: no ``membersAdded``/``membersRemoved``; ``conversation.id`` is the team's id (its General
#: channel), ``channelData.team`` the team (``id``, for team events ``name``),
#: ``channelData.channel`` the channel deleted or restored (``id``, ``name``); ``from`` carries only
#: a ``29:`` id in the samples. The page's sample spells ``teamrestored`` in lower case where the
#: SDKs compare ``teamRestored``: compared without case. A team is archived as a whole (a channel
#: cannot be); teams and channels are deleted softly and can be restored.
TEAM_LIFECYCLE: dict[str, tuple[bool, str, Closed]] = {
    "teamarchived": (True, "team_archived", "archived"),
    "teamunarchived": (False, "team_archived", "archived"),
    "teamdeleted": (True, "team_deleted", "deleted"),
    "teamrestored": (False, "team_deleted", "deleted"),
    "channeldeleted": (True, "channel_deleted", "deleted"),
    "channelrestored": (False, "channel_deleted", "deleted"),
}


def lifecycle_target(activity: dict[str, Any]) -> tuple[str, str | None] | None:
    """What a :data:`TEAM_LIFECYCLE` activity is about: (the team's id, the core's chat id of the
    channel for a channel event, else None); None when the activity lacks them."""
    data = activity.get("channelData") or {}
    team = (data.get("team") or {}).get("id")
    if not isinstance(team, str) or not team:
        return None
    if not str(data.get("eventType") or "").lower().startswith("channel"):
        return team, None
    channel = (data.get("channel") or {}).get("id")
    if not isinstance(channel, str) or not channel:
        return None
    return team, short_id(base_conversation(channel))


def reopened(activity: dict[str, Any], chat_id: str, team_name: str | None = None,
             channel_name: str | None = None) -> BotAdded:
    """The core's event for a channel open again after a team was unarchived or restored (or the
    channel restored): as the app being added there, by whoever did it (when Teams says who). Its
    title is the channel's whole title ("team – channel"): the names the activity carries (a team
    event names the team, a channel event the channel), else the ones last seen (``team_name``,
    ``channel_name``, kept in ``teams_conversations``)."""
    data = activity.get("channelData") or {}
    team = (data.get("team") or {}).get("name") or team_name
    if str(data.get("eventType") or "").lower().startswith("channel"):
        channel_name = (data.get("channel") or {}).get("name") or channel_name
    title = channel_title(team if isinstance(team, str) else team_name, channel_name)
    sender = activity.get("from") or {}
    return BotAdded(ChatRef(PLATFORM, chat_id, title[:200]), person(sender) if sender.get("aadObjectId") else None)


#: ``channelData.eventType`` of a ``conversationUpdate`` that renames a team or one of its channels
#: (https://learn.microsoft.com/microsoftteams/platform/bots/how-to/conversations/subscribe-to-conversation-events)
RENAMES = ("teamRenamed", "channelRenamed")


def renamed(activity: dict[str, Any]) -> tuple[str, str, str] | None:
    """What a ``teamRenamed`` / ``channelRenamed`` says: (``team`` or ``channel``, the team's or
    the channel's id, its new name). ``teamRenamed`` carries ``channelData.team`` with its new
    ``name``; ``channelRenamed`` carries ``channelData.channel`` (``id``, ``name``) of the renamed
    channel, in the team's conversation, and the team's id only. None for anything else."""
    data = activity.get("channelData") or {}
    kind = data.get("eventType")
    if kind not in RENAMES:
        return None
    part = "team" if kind == "teamRenamed" else "channel"
    found = data.get(part) or {}
    target, name = found.get("id"), found.get("name")
    if not isinstance(target, str) or not target or not isinstance(name, str):
        return None
    return part, target, name


def topic_renamed(activity: dict[str, Any]) -> ChatRenamed | None:
    """A group chat's new topic: a ``conversationUpdate`` with ``topicName``. Microsoft's Teams
    pages show no such activity (their list of conversation events has no group chat rename); the
    activity protocol defines ``topicName`` as the conversation's topic, sent only when it changes
    (https://github.com/microsoft/Agents/blob/main/specs/activity/protocol-activity.md, A4100,
    A4103), and the Teams SDK lists ``topicName`` among the conversation update events Teams
    supports. None for anything else (a channel's name comes with ``channelRenamed``)."""
    topic = activity.get("topicName")
    if kind_of(activity) != "groupChat" or not isinstance(topic, str) or not topic.strip():
        return None
    chat = chat_ref(activity)
    title = topic.strip()[:200]
    return ChatRenamed(ChatRef(chat.platform, chat.chat_id, title), title)


def bot_added(activity: dict[str, Any]) -> BotAdded:
    """The core's event for the app being added to the activity's conversation."""
    sender = activity.get("from") or {}
    adder = person(sender) if sender.get("aadObjectId") else None
    return BotAdded(chat_ref(activity), adder)
