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
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, event, insert, inspect, literal, select, text, union_all, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


class DatabaseUrlError(ValueError):
    """The configured database URL is not one Bamboe can use."""


# aiosqlite logs every statement with its parameters at DEBUG — that would put message text in
# the logs when an administrator turns on debug logging. Never below INFO.
logging.getLogger("aiosqlite").setLevel(logging.INFO)

#: set while this task runs inside :meth:`Database.transaction` (a nested one must not wait for the lock)
_in_transaction: ContextVar[bool] = ContextVar("in_transaction", default=False)


#: the SQLSTATEs of a transaction that lost a conflict with another one: deadlock_detected
#: (40P01) and serialization_failure (40001). PostgreSQL rolled it back whole; run again from its
#: start, it usually passes (see :func:`is_conflict`)
CONFLICT_SQLSTATES = frozenset({"40P01", "40001"})


def is_conflict(exc: BaseException) -> bool:
    """True when ``exc`` is a database error with one of :data:`CONFLICT_SQLSTATES`: the
    transaction lost a deadlock or a serialization conflict with a concurrent one (another
    replica's). Read from the DBAPI exception's ``sqlstate`` or ``pgcode`` (asyncpg, psycopg), so
    no driver is imported; SQLite's driver has neither (its writers take turns: no such conflict)."""
    return isinstance(exc, DBAPIError) and sqlstate(exc) in CONFLICT_SQLSTATES


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error (its DBAPI exception's ``sqlstate`` or ``pgcode``), if its
    driver gives one."""
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return str(state) if state is not None else None


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
        database = make_url(full).database
        inline = inline and bool(database) and database != ":memory:"
        if not inline:
            engine = create_async_engine(full, echo=echo, hide_parameters=True)
            event.listen(engine.sync_engine, "begin", _sqlite_begin)
        else:  # its dialect begins with BEGIN IMMEDIATE itself
            from bot.sqlite_inline import DRIVER, InlineEngine

            full = make_url(full).set(drivername=f"sqlite+{DRIVER}").render_as_string(hide_password=False)
            engine = InlineEngine(create_async_engine(full, echo=echo, hide_parameters=True).sync_engine)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
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
        await conn.run_sync(_outside_transaction, "PRAGMA foreign_keys=OFF")
        try:
            async with conn.begin():
                await conn.run_sync(run)
        finally:
            await conn.run_sync(_outside_transaction, "PRAGMA foreign_keys=ON")


def _outside_transaction(connection: Connection, sql: str) -> None:
    """Run ``sql`` on the DBAPI connection itself, outside SQLAlchemy's transaction (a pragma that
    only takes effect there)."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql)
    finally:
        cursor.close()


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


#: ``session.info`` key of the writes :func:`defer_insert` and :func:`defer_update` put off
_DEFERRED = "bamboe.deferred"


@dataclass(frozen=True)
class Deferred:
    """Writes put off to the transaction's last statement: each (``insert`` or ``update``, table,
    row), their shape (which tables and columns: what the statements carrying them are built
    once for) and their parameters for one statement carrying them all (named ``w<n>_<column>``)."""

    writes: list[tuple[str, Any, dict[str, Any]]]
    shape: tuple[tuple[str, Any, tuple[str, ...]], ...]
    params: dict[str, Any]


def defer_insert(session: AsyncSession, table: Any, row: dict[str, Any]) -> None:
    """Insert ``row`` into ``table`` with the transaction's last statement instead of now: the
    dispatcher makes it a ``WITH`` clause of the job's own row update on PostgreSQL (one round trip
    for the job's writes) and runs it just before that on SQLite; :meth:`Database.transaction` runs
    what is left before it commits. Only for rows that nothing in the transaction reads back (they
    are not visible to its queries until then). ``table``'s Python-side defaults are filled in."""
    row = dict(row)
    _fill_defaults(table, row)
    session.info.setdefault(_DEFERRED, []).append(("insert", table, row))


