"""The driver protocol of the conformance suite: what a platform's driver offers the tests.

A driver plays *the platform* around the real adapter: it makes members speak, press buttons,
join and leave the way that platform's clients do (through the adapter's real SDK entry point:
signed Slack requests, Telegram updates, Bot Framework activities, Matrix events…), and it reads
back what the adapter sent to the platform's stand-in, normalised as :class:`Sent` records.
The tests in ``tests/contract/`` speak only this protocol and read only
``driver.capabilities``; they never name a platform.

Adding a platform: write ``tests/contract/drivers/<platform>.py`` with an ``open_driver(url)``
async context manager that yields a :class:`Driver` subclass (the bot *not yet* in the group,
the database at ``url`` migrated and empty), then add its module to ``DRIVERS`` in
``tests/contract/conftest.py``. The methods to write are the abstract ones below; the helpers
(waiting, posting from the core, reading rows) come with the base class.

Conventions every driver follows:

* Members are named by the neutral keys of :data:`PEOPLE` (``"anna"``, ``"bram"``, ``"cem"``);
  the driver maps them to platform ids and display names (:data:`PEOPLE` holds the names).
* There is one group chat. :data:`GROUP` and :func:`private` name where a message went.
* Texts come in and are checked in the core's form: a command is written ``/status``; the
  driver types it the way a member does there (Slack ``/bamboe status``, Matrix ``!status``,
  Teams ``@Bamboe status``). ``Sent.text`` is what a member *reads*: the platform's markup
  decoded (bold shown as plain letters, entities decoded), so a formatting marker that survives
  as a visible character was not formatting.
* Time is a :class:`~bot.clock.VirtualClock` starting Monday 5 January 2026 08:00 in Amsterdam;
  :meth:`Driver.tick` lets a few seconds pass and the platform and the bot do their work.
"""

from __future__ import annotations

import abc
import inspect
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot.clock import VirtualClock
from bot.core import store_outgoing
from bot.database import Database
from bot.delivery import Limits
from bot.events import Address, Attachment, Button, Outgoing
from bot.models import Chat, OutboxMessage
from bot.platform import Capabilities

AMS = ZoneInfo("Europe/Amsterdam")
#: the virtual time every driver starts at (a Monday; the weekly question is due Tuesday 10:00)
START = datetime(2026, 1, 5, 8, 0, tzinfo=AMS)
#: the members every driver knows: neutral key → display name (the platform's full name)
PEOPLE = {"anna": "Anna de Vries", "bram": "Bram Peters", "cem": "Cem Yilmaz"}
#: ``Sent.to`` of a message in the group chat
GROUP = "group"
#: how long (real seconds) a wait may take before it fails: generous, the machine may be busy
PATIENCE = 30.0
#: the contract stand-ins do not enforce rate limits, so the suite paces at this share of them
PACING = 1 / 20


def private(user: str) -> str:
    """``Sent.to`` of a private message to ``user``."""
    return f"private:{user}"


@dataclass(frozen=True)
class File:
    """A file the bot sent, as the platform received it."""

    name: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Sent:
    """One message as the platform received it, in platform-neutral terms."""

    #: the platform's message id (what ``reply_to``/``thread`` of other messages refer to)
    id: str | None
    #: :data:`GROUP` or :func:`private` (user)
    to: str
    #: what a member reads: the platform's markup decoded, entities resolved
    text: str
    #: button labels, in order (empty where the platform has none)
    buttons: tuple[str, ...] = ()
    files: tuple[File, ...] = ()
    #: the id of the thread root it was posted under, if any
    thread: str | None = None
    #: the id of the message it quotes (a reply), if any
    reply_to: str | None = None
    #: in the group but shown to this member only (neutral key), if so
    visible_to: str | None = None
    #: who the platform notifies because of the text (``@channel``, ``@here``, ``@room``, user ids…)
    pings: tuple[str, ...] = ()
    #: the virtual time the platform received it
    at: datetime | None = None
    #: the text exactly as it went over the wire (for failure messages)
    wire: str = ""


