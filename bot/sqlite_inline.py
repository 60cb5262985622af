"""SQLite without a thread and without awaiting: the standard ``sqlite3`` module under SQLAlchemy's
asyncio API.

aiosqlite runs every call on a worker thread and hands the result back through the event loop:
right for a server, whose loop must never block, but each call then costs two thread switches,
and SQLAlchemy's asyncio layer adds two greenlet switches per call on top (a transaction with
one statement makes about eight such calls). ``bamboe simulate``, the demo and the tests' virtual
chat (:class:`adapters.console.harness.Harness`) run one story on a private database and nothing
else waits on their loop, so there the calls run in the loop's thread, straight into ``sqlite3``.

:class:`InlineDialect` is SQLAlchemy's pysqlite dialect (the one its aiosqlite dialect is built
on, so the SQL, the types and the pragmas are exactly those of ``bamboe run`` on SQLite), declared
usable by :func:`sqlalchemy.ext.asyncio.create_async_engine`: its calls never wait, so the asyncio
layer runs each of them at once. (A statement awaits one finished coroutine, because the asyncio
layer insists that executing one awaits something.) It is registered as ``sqlite+bamboe_inline``.

The asyncio layer itself costs as much again: every call of a session or connection runs in a new
greenlet, and leaving one runs its ``close()`` in a task of its own. :class:`InlineEngine` (what
:func:`bot.database.create_engine` returns for an inline database) hands out
:class:`InlineConnection` and, through :class:`bot.database.Database`, :class:`InlineSession`:
the same API, whose calls run the synchronous ones straight away (:func:`_in_line`). Their pool
(:class:`_Pool`) never waits, so taking a connection runs in line as well, except the pool's very
first one (:func:`_checkout`). A statement run any other way, outside a greenlet (an attribute
that loads lazily, say), raises :class:`~sqlalchemy.exc.MissingGreenlet` as it would with aiosqlite.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, exc, pool, util
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, AsyncSessionTransaction, AsyncTransaction
from sqlalchemy.orm import Session
from sqlalchemy.util import greenlet_spawn

#: SQLAlchemy's bridge from a blocking call to the event loop (``await_only`` before 2.1)
_await = getattr(util, "await_", None) or util.await_only

#: the URL's driver name (``sqlite+bamboe_inline:///path``)
DRIVER = "bamboe_inline"
#: the compiled statements of every inline engine in this process (see :class:`InlineDialect`);
#: as large as SQLAlchemy's own per-engine cache
COMPILED = util.LRUCache(500)


async def _done() -> None:
    """A coroutine that finishes at once."""


#: how many calls of :class:`InlineSession` or :class:`InlineConnection` are running (0 or 1:
#: they never wait, so no other task runs meanwhile)
_inline_calls = 0


@contextmanager
def _in_line() -> Iterator[None]:
    """Around a synchronous SQLAlchemy call made straight from a coroutine (no greenlet)."""
    global _inline_calls
    _inline_calls += 1
    try:
        yield
    finally:
        _inline_calls -= 1


def _call(fn: Any, *args: Any, **kw: Any) -> Any:
    """``fn(*args, **kw)``, a synchronous SQLAlchemy call, made straight from a coroutine."""
    with _in_line():
        return fn(*args, **kw)


def _await_once() -> None:
    if _inline_calls:
        return
    # in a greenlet, AsyncConnection.execute() refuses a statement during which nothing was
    # awaited; outside one (and outside _in_line) this raises MissingGreenlet, as aiosqlite would
    _await(_done())


class _Cursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:
        _await_once()
        return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> _Cursor:
        _await_once()
        return super().executemany(sql, parameters)

    async def _async_soft_close(self) -> None:
        """Nothing to do: what SQLAlchemy's asyncio layer calls on a driver's cursor once a
        statement ran (an asyncio driver closes it there and keeps the rows it fetched)."""


class _Connection(sqlite3.Connection):
    def cursor(self, factory: Any = _Cursor) -> Any:
        return super().cursor(factory)


class _Pool(pool.QueuePool):
    """SQLAlchemy's queue pool without a limit: a checkout finds a free connection or opens one,
    and never waits for one (aiosqlite's pool waits on an asyncio queue, through a greenlet;
    waiting here would block the loop). The transactions of one process take turns anyway
    (:meth:`bot.database.Database.transaction`), so it rarely holds more than one or two."""

    _is_asyncio = True  # made for an asyncio engine (as AsyncAdaptedQueuePool is)
    #: set once it made a connection: the first one runs SQLAlchemy's first-connect events under
    #: an asyncio lock, so it is taken through a greenlet; every later one is taken in line
    connected = False

    def __init__(self, creator: Any, **kw: Any) -> None:
        super().__init__(creator, **{**kw, "max_overflow": -1})


async def _checkout(bind: Any, fn: Any) -> Any:
    """``fn()``, a call that may take a connection from the pool of ``bind`` (a synchronous Engine,
    or a Connection: nothing to take): in line, or (the pool's first connection) through a greenlet."""
    if not isinstance(bind, Engine) or getattr(bind.pool, "connected", False):
        return _call(fn)
    result = await greenlet_spawn(fn)
    bind.pool.connected = True
    return result


class InlineDialect(SQLiteDialect_pysqlite):
    """pysqlite for the asyncio engine: blocking calls, run in the event loop's thread.

    Every inline engine of a process is made the same way (:func:`bot.database.create_engine`), so
    their dialects are equal, and they share one cache of compiled statements (:data:`COMPILED`,
    keyed by the dialect among others): a test or a scenario after the first compiles nothing the
    ones before it compiled (a season's first run compiles about 140 statements, 7 % of its time)."""

    driver = DRIVER
    supports_statement_cache = True
    is_async = True

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))

    @classmethod
    def get_pool_class(cls, url: Any) -> type[pool.Pool]:
        """A pool whose checkout never waits (:class:`_Pool`), so connections are taken in line too."""
        return _Pool if cls._is_url_file_db(url) else pool.StaticPool

    def do_begin(self, dbapi_connection: Any) -> None:
        """Begin with the write lock, as :func:`bot.database.create_engine`'s ``begin`` event does
        for aiosqlite (here on the driver's connection: SQLAlchemy's own execution of the
        statement cost a tenth of a short transaction; an error is still SQLAlchemy's)."""
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
        finally:
            cursor.close()

    def create_connect_args(self, url: Any) -> tuple[list[Any], dict[str, Any]]:
        """pysqlite's, with ``check_same_thread`` off (a connection may be closed by the
        collector in another thread, as aiosqlite's may)."""
        args, kwargs = super().create_connect_args(url)
        kwargs.update(check_same_thread=False, factory=_Connection)
        return args, kwargs


