"""Hands outbox rows to the adapters and records what was sent.

Rows are claimed with a short lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), sent in id
order (so per-chat order holds) and marked sent with the platform's message id, which later
links replies and threads back to them. A failed send is retried with back-off; a permanent
failure (:class:`Undeliverable`) is recorded and not retried.

Adapters state their platform's limits (:class:`Limits`); a chat that would exceed them waits
while the other chats go on, so a burst is queued, never dropped, and per-chat order holds. A
platform that answers "too many requests" raises :class:`RetryAfter`: that chat waits as told,
without the attempt counting as a failure. A private message the platform will not deliver
until the person has started a chat with the bot (Telegram) raises :class:`NotStarted`: it
waits (state ``waiting``), the group is told how to start that chat, and everything waiting
goes out once the person writes the bot (:func:`bot.core.release_waiting`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import or_, select, update

from bot.clock import Clock
from bot.core import outgoing_from_row
from bot.database import Database
from bot.events import Outgoing
from bot.models import OutboxMessage

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 8


class Undeliverable(Exception):
    """The platform refused for good (unknown chat, bot removed, user blocked the bot)."""


class NotStarted(Undeliverable):
    """A private message the platform refuses until the person starts a chat with the bot.

    ``link`` is where they can do that (``https://t.me/<bot>?start=…``), if the platform has one.
    """

    def __init__(self, link: str | None = None) -> None:
        super().__init__(link)
        self.link = link


class RetryAfter(Exception):
    """The platform asked us to slow down: try this chat again after ``seconds``."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = max(0.0, float(seconds))


@dataclass(frozen=True)
class Limits:
    """A platform's documented sending limits (0 means none)."""

    #: least seconds between two messages to the same group chat
    per_chat: float = 0.0
    #: least seconds between two private messages to the same person
    per_person: float = 0.0
    #: most messages per second over all chats
    per_second: float = 0.0


class Sender(Protocol):
    """What an adapter offers the core: deliver one message, return the platform's message id.

    An adapter may also set ``limits`` (:class:`Limits`); without it nothing is throttled.
    """

    async def send(self, message: Outgoing) -> str | None:
        """Deliver ``message``; raise :class:`Undeliverable` when it can never arrive,
        :class:`RetryAfter` when rate limited, any other exception for a transient failure."""


#: called with the row that could not be delivered privately and the link to start a chat
OnNotStarted = Callable[[OutboxMessage, str | None], Awaitable[None]]


class Delivery:
    """Drains the outbox into the adapters' senders (one per platform)."""

    def __init__(self, db: Database, clock: Clock, senders: dict[str, Sender],
                 on_not_started: OnNotStarted | None = None) -> None:
        self.db = db
        self.clock = clock
        self.senders = senders
        self.on_not_started = on_not_started
        #: chat key → earliest next send allowed by the platform's limits (this process)
        self._next_ok: dict[tuple[str, str | None, str | None], datetime] = {}
        self._recent: dict[str, deque[float]] = {}
        #: earliest time a deferred row becomes sendable again (for the caller's wake-up)
        self.next_due: datetime | None = None

    async def _claim(self, limit: int) -> list[OutboxMessage]:
        now = self.clock.now()
        async with self.db.transaction() as session:
            query = (
                select(OutboxMessage)
                .where(OutboxMessage.platform.in_(list(self.senders)))
                .where(or_(OutboxMessage.state == "pending", OutboxMessage.state == "sending"))
                .where(or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until <= now))
                .order_by(OutboxMessage.id)
                .limit(limit)
            )
            if self.db.is_postgres:
                query = query.with_for_update(skip_locked=True)
            rows = list(await session.scalars(query))
            if rows:
                await session.execute(update(OutboxMessage).where(OutboxMessage.id.in_([r.id for r in rows]))
                                      .values(state="sending", lease_until=now + LEASE,
                                              attempts=OutboxMessage.attempts + 1))
            return rows

    async def flush(self, limit: int = 100) -> int:
        """Send everything pending; return how many messages were sent."""
        sent = 0
        if self.next_due is not None and self.next_due <= self.clock.now():
            self.next_due = None  # a row deferred in an earlier flush stays known until it is due
        while True:
            rows = await self._claim(limit)
            blocked: dict[tuple[str, str | None, str | None], datetime] = {}
            for row in rows:
                chat = (row.platform, row.chat_id, row.user_id if row.chat_id is None else None)
                wait_until = blocked.get(chat) or self._too_soon(chat)
                if wait_until is not None:  # keep per-chat order: the rest of this chat waits too
                    blocked[chat] = wait_until
                    await self._release(row.id, wait_until)
                    continue
                await self._respect_rate(row.platform)
                retry_at = await self._send(row)
                self._sent_to(chat)
                if retry_at is None:
                    sent += 1
                else:
                    blocked[chat] = retry_at
            for when in blocked.values():
                self.next_due = when if self.next_due is None else min(self.next_due, when)
            if len(rows) < limit:
                return sent

    def _limits(self, platform: str) -> Limits:
        return getattr(self.senders[platform], "limits", None) or Limits()

    def _too_soon(self, chat: tuple[str, str | None, str | None]) -> datetime | None:
        ok = self._next_ok.get(chat)
        return ok if ok is not None and ok > self.clock.now() else None

    def _sent_to(self, chat: tuple[str, str | None, str | None]) -> None:
        limits = self._limits(chat[0])
        gap = limits.per_chat if chat[1] is not None else limits.per_person
        if gap:
            self._next_ok[chat] = self.clock.now() + timedelta(seconds=gap)

    async def _respect_rate(self, platform: str) -> None:
        """Wait (real time) while the platform's overall messages-per-second limit is reached."""
        per_second = self._limits(platform).per_second
        if not per_second:
            return
        loop = asyncio.get_running_loop()
        recent = self._recent.setdefault(platform, deque())
        while True:
            now = loop.time()
            while recent and now - recent[0] >= 1.0:
                recent.popleft()
            if len(recent) < per_second:
                recent.append(now)
                return
            await asyncio.sleep(1.0 - (now - recent[0]))

    async def _send(self, row: OutboxMessage) -> datetime | None:
        """Send one row; None when done with it, else the time to retry."""
        message = outgoing_from_row(row)
        try:
            platform_id = await self.senders[row.platform].send(message)
        except RetryAfter as exc:  # rate limited: not a failure, this chat waits as told
            retry_at = self.clock.now() + timedelta(seconds=exc.seconds)
            await self._release(row.id, retry_at)
            return retry_at
        except NotStarted as exc:
            log.info("outbox %s waits until the person starts a private chat on %s", row.id, row.platform)
            await self._finish(row.id, "waiting", None)
            if self.on_not_started is not None:
                await self.on_not_started(row, exc.link)
            return None
        except Undeliverable as exc:
            log.warning("outbox %s undeliverable on %s: %s", row.id, row.platform, type(exc).__name__)
            await self._finish(row.id, "failed", None, (row.meta or {}).get("scrub"))
            return None
        except Exception as exc:  # transient: retry with back-off
            log.warning("outbox %s send failed on %s (%s), will retry", row.id, row.platform, type(exc).__name__)
            async with self.db.transaction() as session:
                retry_at = self.clock.now() + timedelta(seconds=min(300, 2 ** (row.attempts + 1)))
                state = "failed" if row.attempts + 1 >= MAX_ATTEMPTS else "pending"
                await session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id)
                                      .values(state=state, lease_until=retry_at))
            return retry_at
        await self._finish(row.id, "sent", platform_id, (row.meta or {}).get("scrub"))
        return None

    async def _release(self, row_id: int, until: datetime) -> None:
        """Put a claimed row back, to be tried again at ``until`` (the attempt does not count)."""
        async with self.db.transaction() as session:
            await session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id)
                                  .values(state="pending", lease_until=until, attempts=OutboxMessage.attempts - 1))

    async def _finish(self, row_id: int, state: str, platform_id: str | None, scrub: str | None = None) -> None:
        values = {"state": state, "sent_at": self.clock.now(), "platform_message_id": platform_id, "lease_until": None}
        if scrub and state != "waiting":  # personal content (an export, an erasure notice) is not kept once sent
            values.update(text="", files=[], buttons=[], meta={})
            if scrub == "all":
                values["user_id"] = None
        async with self.db.transaction() as session:
            await session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id).values(**values))

