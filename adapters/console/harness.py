"""A virtual group chat around the real core: used by ``bamboe demo``, ``bamboe simulate`` and tests.

It runs the core on a real database and a :class:`~bot.clock.VirtualClock`, records every
message the core sends, and lets callers speak as members, press buttons, join, leave and move
the clock on, firing everything that falls due on the way, in time order.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from bamboe.features import FEATURES
from bot import directory
from bot.clock import VirtualClock
from bot.core import Core
from bot.database import Database, create_engine, upgrade
from bot.delivery import Delivery
from bot.events import (
    ButtonPress,
    ChatRef,
    ChatRenamed,
    MemberJoined,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessageIn,
    Outgoing,
    Person,
)
from bot.features.network import PERSPECTIVE_ALIASES
from bot.markup import Markup, plain, with_commands
from bot.models import Base, Chat, MemberIdentity, Network
from bot.platform import Capabilities
from bot.registry import Feature

PLATFORM = "sim"
#: platforms a scenario's chat may be labelled with whose adapters cannot show an answer to one
#: person inside the group (``Capabilities.ephemeral``; tests/test_confidential.py checks this
#: against the adapters): the core answers confidentially in a private chat there, as it would for real
NO_EPHEMERAL = frozenset({"telegram", "teams", "matrix"})


def _slack_command(reference: str, group: bool) -> str:
    from adapters.slack.render import slash_command  # the Slack adapter's own renderer (no SDK import)

    return slash_command(reference)


def _teams_command(reference: str, group: bool) -> str:
    from adapters.teams.render import command_text  # the Teams adapter's own renderer (no SDK import)

    return command_text(reference, group)


def _matrix_command(reference: str, group: bool) -> str:
    from adapters.matrix.render import COMMAND_PREFIX  # the Matrix adapter's own prefix (no SDK import)

    return COMMAND_PREFIX + reference


#: how a command reference reads in a chat labelled with a platform (``chats:`` of a scenario), in a
#: group (True) or a private chat, through each adapter's own renderer
COMMAND_STYLES = {
    "slack": _slack_command,
    "teams": _teams_command,
    "matrix": _matrix_command,
}
#: rendered references are escaped like any text (an ``@`` gets a word joiner); ``@Bamboe`` is meant
BOT_MENTION, BOT_MENTION_ESCAPED = "@Bamboe", "@\u2060Bamboe"


@dataclass
class Sent:
    """One message the bot sent, as the virtual chat saw it."""

    at: datetime
    to: str  # "group" or "dm:<member id>"
    kind: str
    text: str  # in the core's Markdown subset
    buttons: list[tuple[str, str]]
    meta: dict[str, Any]
    message_id: str
    visible_to: str | None = None  # an answer in the group only the asker sees
    #: attached files: (name, mime type, content); ``paths`` where ``simulate --out`` wrote them
    files: list[tuple[str, str, bytes]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    #: which chat of a network with several (the scenario's chat id); None with a single chat
    chat: str | None = None

    def has(self, kind: str) -> bool:
        """This message is of ``kind``, or the message budget merged a ``kind`` message into it."""
        return self.kind == kind or kind in self.meta.get("merged", ())

    def transcript(self, timezone: str) -> dict[str, Any]:
        """The JSON object ``bamboe simulate`` prints for this message."""
        from zoneinfo import ZoneInfo

        line: dict[str, Any] = {
            "at": self.at.astimezone(ZoneInfo(timezone)).isoformat(timespec="seconds"),
            "to": self.to, "kind": self.kind, "text": plain(self.text),
            "buttons": [label for label, _ in self.buttons],
        }
        if self.chat is not None:
            line["chat"] = self.chat
        if self.visible_to:
            line["visible_to"] = self.visible_to
        for key in ("step", "round", "merged"):
            if key in self.meta:
                line[key] = self.meta[key]
        if self.files:
            line["files"] = self.paths or [name for name, _, _ in self.files]
        return line


def split_lines(text: str, limit: int) -> list[str]:
    """``text`` in parts of at most ``limit`` characters, cut between lines (a line longer than
    that between words), so the markup of each line stays whole."""
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            cut = line.rfind(" ", 0, limit) + 1 or limit
            parts.append(line[:cut])
            line = line[cut:]
        if current and len(current) + 1 + len(line) > limit:
            parts.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    parts.append(current)
    return parts


def console_command(reference: str) -> str:
    """A command reference as typed in the console (as on Telegram): ``/pauze 2w``."""
    return "/" + reference


@dataclass
class Recorder:
    """The virtual platform: records what the core sends and hands out message ids."""

    clock: VirtualClock
    #: the console can do everything the core asks for (it only records it)
    capabilities = Capabilities(ephemeral=True, threads=True, replies=True, buttons=True, edits=True,
                                opens_private=True, max_text=4000, files=True, confirms=False)
    sent: list[Sent] = field(default_factory=list)
    listeners: list = field(default_factory=list)
    #: where attached files are written (``bamboe simulate --out``); None keeps them in memory only
    files_dir: Path | None = None
    #: (platform, chat id) → the scenario's name for the chat, when a network has several
    chat_names: dict[tuple[str, str], str] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    async def send(self, message: Outgoing) -> str:
        """Record ``message`` (as several parts when it is longer than ``capabilities.max_text``,
        the buttons and files with the last) and return the last part's message id."""
        addr = message.address
        to = "group" if addr.chat_id is not None else f"dm:{addr.user_id}"
        style = COMMAND_STYLES.get(addr.platform)
        rendered = with_commands(message.text, console_command if style is None else
                                 lambda reference: style(reference, addr.chat_id is not None))
        rendered = Markup(rendered.replace(BOT_MENTION_ESCAPED, BOT_MENTION))  # the bot's own name, as Teams shows it
        chat = self.chat_names.get((addr.platform, addr.chat_id)) if addr.chat_id is not None else None
        parts = split_lines(rendered, self.capabilities.max_text)
        for number, text in enumerate(parts, 1):
            last = number == len(parts)
            sent = Sent(self.clock.now(), to, message.kind, text,
                        [(b.label, b.action) for b in message.buttons] if last else [], dict(message.meta),
                        f"m{next(self._ids)}", addr.user_id if message.ephemeral else None,
                        [(f.name, f.mime, f.data) for f in message.files] if last else [], chat=chat)
            if self.files_dir is not None:
                for name, _, data in sent.files:
                    path = self.files_dir / f"{sent.message_id}-{Path(name).name}"
                    path.write_bytes(data)
                    sent.paths.append(str(path))
            self.sent.append(sent)
            for listener in self.listeners:
                listener(sent)
        return sent.message_id

    def capabilities_for(self, platform: str) -> Capabilities:
        """What the core is told a chat labelled ``platform`` can do: everything, except answers
        only the asker sees where that platform's adapter has none."""
        return replace(self.capabilities, ephemeral=platform not in NO_EPHEMERAL)

    def latest(self, kind: str, *, to: str | None = None, chat: str | None = None) -> Sent | None:
        """The latest message of ``kind`` (optionally to one address, or in one chat of several),
        also when the message budget merged it into a post of another kind."""
        for sent in reversed(self.sent):
            if sent.has(kind) and (to is None or sent.to == to) and (chat is None or sent.chat in (chat, None)):
                return sent
        return None