registry.register(f"sqlite.{DRIVER}", __name__, "InlineDialect")


class InlineTransaction(AsyncTransaction):
    """A transaction of an :class:`InlineConnection`: begun and ended in line."""

    async def start(self, is_ctxmanager: bool = False) -> InlineTransaction:
        connection = self.connection._proxied
        self.sync_transaction = self._assign_proxied(
            _call(connection.begin_nested if self.nested else connection.begin))
        if is_ctxmanager:
            self.sync_transaction.__enter__()
        return self

    async def commit(self) -> None:
        _call(self._proxied.commit)

    async def rollback(self) -> None:
        _call(self._proxied.rollback)

    async def close(self) -> None:
        _call(self._proxied.close)

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        _call(self._proxied.__exit__, type_, value, traceback)


class InlineConnection(AsyncConnection):
    """An :class:`~sqlalchemy.ext.asyncio.AsyncConnection` whose calls run in line, once it holds
    its pooled connection (:meth:`start` takes it, in line too: :func:`_checkout`)."""

    async def start(self, is_ctxmanager: bool = False) -> InlineConnection:
        if self.sync_connection:
            raise exc.InvalidRequestError("connection is already started")
        self.sync_connection = self._assign_proxied(await _checkout(self.sync_engine, self.sync_engine.connect))
        return self

    @classmethod
    def _regenerate_proxy_for_target(cls, target: Any, **_: Any) -> InlineConnection:
        # the connection an InlineSession hands out (AsyncConnection would make a plain one)
        return cls(AsyncEngine._retrieve_proxy_for_target(target.engine), target)

    def begin(self) -> InlineTransaction:
        assert self._proxied
        return InlineTransaction(self)

    def begin_nested(self) -> InlineTransaction:
        assert self._proxied
        return InlineTransaction(self, nested=True)

    async def execute(self, statement: Any, parameters: Any = None, *, execution_options: Any = None) -> Any:
        return _call(self._proxied.execute, statement, parameters, execution_options=execution_options)

    async def scalar(self, statement: Any, parameters: Any = None, *, execution_options: Any = None) -> Any:
        return _call(self._proxied.scalar, statement, parameters, execution_options=execution_options)

    async def scalars(self, statement: Any, parameters: Any = None, *, execution_options: Any = None) -> Any:
        return (await self.execute(statement, parameters, execution_options=execution_options)).scalars()

    async def exec_driver_sql(self, statement: str, parameters: Any = None, execution_options: Any = None) -> Any:
        return _call(self._proxied.exec_driver_sql, statement, parameters, execution_options)

    async def commit(self) -> None:
        _call(self._proxied.commit)

    async def rollback(self) -> None:
        _call(self._proxied.rollback)

    async def close(self) -> None:
        _call(self._proxied.close)  # back to the pool: a put on its queue that never waits

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        await self.close()  # nothing here waits, so nothing can cancel it halfway (no task needed)


class _SyncSession(Session):
    """The synchronous session of an :class:`InlineSession`: knows whether it holds a connection."""

    holds_connection = False


