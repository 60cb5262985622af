"""Database engine, URL handling and migrations.

Accepts plain ``sqlite:///…`` and ``postgresql://…`` URLs and picks the async driver
(aiosqlite, asyncpg). Migrations (Alembic) run on start and with ``bamboe db upgrade``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


class DatabaseUrlError(ValueError):
    """The configured database URL is not one Bamboe can use."""


# aiosqlite logs every statement with its parameters at DEBUG — that would put message text in
# the logs when an administrator turns on debug logging. Never below INFO.
logging.getLogger("aiosqlite").setLevel(logging.INFO)

#: set while this task runs inside :meth:`Database.transaction` (a nested one must not wait for the lock)
_in_transaction: ContextVar[bool] = ContextVar("in_transaction", default=False)


def async_url(url: str) -> str:
    """Return ``url`` with the async driver Bamboe uses for its backend."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse text
        raise DatabaseUrlError(f"not a database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise DatabaseUrlError(f"unsupported database {backend!r}: use sqlite:///… or postgresql://…")


def sqlite_url_for(path: Path) -> str:
    """Return a SQLite URL for a file path, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI callback
    # let SQLAlchemy, not the sqlite3 module, decide when transactions begin (see _sqlite_begin)
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # safe with WAL: a crash loses no committed data
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()


def _sqlite_begin(conn) -> None:  # noqa: ANN001 - SQLAlchemy event callback
    # Take the write lock up front: two transactions that both read and then write would
    # otherwise fail with "database is locked" instead of waiting their turn.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str, *, echo: bool = False, inline: bool = False) -> AsyncEngine:
    """Create the async engine for ``url`` (plain or async form).

    ``inline``: on SQLite, run the queries in the event loop's thread instead of aiosqlite's worker
    thread (:mod:`bot.sqlite_inline`); only for a private database whose loop serves nobody else
    (``simulate``, the demo, the tests' virtual chat). Ignored for PostgreSQL."""
    full = async_url(url)
    if full.startswith("sqlite"):
        options: dict[str, Any] = {}
        database = make_url(full).database
        if inline and database and database != ":memory:":
            from bot.sqlite_inline import connector

            options["async_creator"] = connector(database)
        engine = create_async_engine(full, echo=echo, hide_parameters=True, **options)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    return create_async_engine(full, echo=echo, hide_parameters=True, pool_pre_ping=True, pool_size=10, max_overflow=10)


def alembic_config(connection: Connection | None = None, secret_box: Any = None):  # noqa: ANN201
    """Return an Alembic config pointing at the packaged migrations (``secret_box``: a
    :class:`bot.secrets.SecretBox` for migrations that seal stored secrets)."""
    from alembic.config import Config

    folder = resources.files("migrations")
    cfg = Config(str(folder / "alembic.ini"))
    cfg.set_main_option("script_location", str(folder))
    if connection is not None:
        cfg.attributes["connection"] = connection
    if secret_box is not None:
        cfg.attributes["secret_box"] = secret_box
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head", secret_box: Any = None) -> None:
    """Run the migrations up to ``revision`` on ``engine`` (with ``secret_box``, stored secrets are
    sealed; see :mod:`bot.secrets`).

    A database already at the newest revision is recognised without importing Alembic (most
    starts of ``bamboe run``; Alembic's import is a tenth of the start-up)."""
    if revision == "head" and await _at_head(engine):
        return
    from alembic import command

    def run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection, secret_box), revision)

    if engine.dialect.name != "sqlite":
        async with engine.begin() as conn:
            await conn.run_sync(run)
        return
    # SQLite: a batch migration rebuilds a table (copy, drop, rename); with foreign keys on, dropping
    # a parent table (networks, meetings, rounds) would cascade and delete its children's rows. So
    # they are off while migrating (the pragma only takes effect outside a transaction) and on again after.
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        await (await raw.execute("PRAGMA foreign_keys=OFF")).close()
        try:
            async with conn.begin():
                await conn.run_sync(run)
        finally:
            await (await raw.execute("PRAGMA foreign_keys=ON")).close()


_REVISION = re.compile(r'^revision\s*=\s*"([^"]+)"', re.M)
_DOWN_REVISION = re.compile(r'^down_revision\s*=\s*"([^"]+)"', re.M)