def _earliest(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None


class HarnessError(ValueError):
    """Something the caller asked of the virtual chat cannot be done (unknown member, …)."""


class Harness:
    """The real core in a virtual chat with a virtual clock (or a network of several virtual chats)."""

    def __init__(self, db: Database, clock: VirtualClock, chat_id: str = "group",
                 features: Iterable[Feature] = FEATURES) -> None:
        self.db = db
        self.clock = clock
        self.recorder = Recorder(clock)
        self.core = Core(db, clock, features, {PLATFORM: self.recorder.capabilities_for(PLATFORM)})
        self.delivery = Delivery(db, clock, {PLATFORM: self.recorder})
        self.chat = ChatRef(PLATFORM, chat_id, "")
        #: a network with several chats: the scenario's chat id → the chat, and each member's chats
        self.chats: dict[str, ChatRef] = {}
        self.member_chats: dict[str, list[str]] = {}
        self.names: dict[str, str] = {}
        self.timezone = "Europe/Amsterdam"
        self._message_ids = itertools.count(1)
        #: the members' messages so far: message id → the chat it was said in
        self._said: dict[str, ChatRef] = {}
        #: each member's message ids, in order
        self._said_by: dict[str, list[str]] = {}
        self._flushed = False
        #: :attr:`Database.queued` at the start of the last delivery round
        self._queued = 0

    @classmethod
    async def open(cls, url: str, start: datetime, chat_id: str = "group", *, fresh: bool = False) -> Harness:
        """Open (and migrate) the database at ``url`` and return a harness on it (SQLite runs in
        this thread: :mod:`bot.sqlite_inline`).

        ``fresh``: ``url`` is a new, private, empty database (``simulate``'s temporary file): its
        tables are made from the models in one go instead of by replaying every migration (the
        result is the same schema; tests/test_migrations.py checks that)."""
        db = Database(create_engine(url, inline=True))
        if fresh:
            async with db.engine.begin() as conn:
                await conn.run_sync(Base.metadata.create_all)
        else:
            await upgrade(db.engine)
        return cls(db, VirtualClock(start), chat_id)

    async def close(self) -> None:
        """Release the database."""
        await self.db.close()

    # ------------------------------------------------------------------ set-up
    async def setup(self, network: dict[str, Any], members: list[dict[str, Any]],
                    chats: list[dict[str, Any]] | None = None) -> None:
        """Create the network afresh (removing an earlier one on the same chat) with its members.

        ``chats`` (``[{id, platform, title}]``) gives the network several chats, each on the
        platform it names (a label: the core and delivery treat it as that platform; commands are
        shown the way that platform's members type them). A member's ``chats`` says where they are;
        a member in chats on two platforms is one person with two linked identities.
        """
        now = self.clock.now()
        title = network.get("name", "Lerend netwerk")
        if chats:
            self.chats = {c["id"]: ChatRef(c.get("platform", PLATFORM), f"{self.chat.chat_id}-{c['id']}",
                                           c.get("title") or title) for c in chats}
            self.recorder.chat_names = {(ref.platform, ref.chat_id): key for key, ref in self.chats.items()}
            self.delivery = Delivery(self.db, self.clock, {ref.platform: self.recorder for ref in self.chats.values()})
            self.core.platforms.update({ref.platform: self.recorder.capabilities_for(ref.platform)
                                        for ref in self.chats.values()})
            self.chat = next(iter(self.chats.values()))
        else:
            self.chat = ChatRef(PLATFORM, self.chat.chat_id, title)
        async with self.db.transaction() as session:
            for ref in self.chats.values() or [self.chat]:
                old = await session.scalar(select(Chat.network_id).where(Chat.platform == ref.platform,
                                                                        Chat.chat_id == ref.chat_id))
                if old is not None:
                    await session.execute(delete(Network).where(Network.id == old))
                    await session.flush()
            net = (await directory.ensure_network(session, self.chat, now)).network
            if net.name != str(title):  # the scenario names it otherwise than its first chat: chosen
                net.name, net.name_chat_id = str(title), None
            for ref in list(self.chats.values())[1:]:
                session.add(Chat(network_id=net.id, platform=ref.platform, chat_id=ref.chat_id, title=ref.title))
            for key in ("intention", "ambition", "language", "timezone"):
                if network.get(key):
                    setattr(net, key, str(network[key]))
            self.timezone = net.timezone
            for m in members:
                where = [str(c) for c in m.get("chats") or list(self.chats)[:1]]
                self.member_chats[m["id"]] = where
                refs = [self._chat(c) for c in where] or [self.chat]
                member = await directory.ensure_member(session, net, refs[0].platform,
                                                       Person(m["id"], m.get("name", m["id"])), now)
                for platform in dict.fromkeys(r.platform for r in refs[1:]):
                    if platform != refs[0].platform:  # the same person in a chat on another platform
                        session.add(MemberIdentity(member_id=member.id, network_id=net.id, platform=platform,
                                                   user_id=m["id"], linked_at=now))
                for ref in refs:  # where the scenario says they are
                    row = await session.scalar(select(Chat).where(Chat.platform == ref.platform,
                                                                  Chat.chat_id == ref.chat_id))
                    await directory.note_presence(session, row, m["id"])
                member.role = m.get("role", "deelnemer")
                member.perspective = m.get("perspective")
                self.names[m["id"]] = member.name
            await self.core.features.plan_network(session, net, now)

    def add_chat(self, key: str, platform: str, title: str) -> ChatRef:
        """A further chat the bot has not met yet (it becomes a network of its own on first contact)."""
        ref = ChatRef(platform, f"{self.chat.chat_id}-{key}", title)
        self.chats = self.chats or {self.chat_key(self.chat) or "group": self.chat}
        self.chats[key] = ref
        self.recorder.chat_names[(platform, ref.chat_id)] = key
        self.delivery = Delivery(self.db, self.clock, {r.platform: self.recorder for r in self.chats.values()})
        self.core.platforms[platform] = self.recorder.capabilities_for(platform)
        return ref

    def _chat(self, key: str | None, member_id: str | None = None) -> ChatRef:
        """The chat a step happens in: the one named, else the member's first, else the only one."""
        if not self.chats:
            if key is not None:
                raise HarnessError(f"chat {key!r}: this scenario has no chats list")
            return self.chat
        if key is None:
            key = (self.member_chats.get(member_id or "") or list(self.chats))[0]
        if key not in self.chats:
            raise HarnessError(f"unknown chat {key!r}; the chats are {', '.join(self.chats)}")
        return self.chats[key]

    def chat_key(self, ref: ChatRef) -> str | None:
        """The scenario's name of a chat (None with a single chat)."""
        return self.recorder.chat_names.get((ref.platform, ref.chat_id))

    # ------------------------------------------------------------------ time
    async def advance(self, target: datetime) -> None:
        """Move the clock to ``target``, running everything due on the way, in time order: jobs,
        and messages that wait (a conversation's gap, a retry, another process's lease)."""
        dispatcher = self.core.dispatcher
        if not self._flushed:  # once: what another process (a bot before a restart) left in the outbox
            await self.delivery.flush()
            self._flushed = True
            dispatcher.upcoming = await dispatcher.next_due()  # and the jobs it planned
        # this harness alone writes its database: the dispatcher knows the next job without asking
        due = _earliest(dispatcher.known_due(), self.delivery.next_due)
        while due is not None and due <= target:
            self.clock.set(due)
            await self.core.run_due()
            await self._deliver()
            due = _earliest(dispatcher.known_due(), self.delivery.next_due)
        self.clock.set(target)

    async def _deliver(self) -> None:
        """Deliver what became sendable: rows queued since the last round (also during it, e.g. the
        group's notice about a private chat not started yet) or put back until now. Without either
        a round could only find nothing, and is skipped."""
        due = self.delivery.next_due is not None and self.delivery.next_due <= self.clock.now()
        while due or self.db.queued != self._queued:
            self._queued, due = self.db.queued, False
            await self.delivery.flush()

    # ------------------------------------------------------------------ people
    def person(self, member_id: str) -> Person:
        """The platform identity of a known member."""
        if member_id not in self.names:
            raise HarnessError(f"unknown member {member_id!r}")
        return Person(member_id, self.names[member_id])

    async def _handle(self, event: Any) -> None:
        await self.core.handle(event)
        await self._deliver()

    async def say(self, member_id: str, text: str, *, reply_to: str | None = None, private: bool = False,
                  chat: str | None = None) -> str:
        """``member_id`` writes ``text`` in the group (or privately), optionally replying to the
        latest bot message of kind ``reply_to``; with several chats, in ``chat`` (default: their first).
        A private message goes to the bot on the platform of that chat. Returns the message's id
        (for :meth:`edit` and :meth:`delete`)."""
        person = self.person(member_id)
        where = self._chat(chat, member_id)
        ref = None
        if reply_to is not None:
            target = self.recorder.latest(reply_to, chat=self.chat_key(where))
            if target is None:
                raise HarnessError(f"there is no bot message of kind {reply_to!r} to reply to yet")
            ref = target.message_id
        if private:
            where = ChatRef(where.platform, f"dm-{member_id}", "", private=True)
        message_id = f"u{next(self._message_ids)}"
        self._said[message_id] = where
        self._said_by.setdefault(member_id, []).append(message_id)
        await self._handle(MessageIn(where, person, text, message_id, ref))
        return message_id

    def said_by(self, member_id: str, back: int = 1) -> str:
        """The id of ``member_id``'s ``back``-th latest message (1: their latest)."""
        said = self._said_by.get(member_id, [])
        if not 1 <= back <= len(said):
            raise HarnessError(f"{member_id!r} has not written {back} message(s) yet")
        return said[-back]

    async def edit(self, member_id: str, message_id: str, text: str) -> None:
        """``member_id`` changes the text of the message ``message_id`` (from :meth:`say`) to ``text``."""
        await self._handle(MessageEdited(self._said[message_id], self.person(member_id), message_id, text))

    async def delete(self, message_id: str) -> None:
        """The message ``message_id`` (from :meth:`say`) is deleted in its chat."""
        await self._handle(MessageDeleted(self._said[message_id], message_id))

    async def rename(self, title: str, *, chat: str | None = None) -> None:
        """The group chat (with several chats: ``chat``, default the first) is renamed to ``title``
        on its platform."""
        where = self._chat(chat)
        renamed = ChatRef(where.platform, where.chat_id, title)
        key = self.chat_key(where)
        if key in self.chats:
            self.chats[key] = renamed
            self.chat = next(iter(self.chats.values()))
        else:
            self.chat = renamed
        await self._handle(ChatRenamed(renamed, title))

    async def press(self, member_id: str, label: str, on: str, *, chat: str | None = None) -> None:
        """``member_id`` presses the button labelled ``label`` on the latest message of kind ``on``
        that has it (buttons stay on older messages, as in a real chat)."""
        person = self.person(member_id)
        where = self._chat(chat, member_id)
        key = self.chat_key(where)
        seen_kind = False
        for sent in reversed(self.recorder.sent):
            if not sent.has(on) or sent.to not in ("group", f"dm:{member_id}") or (
                    sent.to == "group" and sent.chat != key):
                continue
            seen_kind = True
            for button_label, action in sent.buttons:
                if button_label.casefold() == label.casefold():
                    # a button on a private message is pressed in the private chat (on the platform of
                    # ``chat``), as the adapters hand it over
                    chat_ref = where if sent.to == "group" else ChatRef(where.platform, f"dm-{member_id}", "",
                                                                        private=True)
                    await self._handle(ButtonPress(chat_ref, person, action, sent.message_id))
                    return
        if seen_kind:
            raise HarnessError(f"no {on!r} message has a button {label!r}")
        raise HarnessError(f"there is no bot message of kind {on!r} yet")

    async def join(self, member_id: str, name: str, perspective: str | None = None, *,
                   chat: str | None = None) -> None:
        """Someone joins the group chat (with several chats: ``chat``, default the first)."""
        self.names[member_id] = name
        where = self._chat(chat)
        self.member_chats.setdefault(member_id, [k for k, r in self.chats.items() if r == where])
        await self._handle(MemberJoined(where, Person(member_id, name)))
        if perspective:
            async with self.db.transaction() as session:
                net = await session.scalar(select(Chat.network_id).where(Chat.platform == where.platform,
                                                                        Chat.chat_id == where.chat_id))
                member = await directory.find_by_platform_id(session, net, where.platform, member_id)
                member.perspective = PERSPECTIVE_ALIASES.get(perspective, perspective)

    async def leave(self, member_id: str, *, chat: str | None = None) -> None:
        """Someone leaves the group chat (with several chats: ``chat``, default their first)."""
        await self._handle(MemberLeft(self._chat(chat, member_id), self.person(member_id)))