@event.listens_for(_SyncSession, "after_begin")
def _took(session: _SyncSession, _transaction: Any, _connection: Any) -> None:
    session.holds_connection = True


@event.listens_for(_SyncSession, "after_transaction_end")
def _gave_back(session: _SyncSession, transaction: Any) -> None:
    if transaction.parent is None:
        session.holds_connection = False


#: what AsyncSession asks of every statement (its rows are read at once)
_BUFFERED = util.immutabledict({"prebuffer_rows": True})


def _options(execution_options: Any) -> Any:
    return util.immutabledict(execution_options).union(_BUFFERED) if execution_options else _BUFFERED


class InlineSessionTransaction(AsyncSessionTransaction):
    """``InlineSession.begin()``: begun and ended in line (a savepoint as usual)."""

    async def start(self, is_ctxmanager: bool = False) -> InlineSessionTransaction:
        if self.nested:
            return await super().start(is_ctxmanager)
        # no I/O: the connection is taken by the first statement
        self.sync_transaction = self._assign_proxied(_call(self.session.sync_session.begin))
        if is_ctxmanager:
            self.sync_transaction.__enter__()
        return self

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        if self.nested:
            return await super().__aexit__(type_, value, traceback)
        if type_ is None:
            await self.session._before_commit()
        _call(self._sync_transaction().__exit__, type_, value, traceback)


class InlineSession(AsyncSession):
    """An :class:`~sqlalchemy.ext.asyncio.AsyncSession` whose calls run in line; the first that
    needs the database takes the connection (:meth:`_connect`, in line too: :func:`_checkout`)."""

    sync_session_class = _SyncSession

    async def _connect(self) -> None:
        if not self.sync_session.holds_connection:
            await _checkout(self.sync_session.get_bind(), self.sync_session.connection)

    async def _before_commit(self) -> None:
        sync = self.sync_session
        if not sync.holds_connection and (sync.new or sync.dirty or sync.deleted):
            await self._connect()  # the commit flushes

    async def _run(self, fn: Any, *args: Any, **kw: Any) -> Any:
        """``fn``, a call of the synchronous session, in line once the session holds its connection."""
        await self._connect()
        return _call(fn, *args, **kw)

    async def execute(self, statement: Any, params: Any = None, *, execution_options: Any = util.EMPTY_DICT,
                      bind_arguments: Any = None, **kw: Any) -> Any:
        return await self._run(self.sync_session.execute, statement, params,
                               execution_options=_options(execution_options), bind_arguments=bind_arguments, **kw)

    async def scalar(self, statement: Any, params: Any = None, *, execution_options: Any = util.EMPTY_DICT,
                     bind_arguments: Any = None, **kw: Any) -> Any:
        return await self._run(self.sync_session.scalar, statement, params,
                               execution_options=_options(execution_options), bind_arguments=bind_arguments, **kw)

    async def scalars(self, statement: Any, params: Any = None, *, execution_options: Any = util.EMPTY_DICT,
                      bind_arguments: Any = None, **kw: Any) -> Any:
        result = await self.execute(statement, params, execution_options=execution_options,
                                    bind_arguments=bind_arguments, **kw)
        return result.scalars()

    async def get(self, entity: Any, ident: Any, **kw: Any) -> Any:
        return await self._run(self.sync_session.get, entity, ident, **kw)

    async def flush(self, objects: Any = None) -> None:
        await self._run(self.sync_session.flush, objects=objects)

    async def delete(self, instance: object) -> None:
        await self._run(self.sync_session.delete, instance)

    async def refresh(self, instance: object, attribute_names: Any = None, with_for_update: Any = None) -> None:
        await self._run(self.sync_session.refresh, instance, attribute_names=attribute_names,
                        with_for_update=with_for_update)

    async def connection(self, bind_arguments: Any = None, execution_options: Any = None,
                         **kw: Any) -> InlineConnection:
        sync = await self._run(self.sync_session.connection, bind_arguments=bind_arguments,
                               execution_options=execution_options, **kw)
        return InlineConnection._retrieve_proxy_for_target(sync)

    def begin(self) -> InlineSessionTransaction:
        return InlineSessionTransaction(self)

    async def commit(self) -> None:
        await self._before_commit()
        _call(self.sync_session.commit)

    async def rollback(self) -> None:
        _call(self.sync_session.rollback)

    async def close(self) -> None:
        _call(self.sync_session.close)

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        await self.close()  # nothing here waits, so nothing can cancel it halfway (no task needed)


class InlineEngine(AsyncEngine):
    """The asyncio engine of an inline database: its connections are :class:`InlineConnection`,
    and :class:`bot.database.Database` makes its sessions :class:`InlineSession`."""

    _connection_cls = InlineConnection
    session_class = InlineSession

    def __init__(self, sync_engine: Any) -> None:
        super().__init__(sync_engine)
        sync_engine.update_execution_options(compiled_cache=COMPILED)  # shared (see InlineDialect)
