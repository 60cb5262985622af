"""The console platform for the conformance suite: the virtual chat of ``adapters/console/harness.py``
(the real core, delivery and database; the harness's recorder is the platform).

The console is the reference: it has every capability the core can use except a length limit,
and it plays the platform's part in the faults itself (a recorder that answers 429, refuses a
group it was removed from, and hands over again an event the core could not take).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from adapters.console.harness import PLATFORM, Harness, Recorder
from bot.delivery import RetryAfter, Undeliverable
from bot.events import (
    BotAdded,
    BotRemoved,
    ButtonPress,
    ChatRef,
    ChatRenamed,
    InboundEvent,
    MessageDeleted,
    MessageEdited,
    MessageIn,
    Outgoing,
    Person,
    Unavailable,
)
from bot.markup import plain
from tests.contract.driver import (
    GROUP,
    PEOPLE,
    START,
    Driver,
    File,
    Sent,
    private,
)

#: what the console does not do yet (see tests/contract/conftest.py)
KNOWN_GAPS: dict[str, str] = {}
#: an ``@word`` without the word joiner the core puts after an echoed ``@`` would mention someone
MENTION = re.compile(r"@(?!\u2060)(\w+)")
TITLE = "Lerend netwerk Venlo"


class ConsolePlatform(Recorder):
    """The harness's recorder, plus what a platform does that the recorder alone does not:
    remember threads and replies, answer 429 when told, refuse a group the bot left."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(recorder.clock)
        self.placement: dict[str, tuple[str | None, str | None]] = {}
        self.throttle: list[int] = []
        self.throttled: list[datetime] = []
        self.removed = False

    async def send(self, message: Outgoing) -> str:
        """Record ``message`` (or refuse it as the platform would)."""
        if self.throttle:
            self.throttled.append(self.clock.now())
            raise RetryAfter(self.throttle.pop(0))
        if self.removed and message.address.chat_id is not None:
            raise Undeliverable("the bot is not in this group")
        message_id = await super().send(message)
        self.placement[message_id] = (message.address.thread, getattr(message, "reply_to", None))
        return message_id


