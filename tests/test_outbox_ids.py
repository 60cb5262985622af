"""An outbox id is never handed out twice, not even once its row is deleted: adapters use it as an
idempotency key (Matrix sends with transaction id ``<prefix>.<outbox id>.<part>``, and the
homeserver answers a transaction id it has seen with the earlier event; Slack finds a row in doubt
by the outbox id in its message metadata). SQLite gave the highest id again once its row was gone."""

from datetime import UTC, datetime

from sqlalchemy import delete, func, select

from adapters.console.harness import Harness
from bot.core import outbox_rows, store_outgoing
from bot.database import Database, create_engine, defer_insert
from bot.events import Address, Outgoing
from bot.models import OutboxMessage

NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)


def messages(n: int) -> list[Outgoing]:
    return [Outgoing(Address("matrix", "!room"), "status", f"Bericht {i}") for i in range(n)]


async def store(db: Database, n: int, *, delete_newest: bool = False) -> list[int]:
    """Store ``n`` messages as the core does (after deleting the newest row, if asked); their ids."""
    async with db.transaction() as session:
        if delete_newest:
            await session.execute(delete(OutboxMessage).where(
                OutboxMessage.id == select(func.max(OutboxMessage.id)).scalar_subquery()))
        return [m.outbox_id for m in await store_outgoing(session, None, messages(n), NOW)]


async def defer(db: Database) -> int:
    """Delete the newest row, then store one message as a job does (a deferred Core insert); its id."""
    async with db.transaction() as session:
        await session.execute(delete(OutboxMessage).where(
            OutboxMessage.id == select(func.max(OutboxMessage.id)).scalar_subquery()))
        for row in await outbox_rows(session, None, messages(1), NOW):
            defer_insert(session, OutboxMessage.__table__, row)
    async with db.transaction() as session:
        return await session.scalar(select(func.max(OutboxMessage.id)))


async def never_again(db: Database) -> None:
    first = await store(db, 3)
    (second,) = await store(db, 1, delete_newest=True)
    assert second > max(first)
    (third,) = await store(db, 1, delete_newest=True)
    assert third > second
    assert await defer(db) > third


async def test_an_outbox_id_is_not_handed_out_again_once_its_row_is_deleted(database_url: str) -> None:
    """SQLite (aiosqlite, as ``bamboe run``) and PostgreSQL."""
    db = Database(create_engine(database_url))
    try:
        await never_again(db)
    finally:
        await db.close()


async def test_an_outbox_id_is_not_handed_out_again_on_the_inline_sqlite_driver(sqlite_url: str) -> None:
    """``bot.sqlite_inline`` (``bamboe simulate``, the demo, the virtual chat of the tests)."""
    db = Database(create_engine(sqlite_url, inline=True))
    try:
        await never_again(db)
    finally:
        await db.close()


async def test_the_confirmation_of_vergeetmij_has_an_outbox_id_of_its_own(harness: Harness) -> None:
    """Erasure deletes the person's outbox rows, the newest of them the question it confirms: its
    confirmation must not get that row's id (Matrix would take it for the question, already sent,
    and never show it)."""
    seen: list[int] = []
    send = harness.recorder.send

    async def record(message: Outgoing) -> str:
        seen.append(message.outbox_id)
        return await send(message)

    harness.recorder.send = record
    await harness.say("cem", "/vergeetmij", private=True)
    await harness.press("cem", "Ja, verwijder alles", on="privacy")
    assert "verwijderd" in harness.recorder.sent[-1].text
    assert len(seen) == len(set(seen)) and seen[-1] == max(seen)
