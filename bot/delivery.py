"""Hands outbox rows to the adapters and records what was sent.

Rows are claimed with a short lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), sent in id
order (so per-chat order holds) and marked sent with the platform's message id, which later
links replies and threads back to them. A failed send is retried with back-off; a permanent
failure (:class:`Undeliverable`) is recorded and not retried.
"""

from __future__ import annotations

import logging
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


class Sender(Protocol):
    """What an adapter offers the core: deliver one message, return the platform's message id."""

    async def send(self, message: Outgoing) -> str | None:
        """Deliver ``message``; raise :class:`Undeliverable` when it can never arrive."""


class Delivery:
    """Drains the outbox into the adapters' senders (one per platform)."""

    def __init__(self, db: Database, clock: Clock, senders: dict[str, Sender]) -> None:
        self.db = db
        self.clock = clock
        self.senders = senders

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
        while True:
            rows = await self._claim(limit)
            blocked: dict[tuple[str, str | None, str | None], datetime] = {}
            for row in rows:
                chat = (row.platform, row.chat_id, row.user_id if row.chat_id is None else None)
                if chat in blocked:  # keep per-chat order: after a failure the rest waits too
                    await self._release(row.id, blocked[chat])
                    continue
                retry_at = await self._send(row)
                if retry_at is None:
                    sent += 1
                else:
                    blocked[chat] = retry_at
            if len(rows) < limit:
                return sent

    async def _send(self, row: OutboxMessage) -> datetime | None:
        """Send one row; None when done with it, else the time to retry."""
        message = outgoing_from_row(row)
        try:
            platform_id = await self.senders[row.platform].send(message)
        except Undeliverable as exc:
            log.warning("outbox %s undeliverable on %s: %s", row.id, row.platform, type(exc).__name__)
            await self._finish(row.id, "failed", None)
            return None
        except Exception as exc:  # transient: retry with back-off
            log.warning("outbox %s send failed on %s (%s), will retry", row.id, row.platform, type(exc).__name__)
            async with self.db.transaction() as session:
                retry_at = self.clock.now() + timedelta(seconds=min(300, 2 ** (row.attempts + 1)))
                state = "failed" if row.attempts + 1 >= MAX_ATTEMPTS else "pending"
                await session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id)
                                      .values(state=state, lease_until=retry_at))
            return retry_at
        await self._finish(row.id, "sent", platform_id)
        return None

    async def _release(self, row_id: int, until: datetime) -> None:
        async with self.db.transaction() as session:
            await session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id)
                                  .values(state="pending", lease_until=until, attempts=OutboxMessage.attempts - 1))

    async def _finish(self, row_id: int, state: str, platform_id: str | None) -> None:
        async with self.db.transaction() as session:
            await session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id).values(
                state=state, sent_at=self.clock.now(), platform_message_id=platform_id, lease_until=None))