class ConsoleDriver(Driver):
    """The console harness as a platform."""

    platform = PLATFORM
    capabilities = Recorder.capabilities

    def __init__(self, harness: Harness, url: str) -> None:
        self.harness = harness
        self.url = url
        self.db = harness.db
        self.clock = harness.clock
        self.chat_id = harness.chat.chat_id
        harness.chat = ChatRef(PLATFORM, self.chat_id, TITLE)
        harness.names.update(PEOPLE)
        self.recorder = ConsolePlatform(harness.recorder)
        harness.recorder = self.recorder
        harness.delivery.senders[PLATFORM] = self.recorder
        #: events the core could not take (database down), handed over again once it is back
        self.again: list[InboundEvent] = []
        self._ids = itertools.count(1)
        #: the chat each member message was written in: message id → chat
        self._chats: dict[str, ChatRef] = {}

    def user_id(self, user: str) -> str:
        """Console ids are the neutral keys."""
        return user

    # ------------------------------------------------------------------ what members do
    async def _hand_over(self, event: InboundEvent) -> None:
        try:
            await self.harness.core.handle(event)
        except Unavailable:
            self.again.append(event)
        await self._flush()

    async def _flush(self) -> None:
        if self.down:
            return
        while self.again:
            await self.harness.core.handle(self.again.pop(0))
        await self.harness.delivery.flush()

    def _person(self, user: str) -> Person:
        return Person(user, PEOPLE[user])

    async def add_bot(self, by: str = "anna") -> None:
        """The bot is added to the group by ``by``."""
        self.recorder.removed = False
        await self._hand_over(BotAdded(self.harness.chat, self._person(by)))

    async def remove_bot(self, by: str = "anna") -> None:
        """As a platform would: the core hears of it (BotRemoved), and the group refuses the bot from now on."""
        self.recorder.removed = True
        await self._hand_over(BotRemoved(self.harness.chat))

    async def rename(self, title: str, by: str = "anna") -> None:
        """The group is renamed (ChatRenamed: the console names no one who did it)."""
        self.harness.chat = ChatRef(PLATFORM, self.chat_id, title)
        await self._hand_over(ChatRenamed(self.harness.chat, title))

    async def join(self, user: str) -> None:
        """``user`` joins the group."""
        await self.harness.join(user, PEOPLE[user])

    async def leave(self, user: str) -> None:
        """``user`` leaves the group."""
        await self.harness.leave(user)

    async def group_message(self, user: str, text: str, reply_to: Sent | None = None) -> str:
        """``user`` writes in the group, optionally replying to a bot message."""
        message_id = f"u{next(self._ids)}"
        self._chats[message_id] = self.harness.chat
        await self._hand_over(MessageIn(self.harness.chat, self._person(user), text, message_id,
                                        reply_to.id if reply_to else None))
        return message_id

    async def edit(self, user: str, message_id: str, text: str) -> None:
        """``user`` edits their message ``message_id``."""
        await self._hand_over(MessageEdited(self._chats[message_id], self._person(user), message_id, text))

    async def delete(self, user: str, message_id: str) -> None:  # noqa: ARG002 - the protocol's signature
        """The message ``message_id`` is deleted."""
        await self._hand_over(MessageDeleted(self._chats[message_id], message_id))

    async def private_message(self, user: str, text: str) -> str:
        """``user`` writes the bot privately."""
        message_id = f"u{next(self._ids)}"
        chat = ChatRef(PLATFORM, f"dm-{user}", "", private=True)
        self._chats[message_id] = chat
        await self._hand_over(MessageIn(chat, self._person(user), text, message_id))
        return message_id

    async def press(self, user: str, message: Sent, choice: str) -> None:
        """``user`` presses the button labelled ``choice`` on ``message``."""
        recorded = next(s for s in self.recorder.sent if s.message_id == message.id)
        action = next(a for label, a in recorded.buttons if plain(label) == choice)
        chat = self.harness.chat if message.to == GROUP else ChatRef(PLATFORM, f"dm-{user}", "", private=True)
        await self._hand_over(ButtonPress(chat, self._person(user), action, message.id))

    def not_started(self, user: str) -> None:
        """Never needed: the console opens private chats itself."""
        raise AssertionError("the console opens private chats itself")

    # ------------------------------------------------------------------ what the platform saw
    def sent(self) -> list[Sent]:
        """What the recorder recorded, normalised."""
        out = []
        for s in self.recorder.sent:
            thread, reply_to = self.recorder.placement.get(s.message_id, (None, None))
            out.append(Sent(
                id=s.message_id, to=GROUP if s.to == "group" else private(s.to.removeprefix("dm:")),
                text=plain(s.text), buttons=tuple(plain(label) for label, _ in s.buttons),
                files=tuple(File(name, data) for name, _, data in s.files), thread=thread, reply_to=reply_to,
                visible_to=s.visible_to, pings=tuple(MENTION.findall(plain(s.text))), at=s.at, wire=s.text))
        return out

    def throttled(self) -> list[datetime]:
        """When the recorder answered 429."""
        return list(self.recorder.throttled)

    # ------------------------------------------------------------------ faults
    def fail_next_with_429(self, retry_after: int) -> None:
        """The next send is refused with 429."""
        self.recorder.throttle.append(retry_after)

    # ------------------------------------------------------------------ time
    async def tick(self) -> None:
        """Five virtual seconds pass (what falls due runs), then everything waiting goes out."""
        if self.down:
            self.clock.advance(timedelta(seconds=5))
            return
        await self._flush()
        await self.harness.advance(self.clock.now() + timedelta(seconds=5))

    async def advance(self, to: datetime) -> None:
        """Move the clock to ``to``, running what falls due on the way."""
        await self._flush()
        await self.harness.advance(to)


@asynccontextmanager
async def open_driver(url: str) -> AsyncIterator[Any]:
    """The console around the migrated database at ``url``; the bot not yet in the group."""
    harness = await Harness.open(url, START)
    try:
        yield ConsoleDriver(harness, url)
    finally:
        await harness.close()