class Driver(abc.ABC):
    """One platform, its stand-in and the real adapter, as the conformance tests drive them."""

    #: the adapter's platform name (``Address.platform``)
    platform: str
    capabilities: Capabilities
    #: the platform tells a bot that a member deleted a message (Telegram's Bot API does not)
    sees_deletions: bool = True
    db: Database
    clock: VirtualClock
    #: the platform's id of the group chat (``Address.chat_id``)
    chat_id: str
    #: the database URL (migrated), and whether :meth:`database_down` is in force
    url: str
    down: bool = False

    # ------------------------------------------------------------------ what members do
    @abc.abstractmethod
    async def add_bot(self, by: str = "anna") -> None:
        """``by`` adds the bot to the group (the platform's events for it, as its client sends them)."""

    @abc.abstractmethod
    async def remove_bot(self, by: str = "anna") -> None:
        """``by`` removes the bot from the group; from then on the platform refuses the bot's posts there."""

    @abc.abstractmethod
    async def rename(self, title: str, by: str = "anna") -> None:
        """``by`` renames the group to ``title`` on the platform (its event for it, as its client
        sends it); back once the bot has taken that event."""

    @abc.abstractmethod
    async def join(self, user: str) -> None:
        """``user`` joins the group."""

    @abc.abstractmethod
    async def leave(self, user: str) -> None:
        """``user`` leaves the group."""

    @abc.abstractmethod
    async def group_message(self, user: str, text: str, reply_to: Sent | None = None) -> str:
        """``user`` writes ``text`` in the group (a command typed the platform's way), optionally as
        the platform's answer to the bot message ``reply_to`` (a reply, or a post in its thread).
        Returns the platform's id of the member's message ("" where what the member did has none,
        as a Slack slash command)."""

    @abc.abstractmethod
    async def private_message(self, user: str, text: str) -> str:
        """``user`` writes ``text`` to the bot privately; returns the message's platform id."""

    @abc.abstractmethod
    async def edit(self, user: str, message_id: str, text: str) -> None:
        """``user`` edits their message ``message_id`` (from :meth:`group_message` or
        :meth:`private_message`) to read ``text``, the way the platform's clients do."""

    @abc.abstractmethod
    async def delete(self, user: str, message_id: str) -> None:
        """``user`` deletes their message ``message_id``; only called when ``sees_deletions``."""

    @abc.abstractmethod
    async def press(self, user: str, message: Sent, choice: str) -> None:
        """``user`` chooses ``choice`` (a button label) on ``message``: presses the button, or, on a
        platform without buttons, types what the message's text fallback tells them to."""

    @abc.abstractmethod
    def not_started(self, user: str) -> None:
        """The platform refuses private messages to ``user`` until they write the bot themselves
        (only called when ``capabilities.opens_private`` is False)."""

    # ------------------------------------------------------------------ what the platform saw
    @abc.abstractmethod
    def sent(self) -> list[Sent]:
        """Every message the platform accepted from the bot, in order (split parts separately)."""

    @abc.abstractmethod
    def throttled(self) -> list[datetime]:
        """Virtual times at which the platform refused a send with "too many requests"."""

    # ------------------------------------------------------------------ faults
    @abc.abstractmethod
    def fail_next_with_429(self, retry_after: int) -> None:
        """The platform answers the bot's next send with its 429 and ``retry_after`` seconds."""

    @asynccontextmanager
    async def database_down(self) -> AsyncIterator[None]:
        """The bot's database cannot be reached inside (``down`` is True meanwhile). The platform
        behaves as it does for real when the bot does not take an event (Telegram keeps the update,
        Slack retries the request); the driver plays that part, so what a member did during the
        outage reaches the bot once the database is back.

        By default the SQLite folder at ``url`` is moved away for :meth:`engines` (see
        :func:`sqlite_unreachable`); a driver whose adapter reaches the database otherwise overrides it.
        """
        async with sqlite_unreachable(self.url, *self.engines()):
            self.down = True
            try:
                yield
            finally:
                self.down = False

    def engines(self) -> tuple[Any, ...]:
        """The engines that lose the database in :meth:`database_down` (the core's, the adapter's own)."""
        return (self.db.engine,)

    # ------------------------------------------------------------------ time
    @abc.abstractmethod
    async def tick(self) -> None:
        """Let a few seconds of virtual time pass and the bot do what falls due (deliver, retry)."""

    @abc.abstractmethod
    async def advance(self, to: datetime) -> None:
        """Move the virtual clock to ``to`` (running what falls due on the way)."""

    # ------------------------------------------------------------------ helpers every driver has
    async def until(self, check: Callable[[], Any], what: str) -> Any:
        """Tick until ``check()`` (or the awaitable it returns) is truthy; return that value
        (fail after :data:`PATIENCE` seconds)."""
        deadline = time.monotonic() + PATIENCE
        while True:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.platform}: timed out waiting for {what}; sent: {self.sent()!r}")
            await self.tick()

    async def until_rows(self, model: Any, *where: Any, what: str = "") -> list[Any]:
        """Tick until rows of ``model`` matching ``where`` exist; return them."""
        return await self.until(lambda: self.rows(model, *where), what or f"{model.__name__} rows")

    async def drained(self) -> None:
        """Wait until the outbox holds nothing still to send (rows waiting for a person excepted)."""
        async def empty() -> bool:
            return not await self.rows(OutboxMessage, OutboxMessage.state.in_(("pending", "sending")))

        await self.until(empty, "the outbox drained")

    async def settle(self, rounds: int = 5) -> None:
        """Give a wrong or extra message a few ticks to show up before asserting it did not."""
        for _ in range(rounds):
            await self.tick()

    def find(self, to: str | None = None, containing: str | None = None) -> list[Sent]:
        """The sent messages to ``to`` whose text contains ``containing`` (word joiners ignored)."""
        return [s for s in self.sent() if (to is None or s.to == to)
                and (containing is None or containing in readable(s.text))]

    async def rows(self, model: Any, *where: Any) -> list[Any]:
        """Rows of ``model`` matching ``where``, in id order."""
        async with self.db.transaction() as session:
            return list(await session.scalars(select(model).where(*where).order_by(model.id)))

    async def delivered(self, kind: str, to: str = GROUP) -> Sent:
        """The message of outbox ``kind`` to ``to``, once the platform has it and its row is sent."""
        def recipient(row: OutboxMessage) -> str:
            return GROUP if row.chat_id is not None else private(self.user_key(row.user_id))

        async def row_sent() -> OutboxMessage | None:
            rows = await self.rows(OutboxMessage, OutboxMessage.kind == kind, OutboxMessage.state == "sent")
            return next((r for r in reversed(rows) if recipient(r) == to and r.platform_message_id), None)

        row = await self.until(row_sent, f"a {kind} message to {to} recorded as sent")
        return await self.message(row.platform_message_id)

    async def message(self, message_id: str) -> Sent:
        """The sent message with platform id ``message_id``, once the platform has it."""
        return await self.until(lambda: next((s for s in self.sent() if s.id == message_id), None),
                                f"message {message_id}")

    async def network_id(self) -> int:
        """The id of the group's network (the bot must have been added)."""
        (chat,) = await self.rows(Chat, Chat.platform == self.platform, Chat.chat_id == self.chat_id)
        return chat.network_id

    def address(self, to: str = GROUP) -> Address:
        """The core's address of :data:`GROUP` or :func:`private` (user)."""
        if to == GROUP:
            return Address(self.platform, self.chat_id)
        return Address(self.platform, None, self.user_id(to.removeprefix("private:")))

    async def post(self, text: str, *, to: str = GROUP, kind: str = "contract", buttons: tuple[Button, ...] = (),
                   files: tuple[Attachment, ...] = (), network: int | None = None) -> Outgoing:
        """Have the core send a message (written to the outbox as planned work does); return it.
        ``network``: the network it belongs to (default: the group's, which must still have it)."""
        message = Outgoing(self.address(to), kind, text, buttons, files=files)
        network = network or await self.network_id()
        async with self.db.transaction() as session:
            (stored,) = await store_outgoing(session, network, [message], self.clock.now())
        await self.tick()
        return stored

    @abc.abstractmethod
    def user_id(self, user: str) -> str:
        """The platform's id of the member ``user`` (a neutral key of :data:`PEOPLE`)."""

    def user_key(self, user_id: str | None) -> str:
        """The neutral key of the member with platform id ``user_id``."""
        for key in PEOPLE:
            if self.user_id(key) == user_id:
                return key
        return str(user_id)