def head_revision() -> str | None:
    """The newest migration's revision id, read from the migration files (None unless there is
    exactly one head written the plain way, ``revision = "…"`` / ``down_revision = "…"``)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (resources.files("migrations") / "versions").iterdir():
        if not path.name.endswith(".py") or path.name.startswith("__"):
            continue
        source = path.read_text(encoding="utf-8")
        if found := _REVISION.search(source):
            revisions.add(found[1])
        if found := _DOWN_REVISION.search(source):
            parents.add(found[1])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


async def _at_head(engine: AsyncEngine) -> bool:
    """True when the database's ``alembic_version`` is the newest migration (False when unsure)."""
    head = head_revision()
    if head is None:
        return False
    try:
        async with engine.connect() as conn:
            versions = list((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars())
    except Exception:  # noqa: BLE001 - no such table yet (a new database) or unreadable: migrate normally
        return False
    return versions == [head]


async def insert_pending(session: AsyncSession, objects: list[Any]) -> None:
    """Write those of ``objects`` still pending in ``session`` (added, not flushed) with Core
    INSERTs instead of the unit of work, in their order (one statement per run of rows of one
    table); they leave the session, without their ids. For plain rows (no relationships) that
    nothing reads back in the transaction: the unit of work for a few rows costs more than the
    statements."""
    batches: list[tuple[Any, list[dict[str, Any]]]] = []
    for obj in objects:
        state = inspect(obj)
        if not state.pending:
            continue
        mapper = state.mapper
        row = {attr.key: state.dict[attr.key] for attr in mapper.column_attrs if attr.key in state.dict}
        if batches and batches[-1][0] is mapper.local_table and batches[-1][1][0].keys() == row.keys():
            batches[-1][1].append(row)
        else:
            batches.append((mapper.local_table, [row]))
        session.expunge(obj)
    if batches:
        connection = await session.connection()
        for table, rows in batches:
            await connection.execute(insert(table), rows)


_QUEUED = "bamboe_queued"


def mark_queued(session: AsyncSession) -> None:
    """Note that ``session``'s transaction makes outbox rows sendable (counted in
    :attr:`Database.queued` once it commits)."""
    session.info[_QUEUED] = True


class Database:
    """The engine and a session factory; one per process (built by the composition root)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._write_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        #: how many of this process's committed transactions made outbox rows sendable (see
        #: :func:`mark_queued`): a caller that delivers after its own work compares it before and
        #: after, and skips a delivery round that could only find nothing new
        self.queued = 0

    @property
    def is_postgres(self) -> bool:
        """True on PostgreSQL (row locks with SKIP LOCKED are available)."""
        return self.engine.dialect.name == "postgresql"

    def insert(self, table: Any) -> Any:
        """The dialect's INSERT (PostgreSQL and SQLite both offer ``on_conflict_do_nothing``)."""
        if self.is_postgres:
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection for several :meth:`transaction` calls in a row (checked out, and on
        PostgreSQL pinged, once)."""
        async with self.engine.connect() as connection:
            yield connection

    @asynccontextmanager
    async def transaction(self, connection: AsyncConnection | None = None) -> AsyncIterator[AsyncSession]:
        """Open a session in a transaction that commits on success, rolls back on error (on
        ``connection`` when given, a connection from :meth:`connection` outside a transaction).

        On SQLite (one writer at a time) the transactions of this process take turns on an
        asyncio lock, first come first served, instead of polling SQLite's busy handler, whose
        growing sleeps would give a few unlucky writers long waits.
        """
        options = {} if connection is None else {"bind": connection}
        if self._write_lock is None or _in_transaction.get():
            async with self.sessions(**options) as session, session.begin():
                yield session
            self._count_queued(session)
            return
        async with self._write_lock:
            token = _in_transaction.set(True)
            try:
                async with self.sessions(**options) as session, session.begin():
                    yield session
            finally:
                _in_transaction.reset(token)
        self._count_queued(session)

    def _count_queued(self, session: AsyncSession) -> None:
        if session.info.pop(_QUEUED, False):
            self.queued += 1

    async def close(self) -> None:
        """Dispose of the engine's connections."""
        await self.engine.dispose()


async def scrub_sqlite_wal(engine: AsyncEngine) -> None:
    """On SQLite: copy the write-ahead log into the database file and truncate it, so pages that
    held erased data do not linger in the ``-wal`` file (the file itself deletes securely)."""
    if engine.dialect.name != "sqlite":
        return
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        cursor = await raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        await cursor.close()

