"""After ``/vergeetmij`` and the delivery of its confirmation, the person's platform user id is
nowhere in the database: not in the outbox (user id, conversation key), not in the pacing table,
not in any other table, and on SQLite not in the file or its write-ahead log either.

The whole ``bamboe run`` stack with the Telegram adapter and its real delivery (which paces
private chats, so a pacing row exists) against the stand-in Bot API.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy import String, Text, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Base, Member, OutboxMessage, Pacing
from tests.telegram_standin import StandIn, message, private, user
from tests.test_telegram import stack

CEM_ID = 8812345678  # distinctive, so a search of the raw file finds nothing by chance
CEM = user(CEM_ID, "Cem", "Yilmaz")


async def rows_naming(session: AsyncSession, needle: str) -> dict[str, int]:
    """Per table: how many rows hold ``needle`` in any text column."""
    found = {}
    for table in Base.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, String | Text)]
        if columns:
            count = await session.scalar(select(func.count()).select_from(table).where(
                or_(*(c.contains(needle) for c in columns))))
            if count:
                found[table.name] = count
    return found


async def recorded(env, *where) -> None:  # noqa: ANN001 - the Telegram stack of tests.test_telegram
    """Wait until every outbox row (``where``: of those) is recorded as sent, moving the virtual clock
    on as :meth:`until` does."""
    async def done() -> bool:
        async with env.app.db.transaction() as s:
            return not await s.scalar(select(func.count()).select_from(OutboxMessage)
                                      .where(OutboxMessage.state != "sent", *where))
    for _ in range(400):  # up to 20 s, however slow the machine
        if await done():
            return
        env.clock.advance(timedelta(seconds=5))  # a second private message waits the per-person gap
        env.app.wake.set()
        await asyncio.sleep(0.05)
    raise AssertionError("the outbox was not recorded as sent")


async def test_erasure_leaves_no_platform_user_id_once_its_confirmation_is_delivered(database_url: str) -> None:
    api = StandIn()
    await api.start()
    needle = str(CEM_ID)
    try:
        async with stack(database_url, api) as env:
            await env.add_bot()
            await env.join(CEM)
            await env.push({"message": message(private(CEM), CEM, "/status")})
            await env.until(lambda: api.sent(CEM_ID), "the private answer")
            await recorded(env, OutboxMessage.user_id == needle)  # the delivery and its pacing row are written after the platform took it
            async with env.app.db.transaction() as s:  # the id is where we will look for it
                assert {"members", "outbox", "pacing"} <= set(await rows_naming(s, needle))
            await env.push({"message": message(private(CEM), CEM, "/vergeetmij ja")})
            await env.until(lambda: any("verwijderd" in p["text"] for p in api.sent(CEM_ID)), "the confirmation")

            await recorded(env)
            async with env.app.db.transaction() as s:
                assert await rows_naming(s, needle) == {}
                assert not await s.scalar(select(func.count()).select_from(Member)
                                          .where(Member.user_id == needle))
                assert await s.scalar(select(func.count()).select_from(Pacing)) >= 1  # pacing as such goes on
            if database_url.startswith("sqlite"):  # while the bot runs (closing would checkpoint the log)
                path = Path(database_url.removeprefix("sqlite:///"))

                def raw() -> bytes:
                    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
                # delivery empties the log right after it recorded the confirmation as sent: give it its turn
                for _ in range(200):  # up to 10 s, however slow the machine
                    if needle.encode() not in raw():
                        break
                    await asyncio.sleep(0.05)
                assert needle.encode() not in raw()
    finally:
        await api.close()
    confirmations = [p for p in api.sent(CEM_ID) if "verwijderd" in p["text"]]
    assert len(confirmations) == 1  # the confirmation still arrived, once
