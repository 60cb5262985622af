"""``simulate``'s SQLite driver (:mod:`bot.sqlite_inline`): the same database behaviour as
``bamboe run``'s aiosqlite engine, through both of SQLAlchemy's asyncio APIs."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.database import Database, create_engine
from bot.models import Chat, Network

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
async def inline(sqlite_url: str):
    db = Database(create_engine(sqlite_url, inline=True))
    yield db
    await db.close()


async def test_the_inline_engine_runs_sessions_and_plain_connections_on_the_same_schema(inline, sqlite_url):
    assert inline.engine.dialect.driver == "bamboe_inline"
    assert inline.engine.dialect.name == "sqlite"
    async with inline.transaction() as session:
        network = Network(name="N", created_at=NOW)
        session.add(network)
        await session.flush()
        session.add(Chat(network_id=network.id, platform="console", chat_id="g", title="G"))
    async with inline.begin() as connection:
        await connection.execute(insert(Chat.__table__).values(network_id=network.id, platform="console",
                                                               chat_id="h", title="H"))
        assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
    # what the inline engine wrote, read by bamboe run's own driver
    other = Database(create_engine(sqlite_url))
    try:
        async with other.transaction() as session:
            chats = list(await session.scalars(select(Chat.chat_id).order_by(Chat.chat_id)))
    finally:
        await other.close()
    assert chats == ["g", "h"]


async def test_a_refused_statement_is_sqlalchemys_error_and_keeps_nothing(inline):
    with pytest.raises(IntegrityError):  # a chat of a network that does not exist (foreign keys are on)
        async with inline.begin() as connection:
            await connection.execute(insert(Chat.__table__).values(network_id=999, platform="console",
                                                                   chat_id="x", title="X"))
    with pytest.raises(IntegrityError):
        async with inline.transaction() as session:
            session.add(Network(name="kept?", created_at=NOW))
            await session.flush()
            session.add(Chat(network_id=999, platform="console", chat_id="y", title="Y"))
    async with inline.transaction() as session:
        assert await session.scalar(select(func.count(Network.id))) == 0
        assert await session.scalar(select(func.count(Chat.id))) == 0


async def test_a_transaction_takes_the_write_lock_when_it_begins(inline):
    """BEGIN IMMEDIATE, as the aiosqlite engine's begin event sends it: a transaction that so far
    only read already keeps other writers out (they wait their turn instead of failing later)."""
    path = make_url(str(inline.engine.url)).database
    async with inline.transaction() as session:
        await session.scalar(select(func.count(Network.id)))
        other = sqlite3.connect(path, timeout=0)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("INSERT INTO networks (name, created_at) VALUES ('other', '2026-01-05')")
        finally:
            other.close()


async def test_a_busy_database_is_sqlalchemys_operational_error(inline):
    """The BEGIN the dialect sends itself fails the way a statement does: wrapped by SQLAlchemy
    (what the core's outage handling looks for), not as the driver's bare exception."""
    path = make_url(str(inline.engine.url)).database
    other = sqlite3.connect(path, isolation_level=None)
    try:
        async with inline.engine.connect() as connection:
            # no waiting for the lock in this test (outside a transaction: on the driver's connection)
            await connection.run_sync(lambda sync: sync.connection.cursor().execute("PRAGMA busy_timeout=0"))
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(OperationalError, match="locked"):
                async with connection.begin():
                    await connection.execute(text("SELECT 1"))
            other.execute("ROLLBACK")
            async with connection.begin():  # the connection is usable again once the lock is free
                assert (await connection.execute(text("SELECT 1"))).scalar() == 1
    finally:
        other.close()


async def test_sessions_and_connections_run_their_statements_in_line(inline):
    """No greenlet per call (what made the asyncio layer cost as much as the statements); taking
    a connection from the pool: see the next test."""
    from sqlalchemy import event
    from sqlalchemy.util.concurrency import in_greenlet

    seen: list[tuple[str, bool]] = []

    @event.listens_for(inline.engine.sync_engine, "before_cursor_execute")
    def _seen(conn, cursor, statement, *_):  # noqa: ANN001, ANN202
        seen.append((statement.split()[0], in_greenlet()))

    async with inline.transaction() as session:
        network = Network(name="N", created_at=NOW)
        session.add(network)
        await session.flush()
        await session.scalar(select(func.count(Chat.id)))
        await (await session.connection()).execute(insert(Chat.__table__).values(
            network_id=network.id, platform="console", chat_id="g", title="G"))
    async with inline.begin() as connection:
        await connection.execute(text("SELECT 1"))
    assert seen == [("INSERT", False), ("SELECT", False), ("INSERT", False), ("SELECT", False)]


async def test_connections_are_taken_from_the_pool_in_line_after_the_first(inline):
    """Only the pool's first connection goes through a greenlet (SQLAlchemy's first-connect events
    wait on an asyncio lock); later checkouts, by sessions and plain connections, run in line."""
    from sqlalchemy import event
    from sqlalchemy.util.concurrency import in_greenlet

    checkouts: list[bool] = []

    @event.listens_for(inline.engine.sync_engine.pool, "checkout")
    def _checkout(*_):  # noqa: ANN002, ANN202
        checkouts.append(in_greenlet())

    for _ in range(3):
        async with inline.transaction() as session:
            await session.scalar(text("SELECT 1"))
        async with inline.begin() as connection:
            await connection.execute(text("SELECT 1"))
    assert checkouts == [True] + [False] * 5


async def test_the_pool_never_waits_for_a_free_connection(inline):
    """A checkout that waited would block the event loop's thread (nothing could give one back):
    more connections than QueuePool's default size and overflow are all handed out at once."""
    held = [await inline.engine.connect() for _ in range(20)]  # QueuePool would wait 30 s for the 16th
    try:
        assert len({id(await connection.get_raw_connection()) for connection in held}) == 20
    finally:
        for connection in held:
            await connection.close()


async def test_a_lazy_load_fails_outside_the_asyncio_layer_as_with_aiosqlite(inline):
    """Running calls in line must not let a lazy load pass unnoticed: bamboe run's drivers refuse it."""
    from sqlalchemy.exc import MissingGreenlet

    async with inline.transaction() as session:
        network = Network(name="N", created_at=NOW)
        session.add(network)
        await session.flush()
        session.expire(network)
        with pytest.raises(MissingGreenlet):
            _ = network.name  # reloads with a statement, outside any session call
        await session.refresh(network)  # as session calls, the same works
        assert network.name == "N"


async def test_inline_engines_share_their_compiled_statements(inline, sqlite_url):
    """A second inline engine (the next test, the next scenario) finds the statements the first
    compiled: nothing is compiled twice in a process."""
    import uuid

    from sqlalchemy import bindparam, literal_column

    from bot.sqlite_inline import COMPILED

    statement = select(func.count(Network.id).label(f"n_{uuid.uuid4().hex}")).where(
        Network.name != bindparam("name"), literal_column("1") == 1)  # a statement no other test runs
    before = len(COMPILED)
    async with inline.transaction() as session:
        assert await session.scalar(statement, {"name": "x"}) == 0
    assert len(COMPILED) == before + 1
    other = Database(create_engine(sqlite_url, inline=True))
    try:
        async with other.transaction() as session:
            assert await session.scalar(statement, {"name": "x"}) == 0
    finally:
        await other.close()
    assert len(COMPILED) == before + 1