def defer_update(session: AsyncSession, table: Any, key: Any, values: dict[str, Any]) -> None:
    """Set ``values`` in ``table``'s row with primary key ``key``, as :func:`defer_insert` puts
    off an insert."""
    session.info.setdefault(_DEFERRED, []).append(("update", table, {**values, "id": key}))


def take_deferred(session: AsyncSession) -> Deferred | None:
    """The writes put off so far (None: none); the caller runs them."""
    writes = session.info.pop(_DEFERRED, None)
    if not writes:
        return None
    shape = tuple((op, table, tuple(row)) for op, table, row in writes)
    params = {f"w{n}_{name}": value for n, (_, _, row) in enumerate(writes) for name, value in row.items()}
    return Deferred(writes, shape, params)


def _bind(prefix: str, table: Any, name: str) -> Any:
    return bindparam(f"{prefix}{name}", type_=table.c[name].type)


def _write(op: str, table: Any, names: tuple[str, ...], prefix: str) -> Any:
    """The statement of one write (``insert``, or ``update`` by ``id``), its parameters named ``<prefix><column>``."""
    if op == "insert":
        return insert(table).values({name: _bind(prefix, table, name) for name in names})
    return update(table).where(table.c.id == _bind(prefix, table, "id")).values(
        {name: _bind(prefix, table, name) for name in names if name != "id"})


@cache
def _one(op: str, table: Any, names: tuple[str, ...]) -> Any:
    """One write's statement, whatever else is deferred with it (parameters named ``v_<column>``)."""
    return _write(op, table, names, "v_")


async def run_deferred(connection: AsyncConnection, deferred: Deferred) -> None:
    """Run ``deferred``'s writes in order, one statement per run of writes of the same shape
    (executed for each of their rows)."""
    batch: list[dict[str, Any]] = []
    for n, (op, table, row) in enumerate(deferred.writes):
        batch.append({f"v_{name}": value for name, value in row.items()})
        if n + 1 == len(deferred.writes) or deferred.shape[n + 1] != deferred.shape[n]:
            await connection.execute(_one(op, table, deferred.shape[n][2]), batch if len(batch) > 1 else batch[0])
            batch = []


_TOGETHER: dict[tuple, list[Any] | None] = {}


def deferred_together(deferred: Deferred) -> list[Any] | None:
    """The statements of ``deferred`` to run at once (as ``WITH`` clauses of one statement, whose
    parts PostgreSQL runs in no set order): one per table, the rows of one table inserted in the
    order they were deferred (``INSERT … SELECT … ORDER BY``: their ids in that order, as one
    flush would give them). None when that cannot be done: two updates of one table, or rows of one
    table with different columns. Built once per shape."""
    if deferred.shape in _TOGETHER:
        return _TOGETHER[deferred.shape]
    tables: dict[tuple[str, Any], list[int]] = {}
    for n, (op, table, _) in enumerate(deferred.shape):
        tables.setdefault((op, table), []).append(n)
    statements: list[Any] | None = []
    for (op, table), writes in tables.items():
        names = deferred.shape[writes[0]][2]
        if len(writes) == 1:
            statements.append(_write(op, table, names, f"w{writes[0]}_"))
        elif op == "update" or any(deferred.shape[n][2] != names for n in writes):
            statements = None
            break
        else:
            rows = union_all(*(select(*(_bind(f"w{n}_", table, name).label(name) for name in names),
                                      literal(k).label("deferred_order")) for k, n in enumerate(writes))).subquery()
            statements.append(insert(table).from_select(
                names, select(*(rows.c[name] for name in names)).order_by(rows.c.deferred_order)))
    if len(_TOGETHER) < 1000:
        _TOGETHER[deferred.shape] = statements
    return statements


async def write_deferred(session: AsyncSession) -> None:
    """Run the writes put off so far, now."""
    deferred = take_deferred(session)
    if deferred is not None:
        await run_deferred(await session.connection(), deferred)