def quick_pacing(sender: Any) -> None:
    """Let delivery pace ``sender`` (a running adapter's) at :data:`PACING` of its platform's limits.

    The gaps between the API calls of one message (the parts of a long text, a Teams 1:1 created
    before its first message) are waited in *real* time, the limits being the platform's: at full
    size a long text cost the suite 9-13 s and every Teams test 4.4 s of its setup, waiting. The
    contract stand-ins do not enforce rate limits, so nothing the contract checks depends on the
    gaps' size; the pacing code still runs, only shorter. The real limits are proven against
    stand-ins that enforce them: ``tests/test_telegram_limits.py``, ``tests/test_teams.py``
    (``test_the_stand_in_enforces_teams_limits_and_delivery_stays_within_them``) and the kill
    test in ``tests/test_faults.py``."""
    real = type(sender).limits
    sender.limits = Limits(per_chat=real.per_chat * PACING, per_person=real.per_person * PACING,
                           per_second=real.per_second)


def readable(text: str) -> str:
    """``text`` without the invisible word joiners that keep echoed ``@`` from mentioning."""
    return text.replace("\u2060", "")


@asynccontextmanager
async def sqlite_unreachable(url: str, *engines: Any) -> AsyncIterator[None]:
    """Make the SQLite database at ``url`` unreachable for ``engines`` until exit: its folder is
    moved away (with the write-ahead log beside the file), so a new connection can neither open
    the file nor create another one; then the engines' idle connections are dropped (in that
    order: a background task could open a connection between a drop and the move, and carry on on
    it as if nothing happened). Afterwards the folder comes back and the engines reconnect. The
    database must be alone in its folder."""
    folder = Path(make_url(url).database or "").parent
    away = folder.with_name(folder.name + ".away")

    async def drop_connections() -> None:
        for engine in engines:
            await engine.dispose()

    folder.rename(away)
    await drop_connections()
    try:
        yield
    finally:
        await drop_connections()
        away.rename(folder)