def defer_pending(session: AsyncSession, objects: list[Any]) -> None:
    """Write those of ``objects`` still pending in ``session`` (added, not flushed) with Core
    INSERTs (:func:`defer_insert`, in their order) instead of the unit of work; they leave the
    session, without their ids. For plain rows (no relationships) that nothing reads back in the
    transaction."""
    for obj in objects:
        state = inspect(obj)
        if not state.pending:
            continue
        row = {attr.key: state.dict[attr.key] for attr in state.mapper.column_attrs if attr.key in state.dict}
        session.expunge(obj)
        defer_insert(session, state.mapper.local_table, row)


class _Row:
    """What a column default that reads the row's other values gets (as from SQLAlchemy's execution context)."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row

    def get_current_parameters(self) -> dict[str, Any]:
        return self.row


def _fill_defaults(table: Any, row: dict[str, Any]) -> None:
    """Add ``table``'s Python-side column defaults to ``row`` (an INSERT inside a ``WITH`` clause
    does not get them from SQLAlchemy)."""
    for column in table.columns:
        default = column.default
        if column.key in row or default is None:
            continue
        if default.is_scalar:
            row[column.key] = default.arg
        elif default.is_callable:
            row[column.key] = default.arg(_Row(row))


_QUEUED = "bamboe_queued"
#: ``session.info`` key of the earliest due time of the jobs planned in the session (set by
#: :func:`bot.jobs.plan`; counted in :attr:`Database.planned` once the transaction commits)
PLANNED = "bamboe.planned.earliest"


def mark_queued(session: AsyncSession) -> None:
    """Note that ``session``'s transaction makes outbox rows sendable (counted in
    :attr:`Database.queued` once it commits)."""
    session.info[_QUEUED] = True


class Database:
    """The engine and a session factory; one per process (built by the composition root)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        #: an inline engine's sessions run their calls in line (:class:`bot.sqlite_inline.InlineSession`)
        self.sessions = async_sessionmaker(engine, expire_on_commit=False,
                                           class_=getattr(engine, "session_class", AsyncSession))
        self._write_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        #: how many of this process's committed transactions made outbox rows sendable (see
        #: :func:`mark_queued`): a caller that delivers after its own work compares it before and
        #: after, and skips a delivery round that could only find nothing new
        self.queued = 0
        #: the earliest due time of the jobs this process's committed transactions planned, until
        #: taken (:meth:`bot.jobs.Dispatcher.known_due`)
        self.planned: datetime | None = None

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
        async with self._turn():
            async with self.sessions(**options) as session, session.begin():
                yield session
                await write_deferred(session)
        self._committed(session)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A transaction on a plain connection, for Core statements only (no ORM session: a tenth
        of a millisecond less per transaction, e.g. each "sent" mark of delivery); on SQLite it
        takes its turn as :meth:`transaction` does."""
        async with self._turn(), self.engine.begin() as connection:
            yield connection

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """On SQLite, wait for this process's write lock (not when this task already holds it)."""
        if self._write_lock is None or _in_transaction.get():
            yield
            return
        async with self._write_lock:
            token = _in_transaction.set(True)
            try:
                yield
            finally:
                _in_transaction.reset(token)

    def _committed(self, session: AsyncSession) -> None:
        """Count what ``session``'s committed transaction queued and planned (:attr:`queued`, :attr:`planned`)."""
        if session.info.pop(_QUEUED, False):
            self.queued += 1
        planned = session.info.get(PLANNED)
        if planned is not None and (self.planned is None or planned < self.planned):
            self.planned = planned

    async def close(self) -> None:
        """Dispose of the engine's connections."""
        await self.engine.dispose()


async def scrub_sqlite_wal(engine: AsyncEngine) -> None:
    """On SQLite: copy the write-ahead log into the database file and truncate it, so pages that
    held erased data do not linger in the ``-wal`` file (the file itself deletes securely)."""
    if engine.dialect.name != "sqlite":
        return
    async with engine.connect() as conn:
        await conn.run_sync(_outside_transaction, "PRAGMA wal_checkpoint(TRUNCATE)")

